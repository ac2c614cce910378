"""Catalog and staff as the kiosk reads them.

The kiosk reads the catalog a page at a time (``categories``, ``page``, ``search``,
``product_by_barcode``), each an indexed query, so that 50,000+ products never sit in memory.
Barcodes are stored in the form ``bitagora_protocol.barcode.catalog_key`` gives (UPC-A and UPC-E
as EAN-13), every one of a product in ``product_barcodes``, the first also in
``products.barcode``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.core.catalog import Product, TaxRate, fold
from appliance.core.pin import check_pin, hash_pin
from appliance.store.db import fetch_one, transaction
from bitagora_protocol import barcode
from bitagora_protocol.badge_uid import BadgeUidError, normalize_uid
from bitagora_protocol.catalog import CatalogItem
from bitagora_protocol.money import Money


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    role: str


PRODUCT_SQL = """
SELECT p.sku, p.name, p.category, p.price_minor, p.currency, p.tax_code, t.basis_points,
       p.price_includes_tax, p.barcode
FROM products p JOIN tax_rates t ON t.code = p.tax_code
"""
# Display order of a category page, and of the search index's rows (store/migrations/0015).
PAGE_ORDER = "p.position, p.search_name, p.sku"
DISPLAY_ORDER = "p.category, " + PAGE_ORDER
PAGE_SIZE = 60
# The search index, as migration 0015 makes it (rebuild_search makes it again).
SEARCH_TABLE = (
    "CREATE VIRTUAL TABLE product_search USING fts5 ("
    "sku UNINDEXED, search_name, tokenize = 'trigram case_sensitive 1')"
)
# Trigrams need three characters; shorter searches find names starting with the query.
TRIGRAM = 3
_TOP = "\U0010ffff"  # sorts after every other character: prefix ≤ name < prefix + _TOP


def _product(row: Any) -> Product:
    sku, name, category, price, currency, tax_code, bp, inclusive, barcode = tuple(row)
    return Product(
        sku, name, Money(price, currency), TaxRate(tax_code, bp), category, bool(inclusive), barcode
    )


async def products(conn: aiosqlite.Connection) -> list[Product]:
    """Every product for sale. Loads the whole catalog: for small catalogs and tools only; the
    kiosk reads ``page`` and ``search``."""
    rows = await conn.execute_fetchall(
        PRODUCT_SQL + " WHERE p.active = 1 ORDER BY p.category, p.position, p.name"
    )
    return [_product(row) for row in rows]


async def product_by_barcode(conn: aiosqlite.Connection, keys: Sequence[str]) -> Product | None:
    """The product for sale stored under the first of ``keys`` that has one
    (``Barcode.lookup_keys``: the stored form first, then older forms of the same code)."""
    if not keys:
        return None
    marks = ", ".join("?" * len(keys))
    for sql in (
        PRODUCT_SQL + " JOIN product_barcodes b ON b.sku = p.sku"
        f" WHERE b.code IN ({marks}) AND p.active = 1 ORDER BY CASE b.code {{}} END LIMIT 1",
        # Rows an older release wrote (after a rollback) have only products.barcode.
        PRODUCT_SQL
        + f" WHERE p.barcode IN ({marks}) AND p.active = 1 ORDER BY CASE p.barcode {{}} END"
        " LIMIT 1",
    ):
        order = " ".join(f"WHEN ? THEN {i}" for i in range(len(keys)))
        rows = list(await conn.execute_fetchall(sql.format(order), (*keys, *keys)))
        if rows:
            return _product(rows[0])
    return None


async def categories(conn: aiosqlite.Connection) -> dict[str, int]:
    """Each category with products for sale, and how many, in display order (by name, folded)."""
    rows = await conn.execute_fetchall("SELECT category, products FROM product_categories")
    counts = {str(category): int(count) for category, count in rows}
    return {c: counts[c] for c in sorted(counts, key=lambda c: (fold(c), c))}


async def product_count(conn: aiosqlite.Connection) -> int:
    """How many products the catalog holds, inactive ones too."""
    row = await fetch_one(conn, "SELECT count(*) FROM products")
    return int(row[0]) if row else 0


async def category_count(conn: aiosqlite.Connection, category: str) -> int:
    row = await fetch_one(
        conn, "SELECT products FROM product_categories WHERE category = ?", (category,)
    )
    return int(row[0]) if row else 0


async def page(
    conn: aiosqlite.Connection, category: str, offset: int = 0, limit: int = PAGE_SIZE
) -> list[Product]:
    """Products ``offset`` … ``offset + limit - 1`` of a category, by position, then name."""
    # The offset is skipped in the index alone (it holds sku), not by joining every row skipped.
    rows = await conn.execute_fetchall(
        f"WITH hits AS (SELECT p.sku, row_number() OVER (ORDER BY {PAGE_ORDER}) AS r"
        " FROM products p WHERE p.category = ? AND p.active = 1"
        f" ORDER BY {PAGE_ORDER} LIMIT ? OFFSET ?)" + _FROM_HITS,
        (category, limit, offset),
    )
    return [_product(row) for row in rows]


@dataclass(frozen=True)
class PageKey:
    """Where a page of a category ended: the next page starts after it (``page_after``)."""

    position: int
    search_name: str
    sku: str


async def page_after(
    conn: aiosqlite.Connection, category: str, after: PageKey | None, limit: int = PAGE_SIZE
) -> tuple[list[Product], PageKey | None]:
    """The ``limit`` products of a category that follow ``after`` (from the first with None),
    and the key to ask for the next page with (None after the last). Unlike ``page``'s offset,
    the cost does not grow with how far the cashier has scrolled."""
    start = (-1, "", "") if after is None else (after.position, after.search_name, after.sku)
    rows = list(
        await conn.execute_fetchall(
            "WITH hits AS (SELECT p.sku, p.position, p.search_name,"
            f" row_number() OVER (ORDER BY {PAGE_ORDER}) AS r FROM products p"
            " WHERE p.category = ? AND p.active = 1"
            " AND (p.position, p.search_name, p.sku) > (?, ?, ?)"
            f" ORDER BY {PAGE_ORDER} LIMIT ?)"
            + _FROM_HITS.replace("SELECT p.sku,", "SELECT hits.position, hits.search_name, p.sku,"),
            (category, *start, limit),
        )
    )
    products = [_product(tuple(row)[2:]) for row in rows]
    if len(rows) < limit:
        return products, None
    last = tuple(rows[-1])
    return products, PageKey(last[0], last[1], last[2])


async def search(
    conn: aiosqlite.Connection, query: str, offset: int = 0, limit: int = PAGE_SIZE
) -> list[Product]:
    """Products for sale whose name contains ``query``, ignoring case and accents ("agua" finds
    "Água mineral"), in display order (category, position, name). A query of one or two
    characters (after folding) finds names that start with it instead, by name."""
    needle = fold(query.strip())
    if not needle:
        return []
    if len(needle) < TRIGRAM:
        rows = await conn.execute_fetchall(
            "WITH hits AS (SELECT p.sku,"
            " row_number() OVER (ORDER BY p.search_name, p.sku) AS r FROM products p"
            " WHERE p.active = 1 AND p.search_name >= ? AND p.search_name < ?"
            " ORDER BY p.search_name, p.sku LIMIT ? OFFSET ?)" + _FROM_HITS,
            (needle, needle + _TOP, limit, offset),
        )
        return [_product(row) for row in rows]
    rows = await conn.execute_fetchall(
        "WITH hits AS (SELECT sku, rowid AS r FROM product_search WHERE product_search MATCH ?"
        " ORDER BY rowid LIMIT ? OFFSET ?)" + _FROM_HITS,
        (_phrase(needle), limit, offset),
    )
    return [_product(row) for row in rows]


# A page of skus (``hits``: sku, r = order) joined to their products, in that order.
_FROM_HITS = (
    PRODUCT_SQL.replace("FROM products p", "FROM hits JOIN products p ON p.sku = hits.sku")
    + " WHERE p.active = 1 ORDER BY hits.r"
)


async def search_count(conn: aiosqlite.Connection, query: str, at_most: int | None = None) -> int:
    """How many products ``search`` finds for ``query`` in all, or ``at_most`` when there are
    more (counting every hit of a common trigram at 500,000 products takes tens of ms)."""
    cap = "" if at_most is None else f" LIMIT {int(at_most)}"
    needle = fold(query.strip())
    if not needle:
        return 0
    if len(needle) < TRIGRAM:
        row = await fetch_one(
            conn,
            "SELECT count(*) FROM (SELECT 1 FROM products WHERE active = 1 AND search_name >= ?"
            f" AND search_name < ?{cap})",
            (needle, needle + _TOP),
        )
    else:
        row = await fetch_one(
            conn,
            "SELECT count(*) FROM (SELECT 1 FROM product_search WHERE product_search MATCH ?"
            f"{cap})",
            (_phrase(needle),),
        )
    return int(row[0]) if row else 0


def _phrase(needle: str) -> str:
    """An FTS5 string (a phrase: with trigrams, "contains this text")."""
    return '"' + needle.replace('"', '""') + '"'


ITEM_SQL = """
SELECT p.sku, p.name, p.category, p.price_minor, p.tax_code, t.basis_points,
       p.price_includes_tax, p.position, p.active, p.barcode,
       (SELECT json_group_array(code) FROM
            (SELECT code FROM product_barcodes b WHERE b.sku = p.sku ORDER BY b.ord))
