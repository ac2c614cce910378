"""A device's status with its cause, from its row and central's clock: what the fleet page, the
device page, the metrics and the alerts all show, so that they never disagree.

Liveness comes from the heartbeat interval the device reports (``heartbeat_s``, PROTOCOL 2.4,
kept in ``devices.heartbeat_s``; 30 s, the device's default, until it says). A device is *late*
once one heartbeat is missed and *offline* once two are, each plus ``GRACE_S`` for the network
and the device's own timing; never seen is offline. ``status_sql`` is the same rule as a column
expression, for filtering and counting in PostgreSQL. The uplink's own view comes from its last
heartbeat's ``uplink`` part: halted on a fork or an invalid chain, refused for good by central,
retrying after errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GRACE_S = 10
LATE_AFTER_MISSED = 1
OFFLINE_AFTER_MISSED = 2
STATUSES = ("online", "late", "offline")


@dataclass(frozen=True)
class DeviceStatus:
    state: str  # one of STATUSES
    cause: str  # why, in words for ops
    uplink: str  # the uplink's own state: "ok", "retrying", "refused", "halted" or "unknown"
    uplink_cause: str  # what it reports about that state, or ""


def last_heartbeat(row: Mapping[str, Any]) -> dict[str, Any]:
    """The device's last heartbeat as sent (empty when none or unreadable)."""
    try:
        data = json.loads(row["last_heartbeat"] or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _liveness(row: Mapping[str, Any], now: datetime) -> tuple[str, str]:
    seen = row["last_seen_at"]
    if seen is None:
        return "offline", "has never sent a heartbeat"
    every = row["heartbeat_s"]
    silent = int((now - seen).total_seconds())
    missed = max(0, silent - GRACE_S) // every
    if missed < LATE_AFTER_MISSED:
        return "online", f"heartbeat {silent} s ago (every {every} s)"
    state = "late" if missed < OFFLINE_AFTER_MISSED else "offline"
    return state, f"silent for {silent} s: {missed} heartbeats missed (every {every} s)"


def status_of(row: Mapping[str, Any], now: datetime) -> str:
    """``row`` needs ``last_seen_at`` and ``heartbeat_s``."""
    return _liveness(row, now)[0]


def status_sql(now: str) -> str:
    """``status_of`` as a column expression on ``devices d``; ``now`` names the parameter."""

    def missed(count: int) -> str:
        return (
            f"d.last_seen_at <= {now}::timestamptz"
            f" - make_interval(secs => {count} * d.heartbeat_s + {GRACE_S})"
        )

    return (
        f"CASE WHEN d.last_seen_at IS NULL OR {missed(OFFLINE_AFTER_MISSED)} THEN 'offline'"
        f" WHEN {missed(LATE_AFTER_MISSED)} THEN 'late' ELSE 'online' END"
    )


def _uplink(row: Mapping[str, Any], beat: Mapping[str, Any]) -> tuple[str, str]:
    uplink = beat.get("uplink")
    if not isinstance(uplink, dict) or not isinstance(uplink.get("state"), str):
        return "unknown", ""
    state = uplink["state"][:20]
    if state == "halted":
        problem = uplink.get("problem")
        words = problem.get("error") if isinstance(problem, dict) else None
        return state, f"stopped pushing: {words or 'chain problem'}"
    if state == "refused":
        return state, f"central refuses a batch: {row['uplink_refused'] or 'permanently'}"
    if state == "retrying":
        return state, f"retrying: {str(uplink.get('last_error') or 'unknown error')[:200]}"
    return state, ""


def device_status(row: Mapping[str, Any], now: datetime) -> DeviceStatus:
    """``row`` needs ``last_seen_at``, ``heartbeat_s``, ``last_heartbeat`` and
    ``uplink_refused``; ``now`` is central's clock (``Central.now``)."""
    state, cause = _liveness(row, now)
    uplink, uplink_cause = _uplink(row, last_heartbeat(row))
    return DeviceStatus(state, cause, uplink, uplink_cause)
