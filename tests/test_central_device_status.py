"""A device's status and its cause from its row and central's clock (central/device_status.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx

from central.device_status import device_status

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _row(
    silent_s: int | None,
    beat: dict[str, Any] | None = None,
    refused: str | None = None,
    heartbeat_s: int = 30,
) -> dict[str, Any]:
    return {
        "last_seen_at": None if silent_s is None else NOW - timedelta(seconds=silent_s),
        "heartbeat_s": heartbeat_s,
        "last_heartbeat": None if beat is None else json.dumps(beat),
        "uplink_refused": refused,
    }


def test_online_late_offline_follow_the_default_interval() -> None:
    assert device_status(_row(39), NOW).state == "online"  # 30 s + 10 s grace
    late = device_status(_row(40), NOW)
    assert (late.state, late.cause) == ("late", "silent for 40 s: 1 heartbeats missed (every 30 s)")
    assert device_status(_row(69), NOW).state == "late"
    assert device_status(_row(70), NOW).state == "offline"
    never = device_status(_row(None), NOW)
    assert (never.state, never.cause, never.uplink) == (
        "offline",
        "has never sent a heartbeat",
        "unknown",
    )


def test_the_interval_the_device_reports_is_the_yardstick() -> None:
    # devices.heartbeat_s: what the device's heartbeats report (central/heartbeat.py keeps it)
    assert device_status(_row(309, heartbeat_s=300), NOW).state == "online"
    assert device_status(_row(400, heartbeat_s=300), NOW).state == "late"
    assert device_status(_row(610, heartbeat_s=300), NOW).state == "offline"


def test_the_uplinks_own_view_and_why() -> None:
    halted = {"uplink": {"state": "halted", "problem": {"error": "fork", "seq": 7}}}
    assert device_status(_row(1, halted), NOW).uplink_cause == "stopped pushing: fork"
    refused = device_status(
        _row(1, {"uplink": {"state": "refused"}}, refused="HTTP 400 invalid_value"), NOW
    )
    assert (refused.uplink, refused.uplink_cause) == (
        "refused",
        "central refuses a batch: HTTP 400 invalid_value",
    )
    retrying = {"uplink": {"state": "retrying", "last_error": "ConnectError"}}
    assert device_status(_row(1, retrying), NOW).uplink_cause == "retrying: ConnectError"
    ok = device_status(_row(1, {"uplink": {"state": "ok"}}), NOW)
    assert (ok.state, ok.uplink, ok.uplink_cause) == ("online", "ok", "")


async def test_central_keeps_the_interval_a_heartbeat_reports(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    till = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        assert (await till.enroll(client, await central_server.make_code())).status_code == 201
        assert (await till.heartbeat(client)).status_code == 200  # an earlier release: no field
        interval = "SELECT heartbeat_s FROM devices"
        assert await db.fetchval(interval) == 30
        assert (await till.heartbeat(client, heartbeat_s=300)).status_code == 200
        assert await db.fetchval(interval) == 300
        for wrong in (0, True, 10**6):
            refused = await till.heartbeat(client, heartbeat_s=wrong)
            assert (refused.status_code, refused.json()["error"]) == (400, "malformed")
        assert await db.fetchval(interval) == 300
