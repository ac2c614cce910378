"""A merchant's back office end to end, in a real headless Chromium (tests/browser_helpers.py):
the owner logs in, imports the catalog and changes a price through the pages; the shop's till (a
real device store and its services, enrolled with the real central, with its real uplink)
fetches the signed document, sells at the new price and sends the sale; the owner sees it on the
Sales page and in the CSV the browser downloads."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from browser_helpers import chromium_page
from playwright.async_api import expect
from print_helpers import sell, till_and_printer
from test_downlink import cafe_csv
from uplink_helpers import Device, uplink_for

from central.users import add_user

if TYPE_CHECKING:
    from conftest import CentralTestServer

pytestmark = pytest.mark.timeout(120)

SHOP = "Café <Lisboa>"
OWNER, PASSWORD = "owner@lisboa.example", "owner-password"


async def test_a_price_changed_in_the_browser_is_sold_at_the_till_and_reported(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    started = time.monotonic()
    code = await central_server.make_code(SHOP)
    db = await asyncpg.connect(central_server.database_url)
    try:
        await add_user(db, OWNER, PASSWORD, "owner", SHOP)
    finally:
        await db.close()
    source = tmp_path / "cafe.csv"
    source.write_bytes(cafe_csv(espresso="1.80"))

    async with (
        till_and_printer(tmp_path) as (till, _printer),
        chromium_page(central_server.base_url) as page,
    ):
        device = Device(tmp_path / "device", till.conn, till.identity)
        await device.enroll(central_server.base_url, code)

        await page.goto("/login")
        await page.get_by_label(re.compile("Username|Email")).fill(OWNER)
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(re.compile(r"/merchant$"))
        await expect(
            page.get_by_role("row").filter(has_text=till.identity.device_id)
        ).to_be_visible()

        await page.get_by_role("link", name="Products").click()
        await page.get_by_label("CSV file").set_input_files(source)
        await page.get_by_role("button", name="Import").click()
        await expect(page.get_by_role("status")).to_contain_text("4 products imported")

        await page.get_by_label("Search (sku, name or barcode)").fill("espresso")
        await page.get_by_role("button", name="Find").click()
        await page.get_by_role("link", name="espresso", exact=True).click()
        await page.get_by_label("Price", exact=True).fill("2.40")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_contain_text("configuration version 2")

        async with uplink_for(device, central_server.base_url) as (uplink, _):
            applied = await uplink.config_once()
            assert applied is not None and applied.version == 2
            sold = await sell(till, "espresso")
            assert [line["unit_price"] for line in sold.record.body["lines"]] == [240]
            assert await uplink.push_once() >= 1

        await page.get_by_role("link", name="Sales").click()
        products = page.locator("section#products")
        await expect(products.get_by_role("row").filter(has_text="espresso")).to_contain_text(
            "€2.40"
        )
        await expect(page.locator("section#days svg.chart")).to_be_visible()
        # On a phone the page fits its width: wide tables scroll inside their own box.
        await page.set_viewport_size({"width": 360, "height": 740})
        for path in ("/merchant/sales", "/merchant/products", "/merchant/staff"):
            await page.goto(path)
            assert await page.evaluate(
                "document.documentElement.scrollWidth <= window.innerWidth"
            ), path
        await page.goto("/merchant/sales")
        async with page.expect_download() as downloading:
            await page.get_by_role("link", name="Sales by product as CSV").click()
        download = await downloading.value
        assert re.fullmatch(
            r"products-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv", download.suggested_filename
        )
        saved = Path(await download.path())
        exported = (await asyncio.to_thread(saved.read_text, encoding="utf-8")).splitlines()
        assert exported == ["SKU,Product,Currency,Quantity,Net", "espresso,Espresso,EUR,1,2.40"]
    print(f"\nbrowser end-to-end run: {time.monotonic() - started:.1f} s")
