"""A device's last heartbeats for its page's chart: at most ``KEEP`` a device (an hour at the
default 30 s). The heartbeat's one statement adds a row and prunes the oldest (``KEEPING``), so
the table never grows beyond devices × KEEP rows and costs the heartbeat no round trip."""

from __future__ import annotations

import asyncpg

KEEP = 120

# CTEs for the heartbeat's statement, after its CTE ``updated`` (the device's row, empty for a
# replay) with parameters $1 device, $2 time, $5 backlog, $6 oldest unsent age, $10 clock
# offset and $19 KEEP - 1. The DELETE sees the table as it was before the INSERT (one
# snapshot): it keeps KEEP - 1 rows and the INSERT adds the KEEPth.
KEEPING = (
    "kept AS (INSERT INTO device_heartbeats"
    " (device_id, at, backlog, oldest_unsent_age_s, clock_offset_s)"
    " SELECT $1, $2, $5, $6, $10 FROM updated),"
    " pruned AS (DELETE FROM device_heartbeats WHERE device_id = $1"
    " AND EXISTS (SELECT FROM updated) AND at <= (SELECT at FROM device_heartbeats"
    " WHERE device_id = $1 ORDER BY at DESC OFFSET $19 LIMIT 1))"
)


async def history(conn: asyncpg.Connection, device_id: str) -> list[asyncpg.Record]:
    """The device's kept heartbeats, oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT at, backlog, oldest_unsent_age_s, clock_offset_s FROM device_heartbeats"
        " WHERE device_id = $1 ORDER BY at",
        device_id,
    )
    return rows
