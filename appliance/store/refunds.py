"""Refunds and bitcoin payouts as the refund service reads them from the journal."""

from __future__ import annotations

from typing import Any

import aiosqlite

from appliance.store import journal
from appliance.store.db import fetch_one
from bitagora_protocol.journal import Record

PAYOUT_KEYS = (
    "journal_seq",
    "recorded_at",
    "refund_id",
    "sale_id",
    "method",
    "amount",
    "currency",
    "kind",
    "destination",
    "status",
    "proof",
)


async def sale_seq(conn: aiosqlite.Connection, sale_id: str) -> int | None:
    """The journal seq of sale ``sale_id``'s record, or None."""
    row = await fetch_one(conn, "SELECT journal_seq FROM sales WHERE sale_id = ?", (sale_id,))
    return None if row is None else int(row[0])


async def refunds_of(conn: aiosqlite.Connection, original_seq: int) -> list[Record]:
    """The ``refund`` records of the sale at ``original_seq``, in seq order."""
    rows = await conn.execute_fetchall(
        "SELECT seq FROM journal WHERE kind = 'refund'"
        " AND body ->> '$.original_seq' = ? ORDER BY seq",
        (original_seq,),
    )
    out = []
    for (seq,) in rows:
        record = await journal.get(conn, int(seq))
        assert record is not None
        out.append(record)
    return out


async def payout_source(conn: aiosqlite.Connection, refund_id: str) -> Record | None:
    """The record whose payouts ``refund_id`` names: a refund, or the give-back of an unfinished
    split sale (named by its sale id)."""
    row = await fetch_one(
        conn,
        "SELECT seq FROM journal WHERE (kind = 'refund' AND body ->> '$.refund_id' = ?)"
        " OR (kind = 'payment' AND body ->> '$.state' = 'given_back'"
        " AND body ->> '$.sale_id' = ?)",
        (refund_id, refund_id),
    )
    return None if row is None else await journal.get(conn, int(row[0]))


async def payout_paid(conn: aiosqlite.Connection, refund_id: str, method: str) -> bool:
    row = await fetch_one(
        conn,
        "SELECT 1 FROM payouts WHERE refund_id = ? AND method = ? AND status = 'paid'",
        (refund_id, method),
    )
    return row is not None


async def payouts(
    conn: aiosqlite.Connection, *, pending_only: bool = False
) -> list[dict[str, Any]]:
    """Bitcoin refunds (``payouts`` view), oldest first: every one, or those still to pay."""
    rows = await conn.execute_fetchall(
        "SELECT journal_seq, recorded_at, refund_id, sale_id, method, amount, currency, kind,"
        " destination, status, proof FROM payouts"
        + (" WHERE status = 'pending'" if pending_only else "")
        + " ORDER BY journal_seq, method"
    )
    return [dict(zip(PAYOUT_KEYS, tuple(r), strict=True)) for r in rows]
