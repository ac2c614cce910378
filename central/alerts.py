"""Alerts: raised, kept and resolved from the devices' rows (``central.alert_rules``), and
acknowledged by ops.

``evaluate`` compares what each device's row calls for with its open alerts and writes only the
difference: a new condition raises an alert, a cleared one resolves it, and one still holding
keeps its row (one open alert per device and kind, ``alerts_open``). Central runs it for a
device after each heartbeat it stores (on the row the heartbeat's statement returns) and each
fork it detects on ingest, and for the whole fleet
every ``EVALUATE_EVERY_S`` (a silent device sends nothing that could raise its "offline"). It
runs as central's own role.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from central.alert_rules import DEFAULTS, conditions
from central.context import Central

log = logging.getLogger(__name__)

EVALUATE_EVERY_S = 15.0
# What the rules read of a device ("d"), with its open alerts (kind → id) and the thresholds set
# for it: the fleet's, then its merchant's, which jsonb_object_agg lets override (the last value
# of a key wins). The heartbeat's one statement returns the same columns of the row it updates.
DEVICE_COLUMNS = """d.device_id, d.merchant_id, d.last_seen_at, d.heartbeat_s, d.last_heartbeat,
    d.uplink_refused, d.backlog, d.oldest_unsent_age_s, d.forked_at, d.fork_seq,
    d.printer_online, d.printer_paper, d.clock_offset_s, d.update_problem,
    (SELECT jsonb_object_agg(a.kind, a.id) FROM alerts a
        WHERE a.device_id = d.device_id AND a.resolved_at IS NULL) AS open_alerts,
    (SELECT jsonb_object_agg(t.name, t.value ORDER BY t.merchant_id NULLS FIRST)
        FROM alert_thresholds t
        WHERE t.merchant_id IS NULL OR t.merchant_id = d.merchant_id) AS thresholds"""
_DEVICES = (
    f"SELECT {DEVICE_COLUMNS} FROM devices d"
    " WHERE $1::text[] IS NULL OR d.device_id = ANY($1::text[])"
)


async def evaluate(
    conn: asyncpg.Connection, now: datetime, device_ids: Sequence[str] | None = None
) -> tuple[int, int]:
    """Bring the open alerts of ``device_ids`` (default: every device) in line with their rows;
    returns (raised, resolved)."""
    devices = await conn.fetch(_DEVICES, None if device_ids is None else list(device_ids))
    return await settle(conn, now, devices)


async def settle(
    db: asyncpg.Connection | asyncpg.Pool, now: datetime, devices: Sequence[Mapping[str, Any]]
) -> tuple[int, int]:
    """Raise and resolve alerts for ``devices`` (rows of ``DEVICE_COLUMNS``); no round trip
    when nothing changes (the heartbeat's case). Returns (raised, resolved)."""
    raise_rows: list[tuple[Any, ...]] = []
    cleared: list[int] = []
    for device in devices:
        set_ = json.loads(device["thresholds"] or "{}")
        found = conditions(device, {**DEFAULTS, **set_}, now)
        is_open: dict[str, int] = json.loads(device["open_alerts"] or "{}")
        raise_rows += [
            (device["merchant_id"], device["device_id"], kind, detail, now)
            for kind, detail in found.items()
            if kind not in is_open
        ]
        cleared += [alert_id for kind, alert_id in is_open.items() if kind not in found]
    if raise_rows:
        # Another evaluation may have raised it meanwhile: the open one stays, once.
        await db.executemany(
            "INSERT INTO alerts (merchant_id, device_id, kind, detail, raised_at)"
            " VALUES ($1, $2, $3, $4, $5)"
            " ON CONFLICT (device_id, kind) WHERE resolved_at IS NULL DO NOTHING",
            raise_rows,
        )
    if cleared:
        await db.execute(
            "UPDATE alerts SET resolved_at = $2 WHERE id = ANY($1::bigint[])"
            " AND resolved_at IS NULL",
            cleared,
            now,
        )
    return len(raise_rows), len(cleared)


async def evaluate_device(ctx: Central, device_id: str, now: datetime) -> None:
    """Raise and resolve the device's alerts after a heartbeat or a fork was stored; a failure
    is logged and left to the next evaluation, never the device's problem."""
    try:
        async with ctx.pool.acquire() as conn:
            await evaluate(conn, now, [device_id])
    except (asyncpg.PostgresError, OSError) as err:
        log.warning("alert evaluation for %s failed: %s", device_id, err)


async def evaluate_forever(ctx: Central, interval_s: float = EVALUATE_EVERY_S) -> None:
    """The lifespan's evaluator task; it runs until cancelled."""
    while True:
        try:
            async with ctx.pool.acquire() as conn:
                await evaluate(conn, ctx.now())
        except Exception as err:  # a failed round is retried at the next interval
            log.warning("alert evaluation failed: %s", err)
        await asyncio.sleep(interval_s)


async def acknowledge(
    conn: asyncpg.Connection, alert_id: int, by: str, now: datetime
) -> int | None:
    """Acknowledge an open alert (as the page's user): its merchant's id, or None when there is
    none to acknowledge."""
    merchant: int | None = await conn.fetchval(
        "UPDATE alerts SET acknowledged_at = $3, acknowledged_by = $2"
        " WHERE id = $1 AND resolved_at IS NULL AND acknowledged_at IS NULL"
        " RETURNING merchant_id",
        alert_id,
        by,
        now,
    )
    return merchant


async def listed(
    conn: asyncpg.Connection, *, state: str, kind: str | None, limit: int
) -> list[dict[str, Any]]:
    """Alerts for the page, open ones first, newest first; ``state`` is "open", "resolved" or
    "all"."""
    rows = await conn.fetch(
        "SELECT a.id, a.device_id, m.name AS merchant, a.kind, a.detail, a.raised_at,"
        " a.acknowledged_at, a.acknowledged_by, a.resolved_at"
        " FROM alerts a JOIN merchants m ON m.id = a.merchant_id"
        " WHERE ($1 = 'all' OR ($1 = 'open') = (a.resolved_at IS NULL))"
        " AND ($2::text IS NULL OR a.kind = $2)"
        " ORDER BY (a.resolved_at IS NOT NULL), a.raised_at DESC, a.id DESC LIMIT $3",
        state,
        kind,
        limit,
    )
    return [dict(r) for r in rows]


async def thresholds(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The thresholds set: the fleet's (merchant None) first, then each merchant's."""
    rows = await conn.fetch(
        "SELECT t.merchant_id, m.name AS merchant, t.name, t.value FROM alert_thresholds t"
        " LEFT JOIN merchants m ON m.id = t.merchant_id"
        " ORDER BY t.merchant_id NULLS FIRST, m.name, t.name"
    )
    return [dict(r) for r in rows]


async def set_threshold(
    conn: asyncpg.Connection, merchant_id: int | None, name: str, value: int | None
) -> None:
    """Set a threshold for the fleet (``merchant_id`` None) or one merchant; ``value`` None
    removes it, so the fleet's value or the default applies again."""
    if value is None:
        await conn.execute(
            "DELETE FROM alert_thresholds WHERE merchant_id IS NOT DISTINCT FROM $1 AND name = $2",
            merchant_id,
            name,
        )
        return
    await conn.execute(
        "INSERT INTO alert_thresholds (merchant_id, name, value) VALUES ($1, $2, $3)"
        " ON CONFLICT (merchant_id, name) DO UPDATE SET value = EXCLUDED.value",
        merchant_id,
        name,
        value,
    )
