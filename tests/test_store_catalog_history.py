"""The catalog as a recent version sold it (store/catalog_history.py, migration 0017): what a
sale open across an import is priced from, on a real store with real imports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from store_helpers import open_device

from appliance.core.catalog import Product, TaxRate
from appliance.store import catalog, catalog_history, catalog_versions
from appliance.store.catalog_history import VersionNotKept
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.catalog import CatalogItem
from bitagora_protocol.money import Money


@pytest.fixture
async def device(tmp_path: Path) -> AsyncIterator[tuple[aiosqlite.Connection, DeviceIdentity]]:
    conn, identity = await open_device(tmp_path / "device")
    yield conn, identity
    await conn.close()


def item(sku: str, price: int, active: bool = True) -> CatalogItem:
    return CatalogItem(sku, sku.title(), "Shelf", price, "B", 1000, active=active)


async def price_at(conn: aiosqlite.Connection, sku: str, version: int | None) -> int | None:
    product = await catalog_history.product_by_sku(conn, sku, version)
    return None if product is None else product.price.minor


async def test_products_not_for_sale_at_a_version_are_not_sold_from_it(
    device: tuple[aiosqlite.Connection, DeviceIdentity],
) -> None:
    conn, identity = device
    before = [item("kept", 100), item("paused", 200, active=False), item("ending", 300)]
    after = [item("kept", 100), item("paused", 250), item("ending", 350, active=False)]
    v1 = await catalog_versions.apply(conn, identity, "EUR", before, {"kind": "file"})
    await catalog_versions.apply(conn, identity, "EUR", after, {"kind": "file"})
    assert [await price_at(conn, sku, v1.version) for sku in ("kept", "paused", "ending")] == [
        100,
        None,  # inactive then: not for sale in a sale priced from version 1
        300,  # inactive now, but a sale priced from version 1 still sells it
    ]
    assert [await price_at(conn, sku, None) for sku in ("kept", "paused", "ending")] == [
        100,
        250,
        None,
    ]


async def test_a_version_replaced_outside_an_import_is_not_kept(
    device: tuple[aiosqlite.Connection, DeviceIdentity],
) -> None:
    conn, identity = device
    v1 = await catalog_versions.apply(conn, identity, "EUR", [item("kept", 100)], {"kind": "file"})
    # Tables written another way (the demo seed's way), recorded at the next start.
    tea = Product("tea", "Tea", Money(250, "EUR"), TaxRate("B", 1000), "Shelf")
    await catalog.save_products(conn, [tea])
    local = await catalog_versions.ensure_recorded(conn, identity, "EUR")
    assert local.version == v1.version + 1
    with pytest.raises(VersionNotKept):
        await catalog_history.product_by_sku(conn, "kept", v1.version)
    with pytest.raises(VersionNotKept):
        await catalog_history.product_by_barcode(conn, ["4006381333931"], v1.version)
    assert await price_at(conn, "kept", local.version) == 100
    with pytest.raises(VersionNotKept):  # a version not reached yet is not known either
        await catalog_history.product_by_sku(conn, "kept", local.version + 1)
