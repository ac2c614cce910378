"""Catalog versions: a catalog is replaced in one transaction with its ``catalog`` record.

Every change of the catalog the till sells from is a journal record naming the new version (1, 2,
3… per device) and the SHA-256 of the catalog's canonical form (docs/PROTOCOL.md 1.7,
``bitagora_protocol.catalog``), so an auditor can tell which price list a sale was priced from.
``catalog_state`` holds the version in force; writes to the catalog tables made any other way
(the demo seed, an older release after a rollback) are noticed (migration 0015 says how), and
``ensure_recorded`` records what they left, as a version of its own. An import keeps the rows it
replaces (``catalog_history``), so that a sale open across it still prices from its version.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.core.catalog import CatalogChange, compare
from appliance.store import catalog, catalog_history, journal
from appliance.store.db import fetch_one, transaction
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.catalog import FORMAT, CatalogItem, catalog_sha256
from bitagora_protocol.journal import Record

CLI = {"via": "cli"}


@dataclass(frozen=True)
class CatalogVersion:
    """The catalog version in force. ``version`` 0: none recorded yet. ``recorded`` is False when
    the catalog tables were written since, outside an import (``ensure_recorded`` fixes it)."""

    version: int
    sha256: str | None
    seq: int | None
    recorded: bool


@dataclass(frozen=True)
class Applied:
    """The outcome of replacing the catalog. ``seq`` is the ``catalog`` record's, None when the
    catalog was already exactly this one (nothing written, no new version)."""

    version: int
    sha256: str
    seq: int | None
    products: int
    change: CatalogChange

    @property
    def unchanged(self) -> bool:
        return self.seq is None


async def current_version(conn: aiosqlite.Connection) -> CatalogVersion:
    """The version sales are priced from now (what a sale names)."""
    row = await fetch_one(
        conn,
        "SELECT version, sha256, seq, changed OR EXISTS (SELECT 1 FROM products"
        " WHERE search_name IS NULL) FROM catalog_state",
    )
    if row is None:  # pragma: no cover - the migration inserts the row
        return CatalogVersion(0, None, None, False)
    version, sha256, seq, changed = row
    return CatalogVersion(int(version), sha256, seq, not changed)


async def apply(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    currency: str,
    items: Sequence[CatalogItem],
    source: Mapping[str, Any],
    by: Mapping[str, Any] | None = CLI,
) -> Applied:
    """Make ``items`` the catalog (replacing all of it) and journal it as a new version, in one
    transaction: a sale never sees half of it, and a crash leaves the old catalog or the new one
    with its record. Nothing is written when the catalog already is ``items``."""
    new = {item.sku: item for item in items}
    if len(new) != len(items):
        raise ValueError("two catalog items share a sku")
    sha256 = await asyncio.to_thread(_sha256, currency, items)  # seconds at 500,000: off the loop
    # The catalog held is read before the write lock is taken, to keep the lock short (a sale
    # waits for it), and again inside only if a version was recorded meanwhile.
    before = await current_version(conn)
    old = {item.sku: item for item in await catalog.catalog_items(conn)}
    change = await asyncio.to_thread(compare, old, new)
    async with transaction(conn):
        state = await current_version(conn)
        if state != before or not state.recorded:
            old = {item.sku: item for item in await catalog.catalog_items(conn)}
            change = await asyncio.to_thread(compare, old, new)
        if state.recorded and state.sha256 is not None:
            held = state.sha256  # the tables hold what the record says
        else:
            held = await asyncio.to_thread(_sha256, currency, list(old.values()))
        same_currency = await _same_currency(conn, currency)
        if held == sha256 and same_currency:
            if state.sha256 == sha256:
                if not state.recorded:
                    await catalog.rebuild_search(conn)
                await conn.execute("UPDATE catalog_state SET changed = 0")
                return Applied(state.version, sha256, None, len(new), change)
        else:
            if state.recorded and state.version > 0 and same_currency:
                # What a sale in progress at state.version still prices from.
                await catalog_history.keep_replaced(conn, state.version, change)
            # Only what differs is written; all of it when prices are in another currency.
            await catalog.write_items(conn, currency, items, old if same_currency else None)
        if not state.recorded:
            await catalog.rebuild_search(conn)  # rows an older release wrote: index them
        record = await _record(
            conn, identity, state, currency, sha256, len(new), change, source, by
        )
    return Applied(state.version + 1, sha256, record.seq, len(new), change)


async def ensure_recorded(
    conn: aiosqlite.Connection, identity: DeviceIdentity, currency: str
) -> CatalogVersion:
    """If the catalog tables were written outside an import, index them for search again and
    record what they hold as a new version (or confirm the recorded one, when it is the same).
    Meant for start-up, before the first sale."""
    state = await current_version(conn)
    if state.recorded:
        return state
    async with transaction(conn):
        state = await current_version(conn)
        if state.recorded:
            return state
        await catalog.rebuild_search(conn)
        items = await catalog.catalog_items(conn)
        sha256 = await asyncio.to_thread(_sha256, currency, items)
        if sha256 == state.sha256 or (state.version == 0 and not items):
            await conn.execute("UPDATE catalog_state SET changed = 0")
        else:
            change = CatalogChange(0, 0, 0, len(items))  # what changed is not known
            await _record(
                conn, identity, state, currency, sha256, len(items), change, {"kind": "local"}, None
            )
    return await current_version(conn)


def _sha256(currency: str, items: Sequence[CatalogItem]) -> str:
    return catalog_sha256(currency, (item.canonical() for item in items))


async def _same_currency(conn: aiosqlite.Connection, currency: str) -> bool:
    row = await fetch_one(conn, "SELECT count(*) FROM products WHERE currency != ?", (currency,))
    return row is not None and row[0] == 0


async def _record(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    state: CatalogVersion,
    currency: str,
    sha256: str,
    products: int,
    change: CatalogChange,
    source: Mapping[str, Any],
    by: Mapping[str, Any] | None,
) -> Record:
    version = state.version + 1
    body = {
        "version": version,
        "sha256": sha256,
        "format": FORMAT,
        "currency": currency,
        "products": products,
        "added": change.added,
        "changed": change.changed,
        "removed": change.removed,
        "previous": {"version": state.version, "sha256": state.sha256},
        "source": dict(source),
        "by": dict(by) if by is not None else None,
    }
    record = await journal.append(conn, identity, "catalog", body)
    await conn.execute(
        "UPDATE catalog_state SET version = ?, sha256 = ?, seq = ?, changed = 0",
        (version, sha256, record.seq),
    )
    return record
