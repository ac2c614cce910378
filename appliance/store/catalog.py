"""Catalog and staff as the kiosk reads them.

Barcodes are stored in the form ``core.barcode.catalog_key`` gives (UPC-A and UPC-E as EAN-13)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.core import barcode
from appliance.core.catalog import Product, TaxRate
from appliance.core.money import Money
from appliance.core.pin import check_pin, hash_pin
from appliance.store.db import transaction


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


def _product(row: Any) -> Product:
    sku, name, category, price, currency, tax_code, bp, inclusive, barcode = tuple(row)
    return Product(
        sku, name, Money(price, currency), TaxRate(tax_code, bp), category, bool(inclusive), barcode
    )


async def products(conn: aiosqlite.Connection) -> list[Product]:
    rows = await conn.execute_fetchall(PRODUCT_SQL + " ORDER BY p.category, p.position, p.name")
    return [_product(row) for row in rows]


async def product_by_barcode(conn: aiosqlite.Connection, keys: Sequence[str]) -> Product | None:
    """The product stored under the first of ``keys`` that has one (``Barcode.lookup_keys``:
    the stored form first, then older forms of the same code)."""
    if not keys:
        return None
    marks = ", ".join("?" * len(keys))
    order = " ".join(f"WHEN ? THEN {i}" for i in range(len(keys)))
    rows = await conn.execute_fetchall(
        PRODUCT_SQL + f" WHERE p.barcode IN ({marks}) ORDER BY CASE p.barcode {order} END LIMIT 1",
        (*keys, *keys),
    )
    return _product(rows[0]) if rows else None


async def save_products(conn: aiosqlite.Connection, items: list[Product]) -> None:
    """Insert or replace products (and their tax rates) in one transaction."""
    async with transaction(conn):
        for position, product in enumerate(items):
            await conn.execute(
                "INSERT INTO tax_rates (code, basis_points) VALUES (?, ?) "
                "ON CONFLICT (code) DO UPDATE SET basis_points = excluded.basis_points",
                (product.tax.code, product.tax.basis_points),
            )
            await conn.execute(
                "INSERT OR REPLACE INTO products (sku, name, category, price_minor, currency, "
                "tax_code, price_includes_tax, barcode, position) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    product.sku,
                    product.name,
                    product.category,
                    product.price.minor,
                    product.price.currency,
                    product.tax.code,
                    int(product.price_includes_tax),
                    barcode.catalog_key(product.barcode) if product.barcode else None,
                    position,
                ),
            )


async def add_staff(
    conn: aiosqlite.Connection, staff_id: str, name: str, role: str, pin: str
) -> Staff:
    async with transaction(conn):
        await conn.execute(
            "INSERT OR REPLACE INTO staff (id, name, role, pin_hash) VALUES (?, ?, ?, ?)",
            (staff_id, name, role, hash_pin(pin)),
        )
    return Staff(staff_id, name, role)


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
