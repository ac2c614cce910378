"""Drawer openings: one sealed ``drawer_open`` journal record each, in its own transaction."""

from __future__ import annotations

from typing import Any

import aiosqlite

from appliance.store import journal
from appliance.store.db import fetch_one, transaction
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import Record


async def record_opening(
    conn: aiosqlite.Connection, identity: DeviceIdentity, body: dict[str, Any]
) -> Record:
    """Commit a drawer opening (see core.drawer.drawer_open_body); durable once this returns.

    The outbox row comes from the journal's trigger, as for every record."""
    async with transaction(conn):
        return await journal.append(conn, identity, "drawer_open", body)


async def openings(conn: aiosqlite.Connection) -> list[Record]:
    """Every drawer_open record, oldest first."""
    rows = await conn.execute_fetchall(
        f"SELECT {journal.COLUMNS} FROM journal WHERE kind = 'drawer_open' ORDER BY seq"
    )
    return [journal.record_from_row(row) for row in rows]


async def opened_for_sale(conn: aiosqlite.Connection, sale_id: str) -> bool:
    """Whether any ``drawer_open`` record names ``sale_id`` (its sale's, a cash part's of a split
    sale, or one after a restart)."""
    row = await fetch_one(
        conn,
        "SELECT 1 FROM journal WHERE kind = 'drawer_open' AND body ->> '$.sale_id' = ? LIMIT 1",
        (sale_id,),
    )
    return row is not None
