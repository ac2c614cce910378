"""A device's status and its cause from its row and central's clock (central/device_status.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from central.device_status import device_status

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _row(silent_s: int | None, beat: dict[str, Any] | None = None, refused: str | None = None):
    return {
        "last_seen_at": None if silent_s is None else NOW - timedelta(seconds=silent_s),
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
    beat = {"heartbeat_s": 300}
    assert device_status(_row(309, beat), NOW).state == "online"
    assert device_status(_row(400, beat), NOW).state == "late"
    assert device_status(_row(610, beat), NOW).state == "offline"
    assert device_status(_row(70, {"heartbeat_s": True}), NOW).state == "offline"  # not an int


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
