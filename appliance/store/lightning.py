"""Lightning invoices of sales and the settlement cursor (migration 0005).

A sale's invoice is recorded as ``pending`` when it is issued. ``record_payment`` is the only way
to ``paid``: it moves a pending row and advances the stored ``pay_index`` in one transaction, and
says whether this call was the one that took the payment, so the node reporting a payment twice
(catch-up after a restart, then ``waitanyinvoice``) settles the sale once.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from appliance.core.journal import utc_now
from appliance.store.db import transaction


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
    rows = list(
        await conn.execute_fetchall(f"SELECT {_COLUMNS} FROM ln_invoice WHERE label = ?", (label,))
    )
    return _row(rows[0]) if rows else None


async def pending(conn: aiosqlite.Connection) -> list[LnInvoice]:
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM ln_invoice WHERE status = 'pending' ORDER BY created_at, label"
    )
    return [_row(row) for row in rows]


async def last_pay_index(conn: aiosqlite.Connection) -> int:
    rows = list(await conn.execute_fetchall("SELECT pay_index FROM ln_cursor WHERE id = 1"))
    return int(rows[0][0]) if rows else 0


async def advance_cursor(conn: aiosqlite.Connection, pay_index: int) -> None:
    """Remember that every settlement up to ``pay_index`` has been seen (never goes back)."""
    async with transaction(conn):
        await _advance(conn, pay_index)


async def _advance(conn: aiosqlite.Connection, pay_index: int) -> None:
    await conn.execute(
        "UPDATE ln_cursor SET pay_index = max(pay_index, ?) WHERE id = 1", (pay_index,)
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
        cursor = await conn.execute(
            "UPDATE ln_invoice SET status = 'paid', pay_index = ?, amount_received_msat = ?,"
            " paid_at = ?, settled_at = ? WHERE label = ? AND status = 'pending'",
            (pay_index, amount_received_msat, paid_at, utc_now(), label),
        )
        if advance:
            await _advance(conn, pay_index)
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