FROM products p JOIN tax_rates t ON t.code = p.tax_code
"""


async def catalog_items(conn: aiosqlite.Connection) -> list[CatalogItem]:
    """The whole catalog as a file holds it (inactive products too), in display order."""
    rows = await conn.execute_fetchall(ITEM_SQL + f" ORDER BY {DISPLAY_ORDER}")
    # 500,000 objects take seconds: made off the event loop.
    return await asyncio.to_thread(lambda: [_item(row) for row in rows])


def _item(row: Any) -> CatalogItem:
    sku, name, category, price, code, bp, inclusive, position, active, first, codes = row
    barcodes = tuple(json.loads(codes)) or ((first,) if first else ())
    return CatalogItem(
        sku, name, category, price, code, bp, bool(inclusive), barcodes, position, bool(active)
    )


async def tax_codes(conn: aiosqlite.Connection) -> dict[str, int]:
    """The device's tax codes and their rates in basis points."""
    rows = await conn.execute_fetchall("SELECT code, basis_points FROM tax_rates")
    return {str(code): int(bp) for code, bp in rows}


async def write_items(
    conn: aiosqlite.Connection,
    currency: str,
    items: Sequence[CatalogItem],
    held: Mapping[str, CatalogItem] | None = None,
) -> None:
    """Make ``items`` the whole catalog; the caller owns the transaction
    (``catalog_versions.apply``). ``held`` is what the tables hold now (by sku): only the
    products that differ are written, and the search index is made again only if a name,
    category, position or the set of products for sale changed. Without it, everything is
    deleted and written."""
    if not conn.in_transaction:
        raise RuntimeError("write_items needs an open write transaction")
    rates = {item.tax_code: item.tax_bp for item in items}
    await conn.executemany(
        "INSERT INTO tax_rates (code, basis_points) VALUES (?, ?) "
        "ON CONFLICT (code) DO UPDATE SET basis_points = excluded.basis_points"
        " WHERE basis_points != excluded.basis_points",
        sorted(rates.items()),
    )
    if held is None:
        await conn.execute("DELETE FROM product_barcodes")
        await conn.execute("DELETE FROM products")
        held = {}
    skus = {item.sku for item in items}
    removed = [(sku,) for sku in held if sku not in skus]
    written = [i for i in items if held.get(i.sku) != i]
    await conn.executemany("DELETE FROM product_barcodes WHERE sku = ?", removed)
    await conn.executemany("DELETE FROM products WHERE sku = ?", removed)
    recoded = [(i.sku,) for i in written if i.sku in held and held[i.sku].barcodes != i.barcodes]
    # A code may move from one product to another: free every changed product's codes first.
    await conn.executemany("DELETE FROM product_barcodes WHERE sku = ?", recoded)
    await conn.executemany("UPDATE products SET barcode = NULL WHERE sku = ?", recoded)
    await conn.executemany(
        "INSERT INTO products (sku, name, category, price_minor, currency, tax_code,"
        " price_includes_tax, barcode, position, active, search_name)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (sku) DO UPDATE SET name = excluded.name,"
        " category = excluded.category, price_minor = excluded.price_minor,"
        " currency = excluded.currency, tax_code = excluded.tax_code,"
        " price_includes_tax = excluded.price_includes_tax, barcode = excluded.barcode,"
        " position = excluded.position, active = excluded.active,"
        " search_name = excluded.search_name",
        [
            (
                i.sku,
                i.name,
                i.category,
                i.price,
                currency,
                i.tax_code,
                int(i.price_includes_tax),
                i.barcodes[0] if i.barcodes else None,
                i.position,
                int(i.active),
                fold(i.name),
            )
            for i in written
        ],
    )
    await conn.executemany(
        "INSERT INTO product_barcodes (code, sku, ord) VALUES (?, ?, ?)",
        [
            (code, i.sku, n)
            for i in written
            if i.sku not in held or held[i.sku].barcodes != i.barcodes
            for n, code in enumerate(i.barcodes)
        ],
    )
    if removed or any(_shown_differently(held.get(i.sku), i) for i in written):
        await rebuild_search(conn)


