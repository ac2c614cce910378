"""A device's status from its heartbeats: online, late (one heartbeat missed) or offline (two
missed, or never seen), counted in the device's own interval (``devices.heartbeat_s``).
``status_sql`` is the same rule as a column expression, for filtering and counting in
PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

LATE_AFTER_MISSED = 1
OFFLINE_AFTER_MISSED = 2
STATUSES = ("online", "late", "offline")


def status_of(row: Mapping[str, Any], now: datetime) -> str:
    seen = row["last_seen_at"]
    if seen is None:
        return "offline"
    missed = (now - seen).total_seconds() / row["heartbeat_s"]
    if missed > OFFLINE_AFTER_MISSED:
        return "offline"
    return "late" if missed > LATE_AFTER_MISSED else "online"


def status_sql(now: str) -> str:
    """``status_of`` as a column expression on ``devices d``; ``now`` names the parameter."""
    return (
        f"CASE WHEN d.last_seen_at IS NULL OR d.last_seen_at < {now}::timestamptz"
        f" - make_interval(secs => {OFFLINE_AFTER_MISSED} * d.heartbeat_s) THEN 'offline'"
        f" WHEN d.last_seen_at < {now}::timestamptz"
        f" - make_interval(secs => {LATE_AFTER_MISSED} * d.heartbeat_s) THEN 'late'"
        " ELSE 'online' END"
    )
