"""Prometheus text exposition: request counters and latency histograms kept in process, fleet
gauges read at scrape.

The format is small enough to write by hand (text format 0.0.4), which keeps central free of a
metrics dependency. ``RequestTimer`` observes every request's latency under its route's
template (``/devices/{device_id}/journal.jsonl``, never the path itself: one series per route,
however many devices), its method and its status class.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.alert_rules import KINDS
from central.device_status import device_status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SILENT_AFTER = timedelta(minutes=10)
REQUEST_SECONDS = "bitagora_central_request_duration_seconds"
# Upper bounds, in seconds: a page or a push within 5 ms … 10 s (an import of 50,000 products).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_HELP = {
    "bitagora_central_requests_total": ("counter", "Device API requests by endpoint and outcome."),
    "bitagora_central_records_ingested_total": ("counter", "Journal records stored."),
    "bitagora_central_ingest_refused_total": (
        "counter",
        "Journal pushes refused, by reason (the error code the device was answered).",
    ),
    REQUEST_SECONDS: ("histogram", "Time to answer a request, by route, method and status class."),
    "bitagora_central_devices": ("gauge", "Enrolled devices."),
    "bitagora_central_devices_forked": ("gauge", "Devices flagged with a journal fork."),
    "bitagora_central_devices_silent": (
        "gauge",
        f"Devices without a heartbeat for {int(SILENT_AFTER.total_seconds())} s.",
    ),
    "bitagora_central_records_held": ("gauge", "Journal records held, all devices."),
    "bitagora_central_backlog_records": ("gauge", "Unsent records reported by heartbeats."),
    "bitagora_central_devices_by_status": (
        "gauge",
        "Devices online, late (one heartbeat missed) or offline (two), central/device_status.py.",
    ),
    "bitagora_central_alerts_open": ("gauge", "Open alerts by kind."),
    "bitagora_central_alerts_unacknowledged": ("gauge", "Open alerts nobody acknowledged yet."),
}


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    escaped = (
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in sorted(labels.items())
    )
    return "{" + ",".join(escaped) + "}"


def _number(value: float) -> str:
    """Counts as integers (exact however large), anything else as Python writes a float."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """In-process counters; one instance per app."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        # Per label set: the count in each bucket (not cumulative), then the sum of the values.
        self._histograms: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        self._counts[(name, tuple(sorted(labels.items())))] += amount

    def value(self, name: str, **labels: str) -> int:
        return self._counts[(name, tuple(sorted(labels.items())))]

    def observe(self, name: str, value: float, **labels: str) -> None:
        slots = self._histograms.setdefault(
            (name, tuple(sorted(labels.items()))), [0.0] * (len(LATENCY_BUCKETS) + 2)
        )
        index = next((i for i, b in enumerate(LATENCY_BUCKETS) if value <= b), len(LATENCY_BUCKETS))
        slots[index] += 1
        slots[-1] += value

    def _histogram_samples(self) -> list[tuple[str, dict[str, str], float]]:
        samples: list[tuple[str, dict[str, str], float]] = []
        for (name, label_items), slots in sorted(self._histograms.items()):
            labels = dict(label_items)
            cumulative = 0.0
            for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), slots[:-1], strict=True):
                cumulative += count
                samples.append((f"{name}_bucket", labels | {"le": str(bound)}, cumulative))
            samples.append((f"{name}_sum", labels, slots[-1]))
            samples.append((f"{name}_count", labels, cumulative))
        return samples

    async def render(self, pool: asyncpg.Pool, now: datetime) -> str:
        row = await pool.fetchrow(
            "SELECT count(*) AS devices,"
            " count(*) FILTER (WHERE forked_at IS NOT NULL) AS forked,"
            " count(*) FILTER (WHERE last_seen_at IS NULL OR last_seen_at < $1) AS silent,"
            " coalesce(sum(held_seq), 0) AS held,"
            " coalesce(sum(backlog), 0) AS backlog FROM devices",
            now - SILENT_AFTER,
        )
        samples: list[tuple[str, dict[str, str], float]] = [
            ("bitagora_central_devices", {}, row["devices"]),
            ("bitagora_central_devices_forked", {}, row["forked"]),
            ("bitagora_central_devices_silent", {}, row["silent"]),
            ("bitagora_central_records_held", {}, int(row["held"])),
            ("bitagora_central_backlog_records", {}, int(row["backlog"])),
        ]
        samples += await _state_gauges(pool, now)
        for (counter, label_items), count in sorted(self._counts.items()):
            samples.append((counter, dict(label_items), count))
        if not self.value("bitagora_central_records_ingested_total"):
            samples.append(("bitagora_central_records_ingested_total", {}, 0))
        samples += self._histogram_samples()
        lines: list[str] = []
        described: set[str] = set()
        for name, labels, value in samples:
            family = name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
            family = family if family in _HELP else name
            if family not in described and family in _HELP:
                kind, text = _HELP[family]
                lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
                described.add(family)
            lines.append(f"{name}{_labels(labels)} {_number(value)}")
        return "\n".join(lines) + "\n"


async def _state_gauges(
    pool: asyncpg.Pool, now: datetime
) -> list[tuple[str, dict[str, str], float]]:
    """Devices by status (the pages' own function, so the figures match them) and open alerts."""
    statuses = dict.fromkeys(("online", "late", "offline"), 0)
    for device in await pool.fetch(
        "SELECT last_seen_at, heartbeat_s, last_heartbeat, uplink_refused FROM devices"
    ):
        statuses[device_status(device, now).state] += 1
    open_ = dict.fromkeys(KINDS, 0)
    unacknowledged = 0
    for row in await pool.fetch(
        "SELECT kind, count(*) AS n, count(*) FILTER (WHERE acknowledged_at IS NULL) AS new"
        " FROM alerts WHERE resolved_at IS NULL GROUP BY kind"
    ):
        open_[row["kind"]] = row["n"]
        unacknowledged += row["new"]
    return [
        *(("bitagora_central_devices_by_status", {"status": k}, n) for k, n in statuses.items()),
        *(("bitagora_central_alerts_open", {"kind": k}, n) for k, n in open_.items()),
        ("bitagora_central_alerts_unacknowledged", {}, unacknowledged),
    ]


class RequestTimer:
    """Observes each request's latency in ``REQUEST_SECONDS`` (``metrics`` is read from the
    app's state when the answer starts, so the lifespan may make it after this is built)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception before the answer started is a server error

        async def send_timed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_timed)
        finally:
            route = scope.get("route")
            scope["app"].state.central.metrics.observe(
                REQUEST_SECONDS,
                time.perf_counter() - started,
                route=getattr(route, "path", None) or "unmatched",
                method=scope["method"],
                status=f"{status // 100}xx",
            )
