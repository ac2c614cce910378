"""What the payment providers' attempt tables (``card_attempt``, ``mercadopago_attempt``) share:
a sale's attempts are numbered 1, 2, … and only one is open at a time (the number goes into the
provider's idempotency keys, so a new attempt starts only once the last one has finished)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

import aiosqlite

AttemptTable = Literal["card_attempt", "mercadopago_attempt"]


async def next_attempt(
    conn: aiosqlite.Connection, table: AttemptTable, sale_id: str, open_states: Collection[str]
) -> int:
    """The number of the sale's next attempt, inside the caller's transaction. Refused
    (ValueError) while an earlier attempt of the sale is still open (in ``open_states``)."""
    cursor = await conn.execute(
        f"SELECT attempt, state FROM {table} WHERE sale_id = ? ORDER BY attempt DESC",
        (sale_id,),
    )
    rows = list(await cursor.fetchall())
    for row in rows:
        if row[1] in open_states:
            raise ValueError(f"attempt {row[0]} of sale {sale_id} is still {row[1]}")
    return int(rows[0][0]) + 1 if rows else 1
