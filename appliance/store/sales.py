"""Finishing a sale: sale rows, journal record, outbox row (and a cash sale's drawer opening) in one
durable transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiosqlite

from appliance.store import journal
from appliance.store.db import SALE_LOCK_WAIT_S, fetch_one, transaction
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import Record


async def record_sale(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    body: dict[str, Any],
    drawer_opening: Mapping[str, Any] | None = None,
) -> Record:
    """Commit the sale described by ``body`` (see core.sale.sale_body); return its journal record.

    Appending the record also writes the sale rows and the outbox row (triggers in migration
    0001), all in this one transaction; it is durable once this returns (WAL, synchronous=FULL).
    ``drawer_opening`` (a cash sale's, core.drawer.drawer_open_body) is appended as the next
    record in the same transaction: one durable write for the sale and its drawer's record,
    and never a sale whose drawer opening is missing from the journal or the other way round.
    It waits for the write lock as long as another process (a catalog import) holds it.
    """
    async with transaction(conn, SALE_LOCK_WAIT_S):
        record = await journal.append(conn, identity, "sale", body)
        if drawer_opening is not None:
            await journal.append(conn, identity, "drawer_open", drawer_opening, after=record)
        return record


async def sale_count(conn: aiosqlite.Connection) -> int:
    row = await fetch_one(conn, "SELECT count(*) FROM sales")
    return row[0] if row else 0


async def newest(
    conn: aiosqlite.Connection, limit: int
) -> list[tuple[str, int, str, int, str, str]]:
    """The newest ``limit`` sales, newest first: (sale_id, journal_seq, finished_at, total,
    currency, methods joined by commas)."""
    rows = await conn.execute_fetchall(
        "SELECT s.sale_id, s.journal_seq, s.finished_at, s.total, s.currency,"
        " (SELECT group_concat(method, ',') FROM sale_payments p WHERE p.sale_id = s.sale_id)"
        " FROM sales s ORDER BY s.journal_seq DESC LIMIT ?",
        (limit,),
    )
    return [(r[0], int(r[1]), r[2], int(r[3]), r[4], r[5] or "") for r in rows]


async def ids_starting(conn: aiosqlite.Connection, prefix: str, limit: int = 2) -> list[str]:
    """Sale ids that start with ``prefix`` (at most ``limit``)."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = await conn.execute_fetchall(
        "SELECT sale_id FROM sales WHERE sale_id LIKE ? ESCAPE '\\' ORDER BY journal_seq DESC"
        " LIMIT ?",
        (escaped + "%", limit),
    )
    return [r[0] for r in rows]


async def newest_sale(conn: aiosqlite.Connection) -> Record | None:
    """The newest ``sale`` record, or None before the first sale."""
    row = await fetch_one(conn, "SELECT max(journal_seq) FROM sales")
    if row is None or row[0] is None:
        return None
    return await journal.get(conn, int(row[0]))


# The seq of the newest sale whose outcome was told: handed to the screen that sold it once its
# drawer and receipt were done (services/sales.py ``finish_sale``), or dismissed by staff on the
# notice after a restart. Kept with the kiosk's other device state (``uplink_state``).
OUTCOME_TOLD = "sale_outcome_told"


async def outcome_told_seq(conn: aiosqlite.Connection) -> int | None:
    row = await fetch_one(conn, "SELECT value FROM uplink_state WHERE key = ?", (OUTCOME_TOLD,))
    return int(row[0]) if row else None


async def mark_outcome_told(conn: aiosqlite.Connection, seq: int) -> None:
    """Sale ``seq``'s outcome was told (never moves back to an older sale)."""
    async with transaction(conn):
        await conn.execute(
            "INSERT INTO uplink_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
            " SET value = excluded.value WHERE CAST(value AS INTEGER) < CAST(excluded.value"
            " AS INTEGER)",
            (OUTCOME_TOLD, str(seq)),
        )