def _shown_differently(before: CatalogItem | None, after: CatalogItem) -> bool:
    """Whether the search index or the category counts must change for this product."""
    return before is None or (before.name, before.category, before.position, before.active) != (
        after.name,
        after.category,
        after.position,
        after.active,
    )


async def rebuild_search(conn: aiosqlite.Connection) -> None:
    """Fill in missing folded names (rows an older release wrote) and write the search index and
    the category counts again, the index in display order; the caller owns the transaction."""
    missing = await conn.execute_fetchall(
        "SELECT sku, name FROM products WHERE search_name IS NULL OR search_name = ''"
    )
    await conn.executemany(
        "UPDATE products SET search_name = ? WHERE sku = ?",
        [(fold(name), sku) for sku, name in missing],
    )
    # Dropping the index and making it afresh takes a tenth of the time of deleting its rows.
    await conn.execute("DROP TABLE product_search")
    await conn.execute(SEARCH_TABLE)
    await conn.execute(
        "INSERT INTO product_search (sku, search_name) SELECT p.sku, p.search_name"
        f" FROM products p WHERE p.active = 1 ORDER BY {DISPLAY_ORDER}"
    )
    await conn.execute("DELETE FROM product_categories")
    await conn.execute(
        "INSERT INTO product_categories (category, products)"
        " SELECT category, count(*) FROM products WHERE active = 1 GROUP BY category"
    )


