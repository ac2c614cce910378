"""Lightning invoices of sales and the settlement cursor (migrations 0005 and 0012).

A sale's invoice is recorded as ``pending`` when it is issued. ``record_payment`` is the only way
to ``paid``: it moves a pending row and advances the stored ``pay_index`` in one transaction, and
says whether this call was the one that took the payment, so the node reporting a payment twice
(catch-up after a restart, then ``waitanyinvoice``) settles the sale once.

The cursor only ever moves up within an *epoch* of the node's count. The watcher advances it
past every settlement in order, so every payment of ours at or below it has been taken; a payment
of ours newly reported at or below it (or at a pay_index the till already holds) means the node
counts from 1 again (replaced, rebuilt): ``record_payment`` then opens a new epoch whose cursor
starts at 0, instead of refusing the payment.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiosqlite

from appliance.store.db import fetch_one, transaction
from bitagora_protocol.journal import utc_now

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LnInvoice:
    label: str
    sale_id: str
    payment_hash: str
    bolt11: str
    amount_msat: int
    expires_at: int
    status: str  # pending | paid | expired | cancelled
    pay_index: int | None
    amount_received_msat: int | None
    paid_at: int | None


_COLUMNS = (
    "label, sale_id, payment_hash, bolt11, amount_msat, expires_at, status, pay_index,"
    " amount_received_msat, paid_at"
)


def _row(row: aiosqlite.Row | tuple[object, ...]) -> LnInvoice:
    values = tuple(row)
    return LnInvoice(*values)


async def add_invoice(
    conn: aiosqlite.Connection,
    *,
    sale_id: str,
    label: str,
    payment_hash: str,
    bolt11: str,
    amount_msat: int,
    expires_at: int,
) -> None:
    async with transaction(conn):
        await conn.execute(
            "INSERT INTO ln_invoice (label, sale_id, payment_hash, bolt11, amount_msat,"
            " expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (label, sale_id, payment_hash, bolt11, amount_msat, expires_at, utc_now()),
        )


async def get(conn: aiosqlite.Connection, label: str) -> LnInvoice | None:
    row = await fetch_one(conn, f"SELECT {_COLUMNS} FROM ln_invoice WHERE label = ?", (label,))
    return _row(row) if row is not None else None


async def by_payment_hash(conn: aiosqlite.Connection, payment_hash: str) -> LnInvoice | None:
    """The invoice a Lightning payment paid (a split sale's part: its checkout's invoice)."""
    row = await fetch_one(
        conn, f"SELECT {_COLUMNS} FROM ln_invoice WHERE payment_hash = ?", (payment_hash,)
    )
    return _row(row) if row is not None else None


async def pending(conn: aiosqlite.Connection) -> list[LnInvoice]:
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM ln_invoice WHERE status = 'pending' ORDER BY created_at, label"
    )
    return [_row(row) for row in rows]


async def last_pay_index(conn: aiosqlite.Connection) -> int:
    """Where waitanyinvoice resumes: the cursor of the current epoch."""
    _, pay_index = await _current(conn)
    return pay_index


async def highest_pay_index(conn: aiosqlite.Connection) -> int:
    """The highest ``pay_index`` of the current epoch the till holds: its cursor, or a paid
    invoice's above it (0 before any epoch). A node that forgets its invoices (the demo's
    simulated one) is told to count on from here, as a real node that kept them does."""
    row = await fetch_one(
        conn,
        "SELECT max((SELECT coalesce(max(pay_index), 0) FROM ln_invoice"
        "            WHERE epoch = (SELECT max(epoch) FROM ln_count_cursor)),"
        " (SELECT coalesce(max(pay_index), 0) FROM ln_count_cursor"
        "  WHERE epoch = (SELECT max(epoch) FROM ln_count_cursor)))",
    )
    return int(row[0]) if row and row[0] else 0


async def _current(conn: aiosqlite.Connection) -> tuple[int, int]:
    row = await fetch_one(conn, "SELECT epoch, pay_index FROM ln_count_cursor ORDER BY epoch DESC")
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def _epoch_for(conn: aiosqlite.Connection, label: str, pay_index: int) -> int:
    """The epoch a payment of ``label`` at ``pay_index`` belongs to: the current one, or a new
    one when the node's count has visibly started again."""
    epoch, cursor = await _current(conn)
    if not await fetch_one(
        conn, "SELECT 1 FROM ln_invoice WHERE label = ? AND status = 'pending'", (label,)
    ):
        return epoch  # not ours to take: it cannot tell anything about the count
    restarted = pay_index <= cursor or await fetch_one(
        conn, "SELECT 1 FROM ln_invoice WHERE epoch = ? AND pay_index = ?", (epoch, pay_index)
    )
    if not restarted:
        return epoch
    log.warning(
        "lightning node counts settlements from 1 again (pay_index %d, cursor %d): new epoch %d",
        pay_index,
        cursor,
        epoch + 1,
    )
    await conn.execute(
        "INSERT INTO ln_count_cursor (epoch, pay_index, opened_at) VALUES (?, 0, ?)",
        (epoch + 1, utc_now()),
    )
    return epoch + 1


async def _advance(conn: aiosqlite.Connection, epoch: int, pay_index: int) -> None:
    """Every settlement of ``epoch`` up to ``pay_index`` has been seen (never goes back)."""
    await conn.execute(
        "INSERT INTO ln_count_cursor (epoch, pay_index, opened_at) VALUES (?, ?, ?)"
        " ON CONFLICT (epoch) DO UPDATE SET pay_index = max(pay_index, excluded.pay_index)",
        (epoch, pay_index, utc_now()),
    )


async def record_payment(
    conn: aiosqlite.Connection,
    *,
    label: str,
    pay_index: int,
    amount_received_msat: int,
    paid_at: int,
    advance: bool,
) -> bool:
    """Mark a pending invoice paid; True only for the call that did. ``advance``: also move the
    cursor to ``pay_index`` (for payments learnt from waitanyinvoice, which come in order)."""
    async with transaction(conn):
        epoch = await _epoch_for(conn, label, pay_index)
        cursor = await conn.execute(
            "UPDATE ln_invoice SET status = 'paid', pay_index = ?, epoch = ?,"
            " amount_received_msat = ?, paid_at = ?, settled_at = ?"
            " WHERE label = ? AND status = 'pending'",
            (pay_index, epoch, amount_received_msat, paid_at, utc_now(), label),
        )
        if advance:
            await _advance(conn, epoch, pay_index)
        return cursor.rowcount == 1


async def close_unpaid(conn: aiosqlite.Connection, label: str, status: str) -> bool:
    """A pending invoice that will never be paid: ``expired`` (the node says so) or
    ``cancelled`` (deleted on the node by the till)."""
    if status not in ("expired", "cancelled"):
        raise ValueError(f"status must be expired or cancelled, not {status!r}")
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE ln_invoice SET status = ? WHERE label = ? AND status = 'pending'",
            (status, label),
        )
        return cursor.rowcount == 1
