"""The demo catalog and demo staff, so the demo (or ``bitagora kiosk --seed-demo`` where the
development tools are installed) has something to sell. Written through the store's catalog
repository, like any catalog."""

from __future__ import annotations

import aiosqlite

from appliance.core.catalog import Product, TaxRate
from appliance.store import catalog
from appliance.store import staff as staff_store
from appliance.store.db import transaction
from bitagora_protocol.money import Money

STANDARD = TaxRate("A", 2100)
REDUCED = TaxRate("B", 1000)

# (sku, name, category, price in minor units, tax, EAN-13 barcode or None)
DEMO_PRODUCTS = [
    ("espresso", "Espresso", "Drinks", 180, REDUCED, "4006381333931"),
    ("cappuccino", "Cappuccino", "Drinks", 290, REDUCED, None),
    ("tea", "Té verde", "Drinks", 220, REDUCED, None),
    ("juice", "Zumo de naranja", "Drinks", 350, REDUCED, "8410076472939"),
    ("water", "Água mineral", "Drinks", 150, REDUCED, "5449000000996"),
    ("croissant", "Croissant", "Bakery", 210, REDUCED, None),
    ("pao", "Pão de queijo", "Bakery", 190, REDUCED, None),
    ("cake", "Tarta de Santiago", "Bakery", 420, REDUCED, None),
    ("sandwich", "Bocadillo jamón", "Deli", 650, REDUCED, "4001686301265"),
    ("salad", "Ensalada", "Deli", 790, REDUCED, None),
    ("mug", "BitAgora mug", "Merch", 1200, STANDARD, "4012345678901"),
    ("tshirt", "T-shirt ₿", "Merch", 1990, STANDARD, None),
]

DEMO_STAFF = [("ana", "Ana", "cashier", "1234"), ("marco", "Marco", "manager", "9999")]

# (staff id, badge UID): NTAG215-style 7-byte UIDs, for `bitagora sim nfc --tap UID`.
DEMO_BADGES = [("ana", "04A224B2C35E80"), ("marco", "04C1D2E3F40A81")]


def demo_products(currency: str) -> list[Product]:
    return [
        Product(sku, name, Money(price, currency), tax, category, True, barcode)
        for sku, name, category, price, tax, barcode in DEMO_PRODUCTS
    ]


async def seed_demo(conn: aiosqlite.Connection, currency: str) -> None:
    """Load the demo catalog, staff and badges, each where the store has none of it yet.

    One transaction: a kill or an error half-way leaves none of it, so the next start seeds
    again (before, a kill after the products left a till with a catalog and nobody to unlock
    it, and every later start took it for seeded; issue 15 item 14). Each part is checked on
    its own, so a store an older release left half-seeded gets what it lacks."""
    async with transaction(conn):
        if not await catalog.products(conn):
            await catalog.save_products(conn, demo_products(currency))
        people = await staff_store.all_staff(conn)
        if not people:
            for staff_id, name, role, pin in DEMO_STAFF:
                await staff_store.add_staff(conn, staff_id, name, role, pin)
        if not any(badges for _, badges in people):
            known = {staff.id for staff, _ in await staff_store.all_staff(conn)}
            for staff_id, uid in DEMO_BADGES:
                if staff_id in known:
                    await staff_store.bind_badge(conn, staff_id, uid)
