"""Mercado Pago payment attempts (a device migration): what a retry or a restart needs to find a
sale's order again without ever creating a second one for the same attempt."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from appliance.store.attempts import next_attempt
from appliance.store.db import transaction
from bitagora_protocol.journal import utc_now

OPEN_STATES = ("creating", "waiting")
FINAL_STATES = ("paid", "declined", "cancelled", "expired", "failed")


@dataclass(frozen=True)
class AttemptRow:
    sale_id: str
    attempt: int
    method: str
    order_id: str | None
    amount_minor: int
    currency: str
    state: str
    reason: str | None


_COLUMNS = "sale_id, attempt, method, order_id, amount_minor, currency, state, reason"


async def open_attempt(
    conn: aiosqlite.Connection, *, sale_id: str, method: str, amount_minor: int, currency: str
) -> AttemptRow:
    """Number and record the sale's next attempt (state ``creating``). Refused (ValueError)
    while an earlier attempt of the sale is still open: it has to be finished first."""
    async with transaction(conn):
        number = await next_attempt(conn, "mercadopago_attempt", sale_id, OPEN_STATES)
        await conn.execute(
            "INSERT INTO mercadopago_attempt (sale_id, attempt, method, amount_minor, currency,"
            " state, opened_at) VALUES (?, ?, ?, ?, ?, 'creating', ?)",
            (sale_id, number, method, amount_minor, currency, utc_now()),
        )
    return AttemptRow(sale_id, number, method, None, amount_minor, currency, "creating", None)


async def set_order(conn: aiosqlite.Connection, sale_id: str, attempt: int, order_id: str) -> None:
    async with transaction(conn):
        await conn.execute(
            "UPDATE mercadopago_attempt SET order_id = ?, state = 'waiting'"
            " WHERE sale_id = ? AND attempt = ? AND state = 'creating'",
            (order_id, sale_id, attempt),
        )


async def set_state(
    conn: aiosqlite.Connection, sale_id: str, attempt: int, state: str, reason: str | None = None
) -> bool:
    """Close an open attempt as ``state``; False if it was already final (a final state is never
    changed, so two watchers cannot record two different ends)."""
    if state not in FINAL_STATES:
        raise ValueError(f"unknown final Mercado Pago attempt state {state!r}")
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE mercadopago_attempt SET state = ?, reason = ?, closed_at = ?"
            " WHERE sale_id = ? AND attempt = ? AND state IN ('creating', 'waiting')",
            (state, reason, utc_now(), sale_id, attempt),
        )
        return cursor.rowcount == 1


async def open_attempts(conn: aiosqlite.Connection, sale_id: str) -> list[AttemptRow]:
    """The sale's attempts not yet final (at most one), to follow or create again."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM mercadopago_attempt"
        " WHERE sale_id = ? AND state IN ('creating', 'waiting') ORDER BY attempt",
        (sale_id,),
    )
    return [AttemptRow(*tuple(row)) for row in await cursor.fetchall()]
