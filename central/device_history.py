"""A device's last heartbeats for its page's chart: at most ``KEEP`` a device (an hour at the
default 30 s), the oldest pruned by the same statement that adds one, so the table never grows
beyond devices × KEEP rows and the heartbeat pays one round trip for it."""

from __future__ import annotations

from datetime import datetime

import asyncpg

KEEP = 120

# The DELETE sees the table as it was before the INSERT (one snapshot): it keeps KEEP - 1 rows.
_RECORD = (
    "WITH added AS (INSERT INTO device_heartbeats"
    " (device_id, at, backlog, oldest_unsent_age_s, clock_offset_s)"
    " VALUES ($1, $2, $3, $4, $5))"
    " DELETE FROM device_heartbeats WHERE device_id = $1 AND at <= (SELECT at"
    " FROM device_heartbeats WHERE device_id = $1 ORDER BY at DESC OFFSET $6 LIMIT 1)"
)


async def record(
    pool: asyncpg.Pool,
    device_id: str,
    at: datetime,
    backlog: int | None,
    oldest_unsent_age_s: int | None,
    clock_offset_s: int,
) -> None:
    await pool.execute(
        _RECORD, device_id, at, backlog, oldest_unsent_age_s, clock_offset_s, KEEP - 1
    )


async def history(conn: asyncpg.Connection, device_id: str) -> list[asyncpg.Record]:
    """The device's kept heartbeats, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT at, backlog, oldest_unsent_age_s, clock_offset_s FROM device_heartbeats"
        " WHERE device_id = $1 ORDER BY at",
        device_id,
    )
    return rows
