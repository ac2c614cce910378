"""A device's status with its cause, from its row and central's clock: what the pages and the
alerts both show, so that they never disagree.

Liveness comes from the heartbeat interval: the one the device reports (``heartbeat_s``,
PROTOCOL 2.4), else ``DEFAULT_HEARTBEAT_S`` (the device's default). A device is *late* once one
heartbeat is missed and *offline* once two are (plus ``GRACE_S`` for the network and the
device's own timing). The uplink's own view comes from its last heartbeat's ``uplink`` part:
halted on a fork or an invalid chain, refused for good by central, retrying after errors.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DEFAULT_HEARTBEAT_S = 30
GRACE_S = 10


@dataclass(frozen=True)
class DeviceStatus:
    state: str  # "online", "late" or "offline"
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


def interval_s(beat: Mapping[str, Any]) -> int:
    reported = beat.get("heartbeat_s")
    if isinstance(reported, int) and not isinstance(reported, bool) and reported >= 1:
        return reported
    return DEFAULT_HEARTBEAT_S


def _liveness(row: Mapping[str, Any], beat: Mapping[str, Any], now: datetime) -> tuple[str, str]:
    seen = row["last_seen_at"]
    if seen is None:
        return "offline", "has never sent a heartbeat"
    every = interval_s(beat)
    silent = int((now - seen).total_seconds())
    missed = max(0, silent - GRACE_S) // every
    if missed == 0:
        return "online", f"heartbeat {silent} s ago (every {every} s)"
    state = "late" if missed == 1 else "offline"
    return state, f"silent for {silent} s: {missed} heartbeats missed (every {every} s)"


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
    """``row`` needs ``last_seen_at``, ``last_heartbeat`` and ``uplink_refused``; ``now`` is
    central's clock (``Central.now``)."""
    beat = last_heartbeat(row)
    state, cause = _liveness(row, beat, now)
    uplink, uplink_cause = _uplink(row, beat)
    return DeviceStatus(state, cause, uplink, uplink_cause)
