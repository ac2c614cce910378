"""Which alerts a device's row calls for, and their thresholds: pure rules, no I/O.

``conditions`` maps each alert kind whose condition holds to its detail in words; the kinds are
``KINDS``. Thresholds have built-in defaults (``DEFAULTS``), which the fleet and each merchant
may override (table ``alert_thresholds``, docs/OPERATIONS.md "Alerts").
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from central.device_status import device_status, last_heartbeat
from central.i18n import N_

KINDS = (
    "offline",
    "backlog",
    "chain_fault",
    "refused",
    "printer",
    "payments",
    "drawer_open",
    "disk_low",
    "temperature",
    "throttled",
    "clock_offset",
    "update",
)

# Details in fixed words: stored in English, shown in the page's language (central/stored_words.py).
PAPER_OUT = N_("printer out of paper")
COVER_OPEN = N_("printer cover open")
PRINTER_OFFLINE = N_("printer offline")
DRAWER_OPEN = N_("cash drawer open too long")
FIXED_DETAILS = frozenset({PAPER_OUT, COVER_OPEN, PRINTER_OFFLINE, DRAWER_OPEN})

DEFAULTS: dict[str, int] = {
    "offline_s": 60,  # offline (two missed heartbeats) and silent at least this long
    "backlog_records": 1000,
    "backlog_age_s": 900,  # the oldest unsent record
    "disk_free_pct": 10,
    "temperature_c": 80,  # a Raspberry Pi throttles its CPU from 80 °C
    "clock_offset_s": 120,
}


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _disk_low(beat: Mapping[str, Any], pct: int) -> str | None:
    disk = beat.get("disk")
    if not isinstance(disk, dict):
        return None
    free, total = _number(disk.get("free_bytes")), _number(disk.get("total_bytes"))
    if free is None or not total or free * 100 >= total * pct:
        return None
    return f"{free / total:.0%} of the data disk free ({int(free) // 1_000_000} MB)"


# A Raspberry Pi's throttled flags (bits 0-3 hold now; bits 16-19 the same since boot).
_THROTTLED_NOW = {
    0x1: "under-voltage (check the power supply)",
    0x2: "CPU frequency capped",
    0x4: "CPU throttled",
    0x8: "soft temperature limit",
}


def _throttled(beat: Mapping[str, Any]) -> str | None:
    flags = beat.get("throttled")
    if not isinstance(flags, int) or isinstance(flags, bool):
        return None
    now = [words for bit, words in _THROTTLED_NOW.items() if flags & bit]
    return ", ".join(now) if now else None


def _payments(beat: Mapping[str, Any]) -> str | None:
    """The payment services the device reports trouble with (``payments``: name → words)."""
    services = beat.get("payments")
    if not isinstance(services, dict):
        return None
    trouble = [f"{name}: {words}" for name, words in services.items() if isinstance(words, str)]
    return "; ".join(sorted(trouble)) or None


def conditions(
    row: Mapping[str, Any], thresholds: Mapping[str, int], now: datetime
) -> dict[str, str]:
    """The alerts ``row`` (a ``devices`` row) calls for at ``now``: kind → detail."""
    found: dict[str, str] = {}
    beat = last_heartbeat(row)
    status = device_status(row, now)
    seen = row["last_seen_at"]
    silent = None if seen is None else (now - seen).total_seconds()
    if status.state == "offline" and silent is not None and silent >= thresholds["offline_s"]:
        found["offline"] = status.cause
    backlog, oldest = row["backlog"], row["oldest_unsent_age_s"]
    if backlog is not None and backlog > thresholds["backlog_records"]:
        found["backlog"] = f"{backlog} records not yet sent"
    elif oldest is not None and oldest > thresholds["backlog_age_s"]:
        found["backlog"] = f"oldest unsent record {oldest} s old"
    if row["forked_at"] is not None:
        found["chain_fault"] = f"journal fork at seq {row['fork_seq']}"
    elif status.uplink == "halted":
        found["chain_fault"] = status.uplink_cause
    if row["uplink_refused"]:
        found["refused"] = f"central refuses a batch for good: {row['uplink_refused']}"
    if row["printer_paper"] == "out":
        found["printer"] = PAPER_OUT
    elif isinstance(printer := beat.get("printer"), dict) and printer.get("cover_open") is True:
        found["printer"] = COVER_OPEN
    elif row["printer_online"] is False:
        found["printer"] = PRINTER_OFFLINE
    payments = _payments(beat)
    if payments:
        found["payments"] = payments
    drawer = beat.get("drawer")
    if isinstance(drawer, dict) and drawer.get("open_too_long") is True:
        found["drawer_open"] = DRAWER_OPEN
    disk = _disk_low(beat, thresholds["disk_free_pct"])
    if disk:
        found["disk_low"] = disk
    temperature = _number(beat.get("temperature_c"))
    if temperature is not None and temperature >= thresholds["temperature_c"]:
        found["temperature"] = f"SoC at {temperature} °C"
    throttled = _throttled(beat)
    if throttled:
        found["throttled"] = throttled
    offset = row["clock_offset_s"]
    if offset is not None and abs(offset) > thresholds["clock_offset_s"]:
        found["clock_offset"] = f"device clock {offset:+d} s off central's"
    if row["update_problem"]:  # until an update succeeds (central/rollouts.py)
        found["update"] = row["update_problem"]
    return {kind: detail[:500] for kind, detail in found.items()}
