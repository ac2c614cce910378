"""The ops dashboard, health and metrics over real HTTP against the live central."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from central_helpers import log_in, post_form

from central.users import LoginResult, check_login, ensure_ops_user

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def client(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
        yield http


async def test_logged_out_dashboard_redirects_to_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    form = await client.get("/login")
    assert form.status_code == 200 and 'name="password"' in form.text


async def test_a_wrong_password_is_refused(
    client: httpx.AsyncClient, central_server: CentralTestServer
) -> None:
    refused = await log_in(client, central_server.ops_user, "not-it")
    assert refused.status_code == 401 and "Wrong username or password" in refused.text
    assert (await client.get("/")).status_code == 303
    assert (await log_in(client, "nobody", central_server.ops_password)).status_code == 401


async def test_dashboard_shows_devices_sales_heartbeat_and_fork(
    client: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    shop = make_device()
    assert (
        await shop.enroll(client, await central_server.make_code("Café <Zürich>"))
    ).status_code == 201
    shop.sale(1250)
    shop.sale(750)
    shop.sale(300, "USD")
    shop.seal("refund", {"total": {"minor": 100, "currency": "EUR"}})
    assert (await shop.push(client)).json() == {"held_seq": 4}
    beat = await shop.post(
        client,
        "/api/v1/heartbeat",
        {
            "version": "9.8.7",
            "uptime_s": 60,
            "backlog": 17,
            "oldest_unsent_age_s": 125,
            "last_seq": 21,
            "printer": {"online": False, "paper": "out"},
            "clock": int(time.time()),
        },
    )
    assert beat.status_code == 200

    forked = make_device()
    assert (
        await forked.enroll(client, await central_server.make_code("Kiosk 2"))
    ).status_code == 201
    forked.sale(1)
    forked.sale(2)
    await forked.push(client)
    forked.records = forked.records[:1]
    forked.sale(3)
    assert (await forked.push(client)).status_code == 409

    login = await log_in(client, central_server.ops_user, central_server.ops_password)
    assert login.status_code == 303 and login.headers["location"] == "/"
    page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    assert shop.device_id in html and forked.device_id in html
    assert "Café &lt;Zürich&gt;" in html  # escaped
    assert "9.8.7" in html and "offline, paper out" in html
    assert "17 (oldest 2 min old)" in html
    assert "2 EUR" in html and "€20.00" in html  # two sales; the refund is not a sale
    assert "1 USD" in html and "$3.00" in html
    assert "FORK at seq 2" in html and "1 with a journal fork" in html
    shop_row = html[html.index(shop.device_id) :]
    assert '<td class="num">4</td>' in shop_row[:600]  # journal seq held

    logout = await post_form(client, "/", "/logout")
    assert logout.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_healthz_and_metrics(
    client: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200 and health.text == "ok"
    sim = make_device()
    await sim.enroll(client, await central_server.make_code())
    sim.sale(5)
    await sim.push(client)
    await sim.push(client, [], created=0)  # refused: clock skew
    from conftest import METRICS_TOKEN

    assert (await client.get("/metrics")).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await client.get("/metrics", headers=wrong)).status_code == 401
    metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert "bitagora_central_devices 1" in text
    assert "bitagora_central_records_held 1" in text
    assert "bitagora_central_records_ingested_total 1" in text
    assert 'bitagora_central_requests_total{endpoint="journal",outcome="ok"} 1' in text
    assert 'bitagora_central_requests_total{endpoint="journal",outcome="clock_skew"} 1' in text
    assert "# TYPE bitagora_central_requests_total counter" in text
    assert 'bitagora_central_ingest_refused_total{reason="clock_skew"} 1' in text
    # Latency per route template (one series for every device), method and status class.
    assert "# TYPE bitagora_central_request_duration_seconds histogram" in text
    journal = 'method="POST",route="/api/v1/journal"'
    assert f'bitagora_central_request_duration_seconds_count{{{journal},status="2xx"}} 1' in text
    assert f'bitagora_central_request_duration_seconds_count{{{journal},status="4xx"}} 1' in text
    assert (
        f'bitagora_central_request_duration_seconds_bucket{{le="+Inf",{journal},status="2xx"}} 1'
        in text
    )
    assert 'route="/metrics",status="4xx"' in text  # the refused scrapes


async def test_first_start_creates_admin_once(
    central_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = await asyncpg.connect(central_db_url)
    try:
        await conn.execute("DELETE FROM web_users")
        monkeypatch.delenv("BITAGORA_OPS_PASSWORD", raising=False)
        generated = await ensure_ops_user(conn)
        assert generated and len(generated) >= 12
        assert await ensure_ops_user(conn) is None  # already there: nothing new, nothing shown
        pool = await asyncpg.create_pool(central_db_url, min_size=1, max_size=1)
        try:
            assert (await check_login(pool, "admin", generated))[0] is LoginResult.OK
            await conn.execute("DELETE FROM web_users")
            monkeypatch.setenv("BITAGORA_OPS_PASSWORD", "from-env")
            assert await ensure_ops_user(conn) is None  # not random: not printed
            assert (await check_login(pool, "admin", "from-env"))[0] is LoginResult.OK
        finally:
            await pool.close()
    finally:
        await conn.close()
