"""The catalog as it was at a recent version: what a sale in progress is priced from.

A cart names the catalog version it started at, and every product it takes (a scan, a tap on the
grid) must be priced from that version even when an import lands before it is paid, so that an
auditor can reproduce each line's price from the version the sale names (docs/CATALOG.md). An
import keeps the rows it replaces (``keep_replaced``, in its own transaction): each product it
changed, removed or added, as it was at the version it replaced, keyed by that version
(migration 0017). A product's state at version v is then its first kept row of a version ≥ v,
or, when there is none, its row in ``products``. One SQL statement reads it, so an import
committing meanwhile cannot mix two versions.

Only the last ``KEEP_VERSIONS`` versions are kept, so the tables never grow past a few imports'
changes; a lookup at an older version raises ``VersionNotKept``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiosqlite

from appliance.core.catalog import CatalogChange, Product
from appliance.store.catalog import PRODUCT_COLUMNS, product_from_row

# A sale keeps its prices through this many imports landing while it is open; a sale open
# across more sells what its cart holds but takes no more products. Each version kept costs a
# row for every product its import changed, removed or added.
KEEP_VERSIONS = 3


class VersionNotKept(LookupError):
    """The catalog version asked for is older than the versions kept (or was replaced outside an
    import, with nothing kept): its prices cannot be told any more."""


# The version asked for (the one in force when none is) and whether its rows are all kept.
_AT = """
at AS (SELECT coalesce(:version, version) AS v, version AS cur FROM catalog_state),
kept AS (SELECT v, (SELECT count(*) FROM catalog_history_versions k
                    WHERE k.version >= v AND k.version < cur) = cur - v AS ok FROM at)
