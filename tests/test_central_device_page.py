"""A device's page over real HTTP against the live central: heartbeat history charted and
capped, the last raw heartbeat escaped, the journal record by record with its verification, the
fork explained and resolved (recorded in the audit log, which refuses changes); and the same
triage in a real Chromium: "needs attention", the forked device's page, resolve."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from browser_helpers import chromium_page
from central_helpers import log_in, post_form
from playwright.async_api import expect

from central import device_history

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def client(central_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return central_client


async def _forked_device(
    client: httpx.AsyncClient, central_server: CentralTestServer, device: SimDevice
) -> None:
    """Enrolled, two sales held, then a different record 2 sent: a fork at seq 2."""
    assert (
        await device.enroll(client, await central_server.make_code("Kiosk <2>"))
    ).status_code == 201
    device.sale(100)
    device.sale(200)
    assert (await device.push(client)).json() == {"held_seq": 2}
    device.records = device.records[:1]
    device.sale(999)
    assert (await device.push(client)).status_code == 409


async def test_device_page_history_journal_and_fork_resolved(
    client: httpx.AsyncClient,
    central_server: CentralTestServer,
    db: asyncpg.Connection,
    make_device: Callable[[], SimDevice],
) -> None:
    device = make_device()
    await _forked_device(client, central_server, device)
    for backlog in (5, 40, 3):
        assert (
            await device.heartbeat(
                client, backlog=backlog, note="<b>raw</b>", doctor={"printer": "fail <paper>"}
            )
        ).status_code == 200
    # A forged record in central's copy: the page shows it failing, the others verified.
    await db.execute(
        'UPDATE journal_records SET body_json = \'{"total":{"minor":1,"currency":"EUR"}}\''
        " WHERE device_id = $1 AND seq = 1",
        device.device_id,
    )
    assert (
        await log_in(client, central_server.ops_user, central_server.ops_password)
    ).status_code == 303

    html = (await client.get(f"/devices/{device.device_id}")).text
    assert "Kiosk &lt;2&gt;" in html and "FORK at seq 2" in html
    assert html.count('class="dot"') == 3 and "Backlog reported by" in html  # the chart
    assert "&lt;b&gt;raw&lt;/b&gt;" in html and "<b>raw</b>" not in html  # escaped JSON
    assert "<h3>Doctor</h3>" in html and "fail &lt;paper&gt;" in html
    rows = re.findall(
        r'<td class="num">(\d+)</td>\s*<td>sale</td>.*?</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>',
        html,
        re.S,
    )
    assert [(seq, chain) for seq, chain, _ in rows] == [("2", "linked"), ("1", "linked")]
    assert rows[0][2] == "verified"
    assert "hash does not match the record&#39;s content" in rows[1][2]
    # The fork explained: held 200 minor units at seq 2, received 999.
    held, received = re.findall(r"<td><pre>(.*?)</pre></td>", html, re.S)[:2]
    assert '"minor": 200' in unescape(held) and '"minor": 999' in unescape(received)
    assert "1 with a journal fork" in (await client.get("/")).text

    refused = await post_form(
        client,
        f"/devices/{device.device_id}",
        f"/devices/{device.device_id}/resolve-fork",
        reason=" ",
    )
    assert "Nothing was changed" in (await client.get(refused.headers["location"])).text
    done = await post_form(
        client,
        f"/devices/{device.device_id}",
        f"/devices/{device.device_id}/resolve-fork",
        reason="old backup restored; records checked",
    )
    assert done.status_code == 303
    html = (await client.get(done.headers["location"])).text
    assert "Fork resolved" in html and "No fork." in html
    assert "old backup restored; records checked" in html and "fork at seq 2" in html
    action = await db.fetchrow("SELECT * FROM audit_log WHERE device_id = $1", device.device_id)
    assert (action["action"], action["actor"], action["target"], action["merchant_id"]) == (
        "device.resolve_fork",
        central_server.ops_user,
        device.device_id,
        None,  # ops' alone, as before the merge into the audit log
    )
    assert (action["detail"], action["reason"]) == (
        "fork at seq 2",
        "old backup restored; records checked",
    )
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("DELETE FROM audit_log WHERE device_id = $1", device.device_id)
    assert (await client.get("/devices/no-such-device")).status_code == 404


async def test_heartbeat_history_keeps_the_last_ones(
    client: httpx.AsyncClient,
    central_server: CentralTestServer,
    db: asyncpg.Connection,
    make_device: Callable[[], SimDevice],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(device_history, "KEEP", 3)
    device = make_device()
    assert (await device.enroll(client, await central_server.make_code())).status_code == 201
    for backlog in range(5):
        assert (await device.heartbeat(client, backlog=backlog)).status_code == 200
    kept = await db.fetch(
        "SELECT backlog FROM device_heartbeats WHERE device_id = $1 ORDER BY at", device.device_id
    )
    assert [row["backlog"] for row in kept] == [2, 3, 4]


async def test_ops_triage_a_fork_in_chromium(
    client: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    healthy, forked = make_device(), make_device()
    assert (await healthy.enroll(client, await central_server.make_code())).status_code == 201
    assert (await healthy.heartbeat(client)).status_code == 200
    await _forked_device(client, central_server, forked)
    assert (await forked.heartbeat(client)).status_code == 200

    async with chromium_page(central_server.base_url) as page:
        await page.goto("/login")
        await page.get_by_label(re.compile("Username|Email")).fill(central_server.ops_user)
        await page.get_by_label("Password").fill(central_server.ops_password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_text("2 devices match")).to_be_visible()

        await page.get_by_label("Needs attention").check()
        await page.get_by_role("button", name="Show").click()
        await expect(page.get_by_text("1 device match")).to_be_visible()
        await expect(page.get_by_role("link", name=healthy.device_id)).to_have_count(0)
        await page.get_by_role("link", name=forked.device_id).click()

        await expect(page.get_by_text("FORK at seq 2").first).to_be_visible()
        await page.get_by_label("Why it is resolved").fill("checked with the shop")
        await page.get_by_role("button", name="Resolve the fork").click()
        await expect(page.get_by_role("status")).to_contain_text("Fork resolved")
        await expect(page.get_by_role("cell", name="checked with the shop")).to_be_visible()
        await page.get_by_role("link", name="All devices").click()
        await page.get_by_label("Needs attention").check()
        await page.get_by_role("button", name="Show").click()
        await expect(page.get_by_text("0 devices match")).to_be_visible()
