"""Alerts: raised, kept and resolved from the devices' rows (``central.alert_rules``), and
acknowledged by ops.

``evaluate`` compares what each device's row calls for with its open alerts and writes only the
difference: a new condition raises an alert, a cleared one resolves it, and one still holding
keeps its row (one open alert per device and kind, ``alerts_open``). Central runs it for a
device after each heartbeat it stores and for the whole fleet every ``EVALUATE_EVERY_S`` (a
silent device sends nothing that could raise its "offline"). It runs as central's own role.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from central.alert_rules import DEFAULTS, conditions
from central.context import Central

log = logging.getLogger(__name__)

EVALUATE_EVERY_S = 15.0
DEVICE_COLUMNS = (
    "device_id, merchant_id, last_seen_at, last_heartbeat, uplink_refused, backlog,"
    " oldest_unsent_age_s, forked_at, fork_seq, printer_online, printer_paper, clock_offset_s"
)


async def thresholds(conn: asyncpg.Connection) -> dict[int | None, dict[str, int]]:
    """Merchant id (None: the fleet) → the thresholds set for it, defaults not included."""
    found: dict[int | None, dict[str, int]] = {}
    for row in await conn.fetch("SELECT merchant_id, name, value FROM alert_thresholds"):
        found.setdefault(row["merchant_id"], {})[row["name"]] = row["value"]
    return found


def thresholds_for(merchant_id: int, set_: dict[int | None, dict[str, int]]) -> dict[str, int]:
    return {**DEFAULTS, **set_.get(None, {}), **set_.get(merchant_id, {})}


async def evaluate(
    conn: asyncpg.Connection, now: datetime, device_ids: Sequence[str] | None = None
) -> tuple[int, int]:
    """Bring the open alerts of ``device_ids`` (default: every device) in line with their rows;
    returns (raised, resolved)."""
    ids = None if device_ids is None else list(device_ids)
    async with conn.transaction():
        devices = await conn.fetch(
            f"SELECT {DEVICE_COLUMNS} FROM devices"
            " WHERE $1::text[] IS NULL OR device_id = ANY($1::text[])",
            ids,
        )
        open_rows = await conn.fetch(
            "SELECT id, device_id, kind FROM alerts WHERE resolved_at IS NULL"
            " AND ($1::text[] IS NULL OR device_id = ANY($1::text[]))",
            ids,
        )
        set_ = await thresholds(conn)
        is_open = {(r["device_id"], r["kind"]): r["id"] for r in open_rows}
        raise_rows: list[tuple[Any, ...]] = []
        held: set[tuple[str, str]] = set()
        for device in devices:
            found = conditions(device, thresholds_for(device["merchant_id"], set_), now)
            for kind, detail in found.items():
                held.add((device["device_id"], kind))
                if (device["device_id"], kind) not in is_open:
                    raise_rows.append((device["merchant_id"], device["device_id"], kind, detail))
        cleared = [alert_id for key, alert_id in is_open.items() if key not in held]
        if raise_rows:
            await conn.executemany(
                "INSERT INTO alerts (merchant_id, device_id, kind, detail, raised_at)"
                " VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (device_id, kind) WHERE resolved_at IS NULL DO NOTHING",
                [(*r, now) for r in raise_rows],
            )
        if cleared:
            await conn.execute(
                "UPDATE alerts SET resolved_at = $2 WHERE id = ANY($1::bigint[])", cleared, now
            )
    return len(raise_rows), len(cleared)


async def after_heartbeat(ctx: Central, device_id: str, now: datetime) -> None:
    """Raise and resolve the device's alerts from the heartbeat just stored; a failure is logged
    and left to the next evaluation, never the device's problem."""
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