"""
# A product's kept row at the version asked for: the first of a version at or after it.
_KEPT_ROW = (
    "(SELECT min(h.version) FROM catalog_history h"
    " WHERE h.sku = {sku} AND h.version >= (SELECT v FROM at))"
)
_HISTORY_COLUMNS = (
    "h.sku, h.name, h.category, h.price_minor, h.currency, h.tax_code, h.tax_bp,"
    " h.price_includes_tax, h.barcode"
)


async def product_by_sku(
    conn: aiosqlite.Connection, sku: str, version: int | None
) -> Product | None:
    """Product ``sku`` as version ``version`` sold it (the version in force for None); None
    when it was not for sale then (not in that catalog, or inactive)."""
    sql = (
        f"WITH {_AT}, state AS (SELECT :sku AS sku, {_KEPT_ROW.format(sku=':sku')} AS hv),"
        f" found AS (SELECT {_HISTORY_COLUMNS} FROM state"
        " JOIN catalog_history h ON h.sku = state.sku AND h.version = state.hv"
        " WHERE h.present AND h.active"
        f" UNION ALL SELECT {PRODUCT_COLUMNS} FROM state JOIN products p ON p.sku = state.sku"
        " JOIN tax_rates t ON t.code = p.tax_code WHERE state.hv IS NULL AND p.active = 1)"
        " SELECT kept.ok, found.* FROM kept LEFT JOIN found ON kept.ok"
    )
    return await _one(conn, sql, {"version": version, "sku": sku})


async def product_by_barcode(
    conn: aiosqlite.Connection, keys: Sequence[str], version: int | None
) -> Product | None:
    """The product for sale at ``version`` (the version in force for None) stored under the
    first of ``keys`` that has one (``Barcode.lookup_keys``: the stored form first, then older
    forms of the same code). A code may have moved between products since: it is looked up
    among the codes the products held at that version."""
    if not keys:
        return None
    values = ", ".join(f"(:k{i}, {i})" for i in range(len(keys)))
    sql = (
        f"WITH {_AT}, keys (code, k) AS (VALUES {values}),"
        # Who may have held the code then: who holds it now, and whose replaced rows held it.
        " candidates (k, code, sku) AS ("
        " SELECT keys.k, keys.code, b.sku FROM keys JOIN product_barcodes b ON b.code = keys.code"
        # Rows an older release wrote (after a rollback) have only products.barcode.
        " UNION ALL SELECT keys.k, keys.code, p.sku FROM keys"
        " JOIN products p ON p.barcode = keys.code"
        " UNION ALL SELECT keys.k, keys.code, c.sku FROM keys JOIN catalog_history_codes c"
        " ON c.code = keys.code AND c.version >= (SELECT v FROM at)),"
        f" state AS (SELECT k, code, sku, {_KEPT_ROW.format(sku='candidates.sku')} AS hv"
        " FROM candidates),"
        f" found AS (SELECT state.k, {_HISTORY_COLUMNS} FROM state"
        " JOIN catalog_history h ON h.sku = state.sku AND h.version = state.hv"
        " WHERE h.present AND h.active AND EXISTS (SELECT 1 FROM catalog_history_codes c"
        " WHERE c.code = state.code AND c.version = state.hv AND c.sku = state.sku)"
        f" UNION ALL SELECT state.k, {PRODUCT_COLUMNS} FROM state"
        " JOIN products p ON p.sku = state.sku JOIN tax_rates t ON t.code = p.tax_code"
        " WHERE state.hv IS NULL AND p.active = 1 AND (p.barcode = state.code OR EXISTS"
        " (SELECT 1 FROM product_barcodes b WHERE b.code = state.code AND b.sku = state.sku))"
        " ORDER BY 1 LIMIT 1)"
        " SELECT kept.ok, found.sku, found.name, found.category, found.price_minor,"
        " found.currency, found.tax_code, found.tax_bp, found.price_includes_tax, found.barcode"
        " FROM kept LEFT JOIN found ON kept.ok"
    )
    params: dict[str, Any] = {"version": version, **{f"k{i}": key for i, key in enumerate(keys)}}
    return await _one(conn, sql, params)


async def _one(conn: aiosqlite.Connection, sql: str, params: dict[str, Any]) -> Product | None:
    rows = list(await conn.execute_fetchall(sql, params))
    ok, *product = tuple(rows[0])
    if not ok:
        raise VersionNotKept("that catalog version's prices are no longer kept")
    return None if product[0] is None else product_from_row(product)


async def keep_replaced(conn: aiosqlite.Connection, version: int, change: CatalogChange) -> None:
    """Before the tables, which hold ``version``, take the catalog ``change`` leads to: keep
    every product it changes, removes or adds as it was at ``version``, mark ``version`` kept,
    and forget versions older than the last ``KEEP_VERSIONS``. Inside the import's transaction
    (the caller's), before anything is written."""
    if not conn.in_transaction:
        raise RuntimeError("keep_replaced needs the import's open write transaction")
    replaced = [(sku,) for sku in change.replaced_skus]
    added = [(sku, version) for sku in change.added_skus]
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS replaced (sku TEXT PRIMARY KEY)")
    await conn.execute("DELETE FROM temp.replaced")
    await conn.executemany("INSERT INTO temp.replaced (sku) VALUES (?)", replaced)
    await conn.execute(
        "INSERT INTO catalog_history (sku, version, present, name, category, price_minor,"
        " currency, tax_code, tax_bp, price_includes_tax, barcode, active)"
        " SELECT p.sku, ?, 1, p.name, p.category, p.price_minor, p.currency, p.tax_code,"
        " t.basis_points, p.price_includes_tax, p.barcode, p.active"
        " FROM temp.replaced r JOIN products p ON p.sku = r.sku"
        " JOIN tax_rates t ON t.code = p.tax_code",
        (version,),
    )
    await conn.execute(
        "INSERT OR IGNORE INTO catalog_history_codes (code, version, sku)"
        " SELECT b.code, ?, b.sku FROM temp.replaced r JOIN product_barcodes b ON b.sku = r.sku"
        " UNION SELECT p.barcode, ?, p.sku FROM temp.replaced r JOIN products p"
        " ON p.sku = r.sku WHERE p.barcode IS NOT NULL",
        (version, version),
    )
    await conn.execute("DELETE FROM temp.replaced")
    await conn.executemany(
        "INSERT INTO catalog_history (sku, version, present) VALUES (?, ?, 0)", added
    )
    await conn.execute("INSERT INTO catalog_history_versions (version) VALUES (?)", (version,))
    oldest = version + 1 - KEEP_VERSIONS
    for table in ("catalog_history", "catalog_history_codes", "catalog_history_versions"):
        await conn.execute(f"DELETE FROM {table} WHERE version < ?", (oldest,))
