"""A merchant's catalog, shop settings and staff on central: what its devices are sent.

The catalog is read and written with the device's own CSV code (``bitagora_protocol.catalog_csv``,
docs/CATALOG.md): a file is parsed whole first, and only a file without a bad row replaces the
merchant's products, in one transaction with ``COPY`` (50,000 rows in well under a second).
Every change bumps the merchant's configuration version (``merchant_config``) in the same
transaction, so devices see it at their next fetch (docs/PROTOCOL.md 2.6).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from bitagora_protocol.catalog import CatalogItem
from bitagora_protocol.catalog_csv import CatalogFile, parse_catalog, render_catalog
from bitagora_protocol.config_document import PAYMENT_METHODS, ROLES, Settings, StaffEntry
from bitagora_protocol.languages import LANGUAGES

PRODUCT_COLUMNS = (
    "merchant_id",
    "sku",
    "name",
    "category",
    "price_minor",
    "tax_code",
    "tax_bp",
    "price_includes_tax",
    "barcodes",
    "active",
    "position",
)
# The columns ``product_of`` reads.
PRODUCT_FIELDS = ", ".join(PRODUCT_COLUMNS[1:])
DEFAULT_SETTINGS = Settings("EUR", (), ("Thank you!",), ("cash",))


class UnknownMerchant(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no merchant named {name!r}")


@dataclass(frozen=True)
class CatalogImported:
    merchant_id: int
    products: int
    version: int
    delimiter: str
    ignored_columns: tuple[str, ...]


async def merchant_id(conn: asyncpg.Connection, name: str) -> int:
    found = await conn.fetchval("SELECT id FROM merchants WHERE name = $1", name)
    if found is None:
        raise UnknownMerchant(name)
    return int(found)


async def settings(conn: asyncpg.Connection, merchant: int) -> Settings:
    row = await conn.fetchrow(
        "SELECT currency, receipt_header, receipt_footer, payment_methods, cash_rounding,"
        " language"
        " FROM merchant_settings WHERE merchant_id = $1",
        merchant,
    )
    if row is None:
        return DEFAULT_SETTINGS
    return Settings(
        row["currency"],
        tuple(row["receipt_header"]),
        tuple(row["receipt_footer"]),
        tuple(row["payment_methods"]),
        row["cash_rounding"],
        row["language"],
    )


async def set_settings(conn: asyncpg.Connection, merchant: int, new: Settings) -> int:
    """Replace the shop settings; return the new configuration version."""
    unknown = sorted(set(new.payment_methods) - PAYMENT_METHODS)
    if unknown:
        raise ValueError(f"unknown payment method {unknown[0]!r}")
    _check_language(new.language)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO merchant_settings (merchant_id, currency, receipt_header,"
            " receipt_footer, payment_methods, cash_rounding, language)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (merchant_id) DO UPDATE SET currency = EXCLUDED.currency,"
            " receipt_header = EXCLUDED.receipt_header, receipt_footer = EXCLUDED.receipt_footer,"
            " payment_methods = EXCLUDED.payment_methods,"
            " cash_rounding = EXCLUDED.cash_rounding, language = EXCLUDED.language",
            merchant,
            new.currency,
            list(new.header_lines),
            list(new.footer_lines),
            list(new.payment_methods),
            new.cash_rounding,
            new.language,
        )
        return await bump_version(conn, merchant)


async def staff(conn: asyncpg.Connection, merchant: int) -> list[StaffEntry]:
    rows = await conn.fetch(
        "SELECT staff_id, name, role, active, badges, language FROM merchant_staff"
        " WHERE merchant_id = $1 ORDER BY staff_id",
        merchant,
    )
    return [
        StaffEntry(
            r["staff_id"], r["name"], r["role"], r["active"], tuple(r["badges"]), r["language"]
        )
        for r in rows
    ]


async def put_staff(conn: asyncpg.Connection, merchant: int, person: StaffEntry) -> int:
    """Add or change a staff member (never a PIN); return the new configuration version."""
    if person.role not in ROLES:
        raise ValueError(f"role must be one of {sorted(ROLES)}")
    _check_language(person.language)
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO merchant_staff (merchant_id, staff_id, name, role, active, badges,"
            " language) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (merchant_id, staff_id) DO UPDATE SET name = EXCLUDED.name,"
            " role = EXCLUDED.role, active = EXCLUDED.active, badges = EXCLUDED.badges,"
            " language = EXCLUDED.language",
            merchant,
            person.id,
            person.name,
            person.role,
            person.active,
            list(person.badges),
            person.language,
        )
        return await bump_version(conn, merchant)


def _check_language(language: str | None) -> None:
    """A shop's or person's language is one the devices speak, or None (not set)."""
    if language is not None and language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")


async def bump_version(conn: asyncpg.Connection, merchant: int) -> int:
    """Make the merchant's configuration one version newer (inside the change's transaction)."""
    version = await conn.fetchval(
        "INSERT INTO merchant_config (merchant_id, version, changed_at) VALUES ($1, 1, now())"
        " ON CONFLICT (merchant_id) DO UPDATE SET version = merchant_config.version + 1,"
        " changed_at = now() RETURNING version",
        merchant,
    )
    return int(version)


async def products(
    conn: asyncpg.Connection, merchant: int, shelf_order: bool = False
) -> list[CatalogItem]:
    """Every product, in order of sku by code point (the canonical order), or with
    ``shelf_order`` by category, position and name (the sell screen's, as the device exports)."""
    order_by = "category, position, name, sku" if shelf_order else 'sku COLLATE "C"'
    rows = await conn.fetch(
        f"SELECT {PRODUCT_FIELDS} FROM merchant_products WHERE merchant_id = $1"
        f" ORDER BY {order_by}",
        merchant,
    )
    return [product_of(r) for r in rows]


async def product(conn: asyncpg.Connection, merchant: int, sku: str) -> CatalogItem | None:
    row = await conn.fetchrow(
        f"SELECT {PRODUCT_FIELDS} FROM merchant_products WHERE merchant_id = $1 AND sku = $2",
        merchant,
        sku,
    )
    return None if row is None else product_of(row)


def product_of(r: Mapping[str, Any]) -> CatalogItem:
    """A ``merchant_products`` row, selected as ``PRODUCT_FIELDS``, as a catalog item."""
    return CatalogItem(
        r["sku"],
        r["name"],
        r["category"],
        r["price_minor"],
        r["tax_code"],
        r["tax_bp"],
        r["price_includes_tax"],
        tuple(r["barcodes"]),
        r["position"],
        r["active"],
    )


async def import_csv(conn: asyncpg.Connection, merchant_name: str, data: bytes) -> CatalogImported:
    """Make the file the named merchant's whole catalog (``import_file``); raises
    ``UnknownMerchant`` too."""
    return await import_file(conn, await merchant_id(conn, merchant_name), data)


async def import_file(conn: asyncpg.Connection, merchant: int, data: bytes) -> CatalogImported:
    """Make the file the merchant's whole catalog. Raises ``CatalogFileError`` (every bad row, by
    line and column; nothing changed)."""
    currency = (await settings(conn, merchant)).currency
    parsed: CatalogFile = await asyncio.to_thread(
        parse_catalog, data, currency, await tax_codes(conn, merchant)
    )
    async with conn.transaction():
        await replace_products(conn, merchant, parsed.items)
        version = await bump_version(conn, merchant)
    return CatalogImported(
        merchant, len(parsed.items), version, parsed.delimiter, parsed.ignored_columns
    )


async def tax_codes(conn: asyncpg.Connection, merchant: int) -> dict[str, int]:
    """The tax codes the merchant's products use, with their rates: a file or a form giving a
    rate without its code gets the code already in use."""
    return dict(
        await conn.fetch(
            "SELECT DISTINCT tax_code, tax_bp FROM merchant_products WHERE merchant_id = $1",
            merchant,
        )
    )


async def replace_products(
    conn: asyncpg.Connection, merchant: int, items: Sequence[CatalogItem]
) -> None:
    """Replace every product of the merchant (inside the caller's transaction).

    The rows are copied into a temporary table first: PostgreSQL refuses ``COPY`` into a table
    whose row policies apply, as they do when a page runs this as its user (``as_user``), and
    the ``INSERT … SELECT`` then has every row checked against them."""
    await conn.execute(
        "CREATE TEMPORARY TABLE incoming_products"
        " (LIKE merchant_products INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    await conn.copy_records_to_table(
        "incoming_products",
        columns=PRODUCT_COLUMNS,
        records=[(merchant, *_product_values(i)) for i in items],
    )
    await conn.execute("DELETE FROM merchant_products WHERE merchant_id = $1", merchant)
    columns = ", ".join(PRODUCT_COLUMNS)
    await conn.execute(
        f"INSERT INTO merchant_products ({columns}) SELECT {columns} FROM incoming_products"
    )
    await conn.execute("DROP TABLE incoming_products")


async def put_product(conn: asyncpg.Connection, merchant: int, item: CatalogItem) -> int:
    """Add or change one product; return the new configuration version."""
    values = ", ".join(f"${n}" for n in range(1, len(PRODUCT_COLUMNS) + 1))
    changes = ", ".join(f"{c} = EXCLUDED.{c}" for c in PRODUCT_COLUMNS[2:])
    async with conn.transaction():
        await conn.execute(
            f"INSERT INTO merchant_products ({', '.join(PRODUCT_COLUMNS)}) VALUES ({values})"
            f" ON CONFLICT (merchant_id, sku) DO UPDATE SET {changes}",
            merchant,
            *_product_values(item),
        )
        return await bump_version(conn, merchant)


def _product_values(i: CatalogItem) -> tuple[object, ...]:
    """An item's values in the order of ``PRODUCT_COLUMNS`` after the merchant."""
    return (
        i.sku,
        i.name,
        i.category,
        i.price,
        i.tax_code,
        i.tax_bp,
        i.price_includes_tax,
        list(i.barcodes),
        i.active,
        i.position,
    )


async def export_csv(conn: asyncpg.Connection, merchant_name: str) -> tuple[str, int]:
    """The named merchant's catalog as the device's CSV text (``export_file``)."""
    return await export_file(conn, await merchant_id(conn, merchant_name))


async def export_file(conn: asyncpg.Connection, merchant: int) -> tuple[str, int]:
    """The merchant's catalog as the device's CSV text (docs/CATALOG.md), and how many products."""
    currency = (await settings(conn, merchant)).currency
    items = await products(conn, merchant, shelf_order=True)
    return render_catalog(currency, items), len(items)
