"""Prometheus text exposition: request counters kept in process, fleet gauges read at scrape.

The format is small enough to write by hand (text format 0.0.4), which keeps central free of a
metrics dependency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

import asyncpg

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SILENT_AFTER = timedelta(minutes=10)

_HELP = {
    "bitagora_central_requests_total": ("counter", "Device API requests by endpoint and outcome."),
    "bitagora_central_records_ingested_total": ("counter", "Journal records stored."),
    "bitagora_central_devices": ("gauge", "Enrolled devices."),
    "bitagora_central_devices_forked": ("gauge", "Devices flagged with a journal fork."),
    "bitagora_central_devices_silent": (
        "gauge",
        f"Devices without a heartbeat for {int(SILENT_AFTER.total_seconds())} s.",
    ),
    "bitagora_central_records_held": ("gauge", "Journal records held, all devices."),
    "bitagora_central_backlog_records": ("gauge", "Unsent records reported by heartbeats."),
}


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + ",".join(escaped) + "}"


class Metrics:
    """In-process counters; one instance per app."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        self._counts[(name, tuple(sorted(labels.items())))] += amount

    def value(self, name: str, **labels: str) -> int:
        return self._counts[(name, tuple(sorted(labels.items())))]

    async def render(self, pool: asyncpg.Pool, now: datetime) -> str:
        row = await pool.fetchrow(
            "SELECT count(*) AS devices,"
            " count(*) FILTER (WHERE forked_at IS NOT NULL) AS forked,"
            " count(*) FILTER (WHERE last_seen_at IS NULL OR last_seen_at < $1) AS silent,"
            " coalesce(sum(held_seq), 0) AS held,"
            " coalesce(sum(backlog), 0) AS backlog FROM devices",
            now - SILENT_AFTER,
        )
        samples: list[tuple[str, dict[str, str], int]] = [
            ("bitagora_central_devices", {}, row["devices"]),
            ("bitagora_central_devices_forked", {}, row["forked"]),
            ("bitagora_central_devices_silent", {}, row["silent"]),
            ("bitagora_central_records_held", {}, int(row["held"])),
            ("bitagora_central_backlog_records", {}, int(row["backlog"])),
        ]
        for (counter, label_items), count in sorted(self._counts.items()):
            samples.append((counter, dict(label_items), count))
        if not self.value("bitagora_central_records_ingested_total"):
            samples.append(("bitagora_central_records_ingested_total", {}, 0))
        lines: list[str] = []
        described: set[str] = set()
        for name, labels, value in samples:
            if name not in described and name in _HELP:
                kind, text = _HELP[name]
                lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}"]
                described.add(name)
            lines.append(f"{name}{_labels(labels)} {value}")
        return "\n".join(lines) + "\n"
