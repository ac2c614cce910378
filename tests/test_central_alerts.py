"""Fleet alerts over real HTTP on a real PostgreSQL, with central's clock moved by the test: a
device that goes silent is raised as offline by the periodic evaluation, notified once to a real
webhook receiver and a real SMTP server (aiosmtpd), acknowledged through the Alerts page (its
CSRF token; also in a real Chromium), and resolved by its next heartbeat; heartbeat conditions
raise and clear with the heartbeats; per-merchant thresholds override the fleet's; failed
deliveries are retried with backoff and each channel keeps its rate."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from typing import Any

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from browser_helpers import chromium_page
from central_helpers import log_in, post_form
from conftest import METRICS_TOKEN, OPS_PASSWORD, SimDevice
from http_helpers import serve
from playwright.async_api import expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central import alerts, notify
from central.app import create_app
from central.enroll import create_code
from central.web_settings import WebSettings

pytestmark = pytest.mark.timeout(60)


class Fleet:
    def __init__(self, base_url: str, database_url: str, now: list[float]) -> None:
        self.base_url, self.database_url, self.now = base_url, database_url, now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now[0], UTC)

    async def evaluate(self) -> tuple[int, int]:
        """The periodic evaluation, run at central's clock."""
        conn = await asyncpg.connect(self.database_url)
        try:
            return await alerts.evaluate(conn, self.at())
        finally:
            await conn.close()

    async def rows(self, query: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()


@pytest.fixture
async def fleet(central_db_url: str) -> AsyncIterator[Fleet]:
    now = [time.time()]  # within the devices' signature window; moved by hand from here
    app = create_app(
        central_db_url,
        "session-secret",
        ops_password=OPS_PASSWORD,
        clock=lambda: now[0],
        web=WebSettings(metrics_token=METRICS_TOKEN),
    )
    async with serve(app) as base_url:
        yield Fleet(base_url, central_db_url, now)


@dataclass
class Receiver:
    """A webhook receiver: keeps each JSON body; answers 500 while ``failing`` > 0."""

    url: str = ""
    bodies: list[Any] = field(default_factory=list)
    failing: int = 0


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    async def hook(request: Request) -> Response:
        if got.failing:
            got.failing -= 1
            return Response("down", status_code=500)
        got.bodies.append(await request.json())
        return Response("ok")

    async with serve(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base_url:
        got.url = f"{base_url}/hook"
        yield got


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.messages.append(message_from_bytes(envelope.content or b"", policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


async def _deliver(fleet: Fleet, channels: list[notify.Channel], rate: int = 30) -> int:
    pool = await asyncpg.create_pool(fleet.database_url, min_size=1, max_size=2)
    try:
        return await notify.deliver(pool, channels, rate, fleet.at())
    finally:
        await pool.close()


async def _enrolled(fleet: Fleet, http: httpx.AsyncClient, device: SimDevice) -> None:
    conn = await asyncpg.connect(fleet.database_url)
    try:
        code = await create_code(conn, "Test Shop")
    finally:
        await conn.close()
    assert (await device.enroll(http, code)).status_code == 201


async def _beat(fleet: Fleet, http: httpx.AsyncClient, device: SimDevice, **fields: object):
    at = int(fleet.now[0])
    response = await device.post(
        http,
        "/api/v1/heartbeat",
        {
            "version": "test-1.0",
            "uptime_s": 60,
            "backlog": 0,
            "oldest_unsent_age_s": None,
            "last_seq": 0,
            "head": device.head(),
            "printer": {"online": True, "paper": "ok"},
            "clock": at,
            "heartbeat_s": 30,
            **fields,
        },
        created=at,
    )
    assert response.status_code == 200, response.text


async def test_silent_device_alert_notified_acknowledged_then_resolved(
    fleet: Fleet,
    make_device: Callable[[], SimDevice],
    receiver: Receiver,
    smtp: tuple[Mailbox, int],
) -> None:
    mailbox, port = smtp
    channels: list[notify.Channel] = [
        notify.Webhook(receiver.url),
        notify.Email("127.0.0.1", port, "central@example.org", ("ops@example.org",)),
    ]
    device = make_device()
    async with httpx.AsyncClient(base_url=fleet.base_url, timeout=10) as http:
        await _enrolled(fleet, http, device)
        await _beat(fleet, http, device)
        fleet.now[0] += 45  # one heartbeat missed: late, not yet an alert
        assert await fleet.evaluate() == (0, 0)
        fleet.now[0] += 30  # 75 s silent: two missed, offline past the 60 s threshold
        assert await fleet.evaluate() == (1, 0)
        assert await fleet.evaluate() == (0, 0)  # still open: not raised twice
        (alert,) = await fleet.rows("SELECT * FROM alerts")
        assert (alert["device_id"], alert["kind"], alert["resolved_at"]) == (
            device.device_id,
            "offline",
            None,
        )
        assert "2 heartbeats missed" in alert["detail"]
        metrics = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert 'bitagora_central_devices_by_status{status="offline"} 1' in metrics.text
        assert 'bitagora_central_alerts_open{kind="offline"} 1' in metrics.text
        assert "bitagora_central_alerts_unacknowledged 1" in metrics.text
        assert await _deliver(fleet, channels) == 2
        assert await _deliver(fleet, channels) == 0  # once per state change and channel
        (body,) = receiver.bodies
        assert body["text"].startswith(f"[BitAgora] alert raised: offline on {device.device_id}")
        assert (body["alert"]["kind"], body["alert"]["event"]) == ("offline", "raised")
        (mail,) = mailbox.messages
        assert mail["Subject"] == body["text"][:200] and mail["To"] == "ops@example.org"

        assert (await log_in(http, "admin", OPS_PASSWORD)).status_code == 303
        page = await http.get("/alerts")
        assert device.device_id in page.text and "Acknowledge" in page.text
        refused = await http.post("/alerts/acknowledge", data={"alert": str(alert["id"])})
        assert refused.status_code == 403  # no CSRF token
        done = await post_form(http, "/alerts", "/alerts/acknowledge", alert=str(alert["id"]))
        assert done.status_code == 303
        (acked,) = await fleet.rows("SELECT * FROM alerts")
        assert (acked["acknowledged_by"], acked["acknowledged_at"]) == ("admin", fleet.at())
        (audit,) = await fleet.rows("SELECT * FROM audit_log WHERE action = 'alert.acknowledge'")
        assert (audit["actor"], audit["target"]) == ("admin", f"alert {alert['id']}")
        assert "Acknowledge</button>" not in (await http.get("/alerts")).text
        assert await _deliver(fleet, channels) == 2
        assert receiver.bodies[-1]["alert"]["event"] == "acknowledged"

        fleet.now[0] += 5
        await _beat(fleet, http, device)  # back: the heartbeat's own evaluation resolves it
        (resolved,) = await fleet.rows("SELECT * FROM alerts")
        assert resolved["resolved_at"] == fleet.at()
        assert device.device_id not in (await http.get("/alerts")).text
        assert device.device_id in (await http.get("/alerts?state=resolved")).text
        assert await _deliver(fleet, channels) == 2
        events = [b["alert"]["event"] for b in receiver.bodies]
        assert events == ["raised", "acknowledged", "resolved"]
        assert [m["Subject"].split(":")[0] for m in mailbox.messages] == [
            "[BitAgora] alert raised",
            "[BitAgora] alert acknowledged",
            "[BitAgora] alert resolved",
        ]


async def _set_threshold(http: httpx.AsyncClient, **fields: str) -> httpx.Response:
    response = await post_form(http, "/alerts/thresholds", "/alerts/thresholds", **fields)
    assert response.status_code == 303
    return response


async def test_heartbeat_conditions_raise_and_clear_with_per_merchant_thresholds(
    fleet: Fleet, make_device: Callable[[], SimDevice]
) -> None:
    device = make_device()
    async with httpx.AsyncClient(base_url=fleet.base_url, timeout=10) as http:
        await _enrolled(fleet, http, device)
        await _beat(
            fleet,
            http,
            device,
            backlog=1500,
            printer={"online": True, "paper": "out"},
            drawer={"open": True, "open_too_long": True},
            disk={"free_bytes": 5, "total_bytes": 100},
            temperature_c=81.5,
            throttled=0x50005,  # under-voltage and throttled now; 0x50000: since boot
            payments={"rates": None, "lightning": "node unreachable: connection refused"},
            clock=int(fleet.now[0]) + 600,
            uplink={"state": "halted", "problem": {"error": "fork", "seq": 3}},
        )
        kinds = {r["kind"]: r["detail"] for r in await fleet.rows("SELECT * FROM alerts")}
        assert kinds == {
            "backlog": "1500 records not yet sent",
            "printer": "printer out of paper",
            "drawer_open": "cash drawer open too long",
            "disk_low": "5% of the data disk free (0 MB)",
            "temperature": "SoC at 81.5 °C",
            "throttled": "under-voltage (check the power supply), CPU throttled",
            "payments": "lightning: node unreachable: connection refused",
            "clock_offset": "device clock +600 s off central's",
            "chain_fault": "stopped pushing: fork",
        }
        # Ops set them on the thresholds page: the merchant tolerates a bigger backlog than
        # the fleet (100); the fleet sets 70 °C, then 85 °C; a value set and cleared is gone.
        assert (await log_in(http, "admin", OPS_PASSWORD)).status_code == 303
        (shop,) = await fleet.rows("SELECT id FROM merchants WHERE name = 'Test Shop'")
        for merchant, name, value in [
            (str(shop["id"]), "backlog_records", "2000"),
            ("", "temperature_c", "70"),
            ("", "backlog_records", "100"),
            ("", "temperature_c", "85"),
            ("", "clock_offset_s", "5"),
            ("", "clock_offset_s", ""),
        ]:
            done = await _set_threshold(http, merchant=merchant, name=name, value=value)
            assert done.headers["location"] == "/alerts/thresholds"
        for wrong, why in [
            ({"name": "backlog_records", "value": "-1"}, "must be a whole number"),
            ({"name": "no_such", "value": "1"}, "no threshold"),
            ({"name": "offline_s", "value": "1", "merchant": "999999"}, "no such merchant"),
        ]:
            refused = await _set_threshold(http, **{"merchant": "", **wrong})
            shown = await http.get(refused.headers["location"])
            assert why in shown.text
        set_ = await fleet.rows(
            "SELECT merchant_id, name, value FROM alert_thresholds ORDER BY merchant_id, name"
        )
        assert [tuple(r) for r in set_] == [
            (shop["id"], "backlog_records", 2000),
            (None, "backlog_records", 100),
            (None, "temperature_c", 85),
        ]
        page = (await http.get("/alerts/thresholds")).text
        assert "Test Shop" in page and ">85<" in page
        audit = await fleet.rows(
            "SELECT target, detail FROM audit_log WHERE action = 'alert.threshold' ORDER BY id"
        )
        assert [tuple(r) for r in audit][-2:] == [
            ("fleet", "clock_offset_s = 5"),
            ("fleet", "clock_offset_s cleared"),
        ]
        await _beat(fleet, http, device, backlog=1500, temperature_c=81.5, throttled=0x50000)
        assert await fleet.rows("SELECT kind FROM alerts WHERE resolved_at IS NULL") == []
        assert len(await fleet.rows("SELECT * FROM alerts WHERE resolved_at IS NOT NULL")) == 9
        cover = {"online": False, "paper": "ok", "cover_open": True}
        await _beat(fleet, http, device, printer=cover)
        open_ = await fleet.rows("SELECT kind, detail FROM alerts WHERE resolved_at IS NULL")
        assert [tuple(r) for r in open_] == [("printer", "printer cover open")]
        await _beat(fleet, http, device)
        assert await fleet.rows("SELECT kind FROM alerts WHERE resolved_at IS NULL") == []


async def test_failed_deliveries_are_retried_and_each_channel_keeps_its_rate(
    fleet: Fleet, make_device: Callable[[], SimDevice], receiver: Receiver
) -> None:
    device = make_device()
    channels: list[notify.Channel] = [notify.Webhook(receiver.url)]
    async with httpx.AsyncClient(base_url=fleet.base_url, timeout=10) as http:
        await _enrolled(fleet, http, device)
        await _beat(fleet, http, device, backlog=5000, temperature_c=90, clock=0)
    receiver.failing = 1
    assert await _deliver(fleet, channels, rate=2) == 1  # the first failed, the second went
    (failed,) = await fleet.rows("SELECT * FROM alert_deliveries WHERE delivered_at IS NULL")
    assert failed["attempts"] == 1 and "500" in failed["last_error"]
    assert await _deliver(fleet, channels, rate=2) == 1  # the third, not the failed one yet
    fleet.now[0] += 30
    assert await _deliver(fleet, channels, rate=2) == 0  # due for a retry, but the hour's 2 went
    fleet.now[0] += 3600
    assert await _deliver(fleet, channels, rate=2) == 1  # the retry
    kinds = sorted(b["alert"]["kind"] for b in receiver.bodies)
    assert kinds == ["backlog", "clock_offset", "temperature"]
    assert await fleet.rows("SELECT * FROM alert_deliveries WHERE delivered_at IS NULL") == []


async def test_a_fork_on_ingest_raises_a_chain_fault_at_once(
    fleet: Fleet, make_device: Callable[[], SimDevice]
) -> None:
    device = make_device()
    async with httpx.AsyncClient(base_url=fleet.base_url, timeout=10) as http:
        await _enrolled(fleet, http, device)
        device.sale(100)
        assert (await device.push(http)).status_code == 200
        device.records.clear()
        device.sale(999)  # another record for seq 1: a fork
        assert (await device.push(http)).json()["error"] == "fork"
    (alert,) = await fleet.rows("SELECT kind, detail FROM alerts WHERE resolved_at IS NULL")
    assert tuple(alert) == ("chain_fault", "journal fork at seq 1")


async def test_ops_see_a_silent_device_raised_and_acknowledge_it_in_chromium(
    fleet: Fleet, make_device: Callable[[], SimDevice]
) -> None:
    """What ops do at a browser: the device goes silent (central's clock moved past two missed
    heartbeats and the offline threshold), the fleet page says offline with its cause, the
    Alerts page lists it, Acknowledge records who did it."""
    device = make_device()
    async with httpx.AsyncClient(base_url=fleet.base_url, timeout=10) as http:
        await _enrolled(fleet, http, device)
        await _beat(fleet, http, device)
    fleet.now[0] += 75
    assert await fleet.evaluate() == (1, 0)

    async with chromium_page(fleet.base_url) as page:
        await page.goto("/login")
        await page.get_by_label(re.compile("Username|Email")).fill("admin")
        await page.get_by_label("Password").fill(OPS_PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        fleet_row = page.get_by_role("row").filter(has_text=device.device_id)
        await expect(fleet_row).to_contain_text("offline")
        await expect(fleet_row).to_contain_text("2 heartbeats missed")

        await page.goto("/alerts")
        alert_row = page.get_by_role("row").filter(has_text=device.device_id)
        await expect(alert_row).to_contain_text("offline")
        await expect(alert_row).to_contain_text("open")
        await alert_row.get_by_role("button", name="Acknowledge").click()
        await expect(page).to_have_url(re.compile(r"/alerts$"))
        acknowledged = page.get_by_role("row").filter(has_text=device.device_id)
        await expect(acknowledged).to_contain_text(f"admin, {fleet.at():%Y-%m-%d %H:%M:%S}")
        await expect(acknowledged.get_by_role("button", name="Acknowledge")).to_have_count(0)
    (alert,) = await fleet.rows("SELECT acknowledged_by FROM alerts")
    assert alert["acknowledged_by"] == "admin"


async def test_ops_pages_show_stored_english_words_in_the_pages_language(
    fleet: Fleet, make_device: Callable[[], SimDevice]
) -> None:
    """Alert kinds, their details in fixed words and device states are stored in English and
    shown translated (central/stored_words.py); a detail with figures in it is shown as stored."""
    device = make_device()
    async with httpx.AsyncClient(
        base_url=fleet.base_url, timeout=10, headers={"Accept-Language": "es"}
    ) as http:
        await _enrolled(fleet, http, device)
        await _beat(
            fleet,
            http,
            device,
            printer={"online": True, "paper": "out"},
            drawer={"open": True, "open_too_long": True},
            temperature_c=81.5,
        )
        assert (await log_in(http, "admin", OPS_PASSWORD)).status_code == 303
        alerts_page = (await http.get("/alerts")).text
        fleet_page = (await http.get("/")).text
    for words in (
        '<span class="fork">impresora</span></td>\n      <td>impresora sin papel</td>',
        "<td>cajón de efectivo abierto demasiado tiempo</td>",
        "<td>SoC at 81.5 °C</td>",
        '<option value="drawer_open">cajón abierto</option>',
    ):
        assert words in alerts_page
    assert '<option value="late">con retraso</option>' in fleet_page
    assert "conectado: " in fleet_page
    stored = {r["kind"]: r["detail"] for r in await fleet.rows("SELECT kind, detail FROM alerts")}
    assert stored["printer"] == "printer out of paper"
