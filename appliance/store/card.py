"""Card payment attempts (migration 0008): what a retry or a restart needs to find a sale's
PaymentIntent again without ever creating a second one for the same attempt."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from appliance.store.attempts import next_attempt
from appliance.store.db import transaction
from bitagora_protocol.journal import utc_now

OPEN_STATES = ("creating", "processing", "authorized")
FINAL_STATES = ("succeeded", "declined", "cancelled", "failed")


@dataclass(frozen=True)
class AttemptRow:
    sale_id: str
    attempt: int
    payment_intent: str | None
    reader_id: str
    amount_minor: int
    currency: str
    description: str
    capture: str
    state: str
    charge_id: str | None
    reason: str | None
    cart_json: str | None = None  # a whole sale's cart, to record it after a restart


_COLUMNS = (
    "sale_id, attempt, payment_intent, reader_id, amount_minor, currency, description, capture,"
    " state, charge_id, reason, cart_json"
)


def _row(row: aiosqlite.Row | tuple[object, ...]) -> AttemptRow:
    return AttemptRow(*tuple(row))


async def open_attempt(
    conn: aiosqlite.Connection,
    *,
    sale_id: str,
    reader_id: str,
    amount_minor: int,
    currency: str,
    description: str,
    capture: str,
    cart_json: str | None = None,
) -> AttemptRow:
    """Number and record the sale's next attempt (state ``creating``). Refused (ValueError)
    while an earlier attempt of the sale is still open: it has to be finished first."""
    async with transaction(conn):
        number = await next_attempt(conn, "card_attempt", sale_id, OPEN_STATES)
        await conn.execute(
            "INSERT INTO card_attempt (sale_id, attempt, reader_id, amount_minor, currency,"
            " description, capture, state, opened_at, cart_json)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'creating', ?, ?)",
            (
                sale_id,
                number,
                reader_id,
                amount_minor,
                currency,
                description,
                capture,
                utc_now(),
                cart_json,
            ),
        )
    return AttemptRow(
        sale_id,
        number,
        None,
        reader_id,
        amount_minor,
        currency,
        description,
        capture,
        "creating",
        None,
        None,
        cart_json,
    )


async def set_payment_intent(
    conn: aiosqlite.Connection, sale_id: str, attempt: int, payment_intent: str
) -> None:
    async with transaction(conn):
        await conn.execute(
            "UPDATE card_attempt SET payment_intent = ?, state = 'processing'"
            " WHERE sale_id = ? AND attempt = ? AND state = 'creating'",
            (payment_intent, sale_id, attempt),
        )


async def set_state(
    conn: aiosqlite.Connection,
    sale_id: str,
    attempt: int,
    state: str,
    *,
    charge_id: str | None = None,
    reason: str | None = None,
) -> bool:
    """Move an open attempt to ``state``; False if it was already final (a final state is
    never changed, so two watchers cannot record two different ends)."""
    if state not in OPEN_STATES + FINAL_STATES:
        raise ValueError(f"unknown card attempt state {state!r}")
    closed_at = utc_now() if state in FINAL_STATES else None
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE card_attempt SET state = ?, charge_id = coalesce(?, charge_id),"
            " reason = ?, closed_at = ?"
            " WHERE sale_id = ? AND attempt = ? AND state IN ('creating', 'processing',"
            " 'authorized')",
            (state, charge_id, reason, closed_at, sale_id, attempt),
        )
        return cursor.rowcount == 1


async def get_attempt(conn: aiosqlite.Connection, sale_id: str, attempt: int) -> AttemptRow | None:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM card_attempt WHERE sale_id = ? AND attempt = ?",
        (sale_id, attempt),
    )
    row = await cursor.fetchone()
    return _row(row) if row is not None else None


async def open_attempts(conn: aiosqlite.Connection) -> list[AttemptRow]:
    """Attempts not yet final, oldest first: after a restart, each needs a look at Stripe."""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM card_attempt"
        " WHERE state IN ('creating', 'processing', 'authorized') ORDER BY opened_at"
    )
    return [_row(row) for row in await cursor.fetchall()]


async def succeeded_unrecorded(conn: aiosqlite.Connection) -> list[AttemptRow]:
    """Succeeded attempts that may have missed their record (a crash between the success and
    the commit): a whole sale's whose sale is not in ``sales``, and those of split sales still
    open (the caller compares them with the parts)."""
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM card_attempt AS a WHERE a.state = 'succeeded' AND ("
        " (a.cart_json IS NOT NULL AND a.sale_id NOT IN (SELECT sale_id FROM sales))"
        " OR a.sale_id IN (SELECT sale_id FROM split_sale WHERE state = 'open'))"
        " ORDER BY a.opened_at"
    )
    return [_row(row) for row in rows]


async def sale_attempts(conn: aiosqlite.Connection, sale_id: str) -> list[AttemptRow]:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM card_attempt WHERE sale_id = ? ORDER BY attempt", (sale_id,)
    )
    return [_row(row) for row in await cursor.fetchall()]
