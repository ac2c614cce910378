"""Barcodes in the device store: stored in one form, found from any form of the same code."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.core.catalog import Product, TaxRate
from appliance.store import catalog, catalog_history
from appliance.store.db import open_db
from bitagora_protocol.barcode import BarcodeError, parse
from bitagora_protocol.money import Money


def item(sku: str, barcode: str | None) -> Product:
    return Product(sku, sku.title(), Money(100, "EUR"), TaxRate("B", 1000), "Test", True, barcode)


async def test_codes_are_stored_normalised_and_found_in_every_form(tmp_path: Path) -> None:
    conn = await open_db(tmp_path / "a.sqlite3")
    try:
        await catalog.save_products(
            conn,
            [
                item("soup", "036000291452"),  # UPC-A: stored as EAN-13
                item("gum", "04252614"),  # UPC-E: stored as the EAN-13 of its expansion
                item("apples", "20042"),  # in-store PLU: as given
                item("plain", None),
            ],
        )
        rows = await conn.execute_fetchall("SELECT sku, barcode FROM products ORDER BY sku")
        assert dict(rows) == {
            "apples": "20042",
            "gum": "0042100005264",
            "plain": None,
            "soup": "0036000291452",
        }

        async def find(code: str) -> str | None:
            found = await catalog_history.product_by_barcode(conn, parse(code).lookup_keys, None)
            return found.sku if found else None

        assert await find("036000291452") == "soup"
        assert await find("0036000291452") == "soup"
        assert await find("04252614") == "gum"
        assert await find("042100005264") == "gum"  # a scanner that expands UPC-E
        assert await find("20042") == "apples"
        assert await find("2004") is None

        # A row written before codes were normalised (12 digits) is still found by its EAN-13.
        await conn.execute("UPDATE products SET barcode = '036000291452' WHERE sku = 'soup'")
        await conn.commit()
        assert await find("0036000291452") == "soup"
    finally:
        await conn.close()


def test_a_bad_check_digit_is_refused_before_the_catalog_is_asked() -> None:
    with pytest.raises(BarcodeError):
        parse("036000291453")
