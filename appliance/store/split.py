"""Split sales (migration 0014): the cart of a sale paid in parts, and its parts, which are the
journal's ``part_paid`` records (triggers keep ``split_part`` in step with them)."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from appliance.core.sale import Payment, SaleError
from appliance.core.split import PART_REFUNDED, Part, SplitSale, part_body
from appliance.store import journal
from appliance.store.db import SALE_LOCK_WAIT_S, fetch_one, transaction
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import Record


async def begin(conn: aiosqlite.Connection, cart: dict[str, Any], at: str) -> None:
    """Keep the cart (a sale body without payments) of a sale about to be paid in parts."""
    async with transaction(conn):
        await conn.execute(
            "INSERT INTO split_sale (sale_id, cart_json, total_minor, opened_at)"
            " VALUES (?, ?, ?, ?)",
            (cart["sale_id"], json.dumps(cart), cart["total"]["minor"], at),
        )


async def get(conn: aiosqlite.Connection, sale_id: str) -> SplitSale | None:
    row = await fetch_one(
        conn, "SELECT cart_json, state FROM split_sale WHERE sale_id = ?", (sale_id,)
    )
    if row is None:
        return None
    parts = []
    for number, seq in await conn.execute_fetchall(
        "SELECT part, journal_seq FROM split_part WHERE sale_id = ? ORDER BY part", (sale_id,)
    ):
        record = await journal.get(conn, int(seq))
        assert record is not None
        parts.append(Part(int(number), record.body["payment"], record.seq))
    return SplitSale(sale_id, json.loads(row[0]), tuple(parts), str(row[1]))


async def unfinished(conn: aiosqlite.Connection) -> list[SplitSale]:
    """Split sales still open (after a restart: each needs paying or giving back), oldest first."""
    rows = await conn.execute_fetchall(
        "SELECT sale_id FROM split_sale WHERE state = 'open' ORDER BY opened_at"
    )
    found = [await get(conn, str(sale_id)) for (sale_id,) in rows]
    return [s for s in found if s is not None]


async def append(
    conn: aiosqlite.Connection, identity: DeviceIdentity, kind: str, body: dict[str, Any]
) -> Record:
    """Journal a part, the finished sale or the give-back; the triggers move the rows with it
    (and refuse a part for a sale that is not open, or one that pays more than is due). Money
    paid: it waits for the write lock as a sale does (``record_sale``)."""
    async with transaction(conn, SALE_LOCK_WAIT_S):
        return await journal.append(conn, identity, kind, body)


async def part_record(
    conn: aiosqlite.Connection,
    sale_id: str,
    payment: Payment,
    staff: tuple[str, str],
    **more: Any,
) -> dict[str, Any]:
    """The body of a part's record, to build inside the write transaction that journals it: the
    parts are read under the transaction's lock, so two parts settling at once are numbered 1
    and 2 (never the same number twice). SaleError if it pays more than is still due."""
    split = await get(conn, sale_id)
    if split is None:
        raise SaleError(f"no split sale {sale_id} on this till")
    return part_body(split, payment, staff, **more)


async def append_part(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    sale_id: str,
    payment: Payment,
    staff: tuple[str, str],
) -> Record:
    """Journal a part (``part_record``) as the next part of the split sale ``sale_id`` (waiting
    for the write lock as a sale does)."""
    async with transaction(conn, SALE_LOCK_WAIT_S):
        body = await part_record(conn, sale_id, payment, staff)
        return await journal.append(conn, identity, "payment", body)


async def refunded_intents(conn: aiosqlite.Connection, sale_id: str) -> set[str]:
    """The card payments of ``sale_id`` refunded at once because they could not be parts."""
    rows = await conn.execute_fetchall(
        "SELECT body ->> '$.payment.payment_intent' FROM journal"
        " WHERE kind = 'payment' AND body ->> '$.state' = ? AND body ->> '$.sale_id' = ?",
        (PART_REFUNDED, sale_id),
    )
    return {str(row[0]) for row in rows}


async def cancel_unpaid(conn: aiosqlite.Connection, sale_id: str) -> bool:
    """Give up an open split sale on which nothing was paid (nothing to journal); False when it
    has a paid part or is not open."""
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE split_sale SET state = 'cancelled' WHERE sale_id = ? AND state = 'open'"
            " AND NOT EXISTS (SELECT 1 FROM split_part WHERE sale_id = ?)",
            (sale_id, sale_id),
        )
        return cursor.rowcount == 1
