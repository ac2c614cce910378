"""Finishing a sale: sale rows, journal record and outbox row in one durable transaction."""

from __future__ import annotations

from typing import Any

import aiosqlite

from appliance.core.journal import Record
from appliance.store import journal
from appliance.store.db import fetch_one, transaction
from appliance.store.identity import DeviceIdentity


async def record_sale(
    conn: aiosqlite.Connection, identity: DeviceIdentity, body: dict[str, Any]
) -> Record:
    """Commit the sale described by ``body`` (see core.sale.sale_body); return its journal record.

    Appending the record also writes the sale rows and the outbox row (triggers in migration
    0001), all in this one transaction; it is durable once this returns (WAL, synchronous=FULL).
    """
    async with transaction(conn):
        return await journal.append(conn, identity, "sale", body)


async def sale_count(conn: aiosqlite.Connection) -> int:
    row = await fetch_one(conn, "SELECT count(*) FROM sales")
    return row[0] if row else 0