async def save_products(conn: aiosqlite.Connection, items: list[Product]) -> None:
    """Insert or replace products (and their tax rates) in one transaction, in list order.

    For the demo catalog and tests; a shop's catalog comes in through ``catalog_versions``, which
    records its version. What this writes is recorded at the next ``ensure_recorded``."""
    async with transaction(conn):
        for position, product in enumerate(items):
            await conn.execute(
                "INSERT INTO tax_rates (code, basis_points) VALUES (?, ?) "
                "ON CONFLICT (code) DO UPDATE SET basis_points = excluded.basis_points",
                (product.tax.code, product.tax.basis_points),
            )
            key = barcode.catalog_key(product.barcode) if product.barcode else None
            await conn.execute(
                "INSERT OR REPLACE INTO products (sku, name, category, price_minor, currency, "
                "tax_code, price_includes_tax, barcode, position, search_name)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    product.sku,
                    product.name,
                    product.category,
                    product.price.minor,
                    product.price.currency,
                    product.tax.code,
                    int(product.price_includes_tax),
                    key,
                    position,
                    fold(product.name),
                ),
            )
            await conn.execute("DELETE FROM product_barcodes WHERE sku = ?", (product.sku,))
            if key:
                await conn.execute(
                    "INSERT OR REPLACE INTO product_barcodes (code, sku, ord) VALUES (?, ?, 0)",
                    (key, product.sku),
                )
        await rebuild_search(conn)
        await conn.execute("UPDATE catalog_state SET changed = 1")  # not a recorded version


class PinTaken(ValueError):
    """A PIN that already unlocks the till for someone else."""


