"""Catalog and staff as the kiosk reads them.

Barcodes are stored in the form ``core.barcode.catalog_key`` gives (UPC-A and UPC-E as EAN-13)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.core import barcode
from appliance.core.catalog import Product, TaxRate
from appliance.core.pin import check_pin, hash_pin
from appliance.store.db import transaction
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
    rows = list(
        await conn.execute_fetchall(
            PRODUCT_SQL
            + f" WHERE p.barcode IN ({marks}) ORDER BY CASE p.barcode {order} END LIMIT 1",
            (*keys, *keys),
        )
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
    """``04:a2:24:…`` or ``04A224…`` → ``04A224…``; a card UID is 4, 7 or 10 bytes."""
    cleaned = re.sub(r"[\s:-]", "", uid).upper()
    if not re.fullmatch(r"[0-9A-F]*", cleaned) or len(cleaned) not in (8, 14, 20):
        raise BadgeError(f"{uid!r} is not a card UID (4, 7 or 10 bytes in hex)")
    return cleaned


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
