"""On-chain checkouts, bitcoin and USDT on TRON (migration 0006; the chain column
from the ``checkout_chain`` migration): each state change journalled with the row it moves.

``open_checkout`` writes the ``payment`` record of the offer and the row together; ``move`` takes
an open row to its next state and appends that state's record in the same transaction, or does
nothing when another watcher moved it first; ``complete`` does the same with the ``sale`` record.
So a payment seen twice (the Lightning watcher and a cancel racing, a poll and a restart) is taken
once, and the journal and the row never disagree.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.store import journal
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import Record

OPEN_STATES = ("offered", "underpaid", "confirming")


@dataclass(frozen=True)
class Checkout:
    sale_id: str
    cart: dict[str, Any]  # the sale body without payments
    rate: dict[str, Any]  # the rate lock (ExchangeRate.body())
    total_minor: int
    sats: int | None
    address: str | None
    msat: int | None
    bolt11: str | None
    expires_at: float  # unix seconds, device clock
    state: str
    late_until: float | None
    received_sats: int  # on-chain, as last journalled (USDT: token units)
    chain: str = "bitcoin"  # "bitcoin" or "tron" (the ``checkout_chain`` migration)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


_COLUMNS = (
    "sale_id, cart_json, rate_json, total_minor, sats, address, msat, bolt11, expires_at, state,"
    " late_until, received_sats, chain"
)


def _checkout(row: aiosqlite.Row | tuple[Any, ...]) -> Checkout:
    values = tuple(row)
    return Checkout(values[0], json.loads(values[1]), json.loads(values[2]), *values[3:])


async def open_checkout(
    conn: aiosqlite.Connection, identity: DeviceIdentity, checkout: Checkout, body: dict[str, Any]
) -> Record:
    """Record the offer: its ``payment`` record and the open row, in one transaction."""
    async with transaction(conn):
        record = await journal.append(conn, identity, "payment", body)
        await conn.execute(
            f"INSERT INTO btc_checkout ({_COLUMNS}, opened_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'offered', NULL, 0, ?, ?)",
            (
                checkout.sale_id,
                json.dumps(checkout.cart),
                json.dumps(checkout.rate),
                checkout.total_minor,
                checkout.sats,
                checkout.address,
                checkout.msat,
                checkout.bolt11,
                checkout.expires_at,
                checkout.chain,
                record.at,
            ),
        )
    return record


async def get(conn: aiosqlite.Connection, sale_id: str) -> Checkout | None:
    rows = list(
        await conn.execute_fetchall(
            f"SELECT {_COLUMNS} FROM btc_checkout WHERE sale_id = ?", (sale_id,)
        )
    )
    return _checkout(rows[0]) if rows else None


def _of_chain(chain: str | None) -> tuple[str, tuple[str, ...]]:
    return ("", ()) if chain is None else (" AND chain = ?", (chain,))


async def open_checkouts(conn: aiosqlite.Connection, chain: str | None = None) -> list[Checkout]:
    """The open checkouts (of ``chain`` only, unless None), oldest first."""
    where, args = _of_chain(chain)
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM btc_checkout WHERE state IN {OPEN_STATES!r}{where}"
        " ORDER BY opened_at",
        args,
    )
    return [_checkout(row) for row in rows]


async def open_parts_of(
    conn: aiosqlite.Connection, split_id: str, chain: str | None = None
) -> list[str]:
    """The open checkouts of the split sale ``split_id``'s parts (on ``chain`` only)."""
    where, args = _of_chain(chain)
    rows = await conn.execute_fetchall(
        f"SELECT sale_id FROM btc_checkout WHERE state IN {OPEN_STATES!r}"
        f" AND cart_json ->> '$.part_of' = ?{where}",
        (split_id, *args),
    )
    return [str(row[0]) for row in rows]


async def watched_for_late(
    conn: aiosqlite.Connection, now: float, chain: str | None = None
) -> list[Checkout]:
    """Closed checkouts whose address may still receive money that nobody is waiting for."""
    where, args = _of_chain(chain)
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM btc_checkout WHERE late_until > ?{where} ORDER BY opened_at",
        (now, *args),
    )
    return [_checkout(row) for row in rows]


async def _move_row(
    conn: aiosqlite.Connection,
    sale_id: str,
    state: str,
    from_states: tuple[str, ...],
    late_until: float | None,
    received_sats: int | None = None,
) -> bool:
    marks = ", ".join("?" * len(from_states))
    cursor = await conn.execute(
        "UPDATE btc_checkout SET state = ?, late_until = ?,"
        " received_sats = coalesce(?, received_sats) WHERE sale_id = ?"
        f" AND state IN ({marks})",
        (state, late_until, received_sats, sale_id, *from_states),
    )
    return cursor.rowcount == 1


async def move(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    sale_id: str,
    state: str,
    body: dict[str, Any],
    *,
    from_states: tuple[str, ...] = OPEN_STATES,
    late_until: float | None = None,
    received_sats: int | None = None,
) -> Record | None:
    """Move the checkout to ``state`` and journal ``body`` (a ``payment`` record); None (and
    nothing written) when it is no longer in one of ``from_states``."""
    async with transaction(conn):
        if not await _move_row(conn, sale_id, state, from_states, late_until, received_sats):
            return None
        return await journal.append(conn, identity, "payment", body)


async def complete(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    sale_id: str,
    state: str,
    body: dict[str, Any] | Callable[[], Awaitable[dict[str, Any]]],
    *,
    kind: str = "sale",
    late_until: float | None,
    received_sats: int | None = None,
) -> Record | None:
    """Finish an open checkout (``paid`` or ``overpaid``): the record it pays (its ``sale``,
    which also queues its receipt, or a split sale's ``part_paid`` ``payment``) and the row in
    one transaction; None if it was closed already. ``body`` may be built inside that
    transaction (a part's number depends on the parts recorded before it)."""
    async with transaction(conn):
        if not await _move_row(conn, sale_id, state, OPEN_STATES, late_until, received_sats):
            return None
        return await journal.append(
            conn, identity, kind, body if isinstance(body, dict) else await body()
        )


async def stop_late_watch(conn: aiosqlite.Connection, sale_id: str) -> None:
    """The address went to a newer sale (gap limit reuse): money there is that sale's now."""
    async with transaction(conn):
        await conn.execute(
            "UPDATE btc_checkout SET late_until = NULL WHERE sale_id = ?", (sale_id,)
        )


async def first_seen(
    conn: aiosqlite.Connection, address: str, txids: Sequence[str], now: float
) -> tuple[dict[str, float], bool]:
    """When the till first saw each of ``txids`` paying ``address`` (``now`` for those it had not
    seen), and whether any was new. Only new ones are written: a poll that finds nothing new costs
    no write (and no fsync on the SD card)."""
    marks = ", ".join("?" * len(txids))
    rows = await conn.execute_fetchall(
        f"SELECT txid, first_seen FROM btc_tx_seen WHERE address = ? AND txid IN ({marks})",
        (address, *txids),
    )
    known = {str(txid): float(at) for txid, at in rows}
    new = [txid for txid in txids if txid not in known]
    if new:
        async with transaction(conn):
            await conn.executemany(
                "INSERT OR IGNORE INTO btc_tx_seen (address, txid, first_seen) VALUES (?, ?, ?)",
                [(address, txid, now) for txid in new],
            )
    return {**known, **dict.fromkeys(new, now)}, bool(new)
