"""Receive addresses for on-chain sales (migration 0004): fresh, durable, within the gap limit.

``allocate`` reserves an index in a committed transaction and only then returns the address, so
what the customer sees is on disk first; asking again for the same sale returns the same address
(a crash between reserving and showing loses nothing and wastes no index).

Gap limit: a wallet restored from the seed looks at most ``gap_limit`` (20, BIP44) addresses past
the last one that received money. The till never hands out an index further than that, so every
payment shows up in the merchant's wallet. When the next index would break the limit (20 addresses
in a row are unpaid), the policy is to **offer again the oldest released, never-used address**:
its sale ended without payment (``release``) and no money ever arrived at it. That is not address
reuse in Bitcoin's sense (one address receiving twice), and the map keeps both sales. If a
``check_unused`` callback is given (a chain source lookup), the candidate is checked on the chain
first, outside the write transaction; money found there marks it used and the next one is tried.
When no released address is left (20 sales are all still waiting), ``GapLimitReached`` is raised:
the till must finish or cancel a waiting on-chain sale first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiosqlite

from appliance.store.db import fetch_one, transaction
from bitagora_protocol.journal import utc_now

GAP_LIMIT = 20


class AddressSource(Protocol):
    """What allocation needs of a watch-only wallet (appliance.wallet's WatchOnlyWallet)."""

    @property
    def descriptor(self) -> str: ...

    def receive_address(self, index: int) -> str: ...


class AddressError(RuntimeError):
    """An address cannot be allocated or updated."""


class GapLimitReached(AddressError):
    """Every address within the gap limit belongs to a sale still waiting for payment."""


@dataclass(frozen=True)
class Allocation:
    sale_id: str
    wallet_id: str
    index: int
    address: str
    allocated_at: str
    reused: bool  # offered before to a sale that ended unpaid (never received money)


def wallet_id(descriptor: str) -> str:
    """The index space of one wallet: the canonical descriptor's SHA-256, first 16 hex digits."""
    return hashlib.sha256(descriptor.encode()).hexdigest()[:16]


async def allocate(
    conn: aiosqlite.Connection,
    wallet: AddressSource,
    sale_id: str,
    *,
    gap_limit: int = GAP_LIMIT,
    check_unused: Callable[[str], Awaitable[bool]] | None = None,
) -> Allocation:
    """The receive address for ``sale_id``, reserved durably before it is returned."""
    if gap_limit < 1:
        raise AddressError(f"gap limit must be at least 1, got {gap_limit}")
    wid = wallet_id(wallet.descriptor)
    while True:
        existing = await for_sale(conn, sale_id)
        if existing is not None:
            return existing
        next_index, last_used = await _window(conn, wid)
        if next_index - last_used <= gap_limit:
            address = wallet.receive_address(next_index)  # before BEGIN: derivation is CPU work
            async with transaction(conn):
                # Re-read inside the transaction: another writer may have taken the index.
                again, _ = await _window(conn, wid)
                if again != next_index:
                    continue
                at = utc_now()
                await conn.execute(
                    "INSERT INTO wallet_addresses (wallet_id, idx, address, state)"
                    " VALUES (?, ?, ?, 'open')",
                    (wid, next_index, address),
                )
                await _map(conn, sale_id, wid, next_index, address, at)
            return Allocation(sale_id, wid, next_index, address, at, False)
        candidate = await _oldest_released(conn, wid)
        if candidate is None:
            raise GapLimitReached(
                f"{gap_limit} on-chain sales in a row are still waiting for payment; finish or "
                "cancel one before starting another (a wallet restored from the seed would not "
                "see an address further out)"
            )
        index, address = candidate
        if check_unused is not None and not await check_unused(address):
            await mark_used(conn, address)
            continue
        async with transaction(conn):
            cursor = await conn.execute(
                "UPDATE wallet_addresses SET state = 'open' WHERE wallet_id = ? AND idx = ?"
                " AND state = 'released' AND used_at IS NULL",
                (wid, index),
            )
            if cursor.rowcount != 1:
                continue  # changed under us: look again
            at = utc_now()
            await _map(conn, sale_id, wid, index, address, at)
        return Allocation(sale_id, wid, index, address, at, True)


async def _window(conn: aiosqlite.Connection, wid: str) -> tuple[int, int]:
    """(next fresh index, last index that received money or -1)."""
    row = await fetch_one(
        conn,
        "SELECT coalesce(max(idx) + 1, 0),"
        " coalesce(max(CASE WHEN used_at IS NOT NULL THEN idx END), -1)"
        " FROM wallet_addresses WHERE wallet_id = ?",
        (wid,),
    )
    assert row is not None
    return int(row[0]), int(row[1])


async def _oldest_released(conn: aiosqlite.Connection, wid: str) -> tuple[int, str] | None:
    row = await fetch_one(
        conn,
        "SELECT idx, address FROM wallet_addresses WHERE wallet_id = ?"
        " AND state = 'released' AND used_at IS NULL ORDER BY idx LIMIT 1",
        (wid,),
    )
    return (int(row[0]), str(row[1])) if row else None


async def _map(
    conn: aiosqlite.Connection, sale_id: str, wid: str, index: int, address: str, at: str
) -> None:
    await conn.execute(
        "INSERT INTO wallet_address_sales (sale_id, wallet_id, idx, address, allocated_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (sale_id, wid, index, address, at),
    )


def _allocation(row: aiosqlite.Row | tuple[object, ...], reused: bool) -> Allocation:
    sale_id, wid, index, address, at = tuple(row)
    return Allocation(str(sale_id), str(wid), int(str(index)), str(address), str(at), reused)


async def for_sale(conn: aiosqlite.Connection, sale_id: str) -> Allocation | None:
    row = await fetch_one(
        conn,
        "SELECT m.sale_id, m.wallet_id, m.idx, m.address, m.allocated_at,"
        " EXISTS (SELECT 1 FROM wallet_address_sales o WHERE o.address = m.address"
        "         AND o.rowid < m.rowid)"
        " FROM wallet_address_sales m WHERE m.sale_id = ?",
        (sale_id,),
    )
    if row is None:
        return None
    return _allocation(tuple(row)[:5], bool(row[5]))


async def sales_for_address(conn: aiosqlite.Connection, address: str) -> list[str]:
    """Every sale the address was shown for, oldest first (more than one only after a reuse)."""
    rows = await conn.execute_fetchall(
        "SELECT sale_id FROM wallet_address_sales WHERE address = ? ORDER BY rowid",
        (address,),
    )
    return [str(row[0]) for row in rows]


async def release(conn: aiosqlite.Connection, sale_id: str) -> bool:
    """The sale ended without payment: its address may be offered again if it stays unused.

    Returns False when the sale has no address or was released already."""
    async with transaction(conn):
        row = await fetch_one(
            conn,
            "SELECT wallet_id, idx FROM wallet_address_sales"
            " WHERE sale_id = ? AND released_at IS NULL",
            (sale_id,),
        )
        if row is None:
            return False
        await conn.execute(
            "UPDATE wallet_address_sales SET released_at = ? WHERE sale_id = ?",
            (utc_now(), sale_id),
        )
        await conn.execute(
            "UPDATE wallet_addresses SET state = 'released' WHERE wallet_id = ? AND idx = ?",
            (row[0], row[1]),
        )
    return True


async def mark_used(conn: aiosqlite.Connection, address: str) -> None:
    """Money arrived at the address (any amount, any confirmations): never offer it again."""
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE wallet_addresses SET used_at = coalesce(used_at, ?) WHERE address = ?",
            (utc_now(), address),
        )
        if cursor.rowcount != 1:
            raise AddressError(f"{address} is not one of the till's addresses")


async def unused_in_a_row(conn: aiosqlite.Connection, wallet: AddressSource) -> int:
    """How many allocated addresses follow the last used one (what the gap limit bounds)."""
    next_index, last_used = await _window(conn, wallet_id(wallet.descriptor))
    return next_index - last_used - 1