async def add_staff(
    conn: aiosqlite.Connection, staff_id: str, name: str, role: str, pin: str
) -> Staff:
    """Add ``staff_id`` or replace their name, role and PIN. A PIN is who you are at the PIN pad,
    so one already someone else's is refused (the till would unlock as whoever comes first)."""
    async with transaction(conn):  # checked inside: two adds at once cannot both pass
        holder = await staff_by_pin(conn, pin)
        if holder is not None and holder.id != staff_id:
            raise PinTaken("that PIN already belongs to someone else: choose another")
        await conn.execute(
            "INSERT OR REPLACE INTO staff (id, name, role, pin_hash) VALUES (?, ?, ?, ?)",
            (staff_id, name, role, hash_pin(pin)),
        )
    return Staff(staff_id, name, role)


async def has_staff(conn: aiosqlite.Connection) -> bool:
    """Whether anybody at all may use the till."""
    row = await fetch_one(conn, "SELECT EXISTS (SELECT 1 FROM staff)")
    return bool(row and row[0])


async def all_staff(conn: aiosqlite.Connection) -> list[tuple[Staff, list[str]]]:
    """Everyone who may use the till, with the UIDs of their badges."""
    people = await conn.execute_fetchall("SELECT id, name, role FROM staff ORDER BY id")
    badges = await conn.execute_fetchall("SELECT staff_id, uid FROM staff_badges ORDER BY uid")
    held: dict[str, list[str]] = {}
    for staff_id, uid in badges:
        held.setdefault(staff_id, []).append(uid)
    return [(Staff(i, n, r), held.get(i, [])) for i, n, r in people]


async def staff_by_pin(conn: aiosqlite.Connection, pin: str) -> Staff | None:
    """The staff member whose PIN this is (each stored hash has its own salt, so check each)."""
    rows = await conn.execute_fetchall("SELECT id, name, role, pin_hash FROM staff ORDER BY id")

    def match() -> Staff | None:
        for staff_id, name, role, pin_hash in rows:
            if check_pin(pin, pin_hash):
                return Staff(staff_id, name, role)
        return None

    # scrypt is slow on purpose; off the event loop so the screen and drivers keep running.
    return await asyncio.to_thread(match)


class BadgeError(ValueError):
    """A badge UID that cannot be bound: malformed, or already someone else's."""


def normalize_badge_uid(uid: str) -> str:
    """``04:a2:24:…`` or ``04A224…`` → ``04A224…`` (``bitagora_protocol.badge_uid``)."""
    try:
        return normalize_uid(uid)
    except BadgeUidError as err:
        raise BadgeError(str(err)) from None


async def bind_badge(conn: aiosqlite.Connection, staff_id: str, uid: str) -> str:
    """Bind a badge to a staff member; binding it again to the same person is a no-op, to
    somebody else an error (a lost badge is unbound first, on purpose)."""
    uid = normalize_badge_uid(uid)
    async with transaction(conn):
        rows = list(
            await conn.execute_fetchall("SELECT staff_id FROM staff_badges WHERE uid = ?", (uid,))
        )
        if rows:
            owner = rows[0][0]
            if owner != staff_id:
                raise BadgeError(f"badge …{uid[-4:]} is already bound to {owner}")
            return uid
        known = await conn.execute_fetchall("SELECT 1 FROM staff WHERE id = ?", (staff_id,))
        if not known:
            raise BadgeError(f"no staff member {staff_id!r}")
        await conn.execute(
            "INSERT INTO staff_badges (uid, staff_id) VALUES (?, ?)", (uid, staff_id)
        )
    return uid


async def unbind_badge(conn: aiosqlite.Connection, uid: str) -> bool:
    """Forget a badge (lost, or handed back); False when it was not bound."""
    uid = normalize_badge_uid(uid)
    async with transaction(conn):
        cursor = await conn.execute("DELETE FROM staff_badges WHERE uid = ?", (uid,))
    return cursor.rowcount > 0


async def staff_by_badge(conn: aiosqlite.Connection, uid: str) -> Staff | None:
    """The staff member a badge belongs to; None for an unknown or malformed UID."""
    try:
        uid = normalize_badge_uid(uid)
    except BadgeError:
        return None
    rows = list(
        await conn.execute_fetchall(
            "SELECT s.id, s.name, s.role FROM staff_badges b JOIN staff s ON s.id = b.staff_id "
            "WHERE b.uid = ?",
            (uid,),
        )
    )
    if not rows:
        return None
    staff_id, name, role = tuple(rows[0])
    return Staff(staff_id, name, role)
