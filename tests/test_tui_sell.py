"""The sell screen: categories, search, barcode bursts, cart lines and the Pay button."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static
from tui_helpers import cart_summary, kiosk, scanner_burst, till_with_printer, type_slowly

from appliance.core.catalog import Product, TaxRate
from appliance.services.till import Till
from appliance.store import catalog
from appliance.tui.scan import StepClock
from appliance.tui.screens.sell import SellScreen
from appliance.tui.widgets.cart_view import CartView
from appliance.tui.widgets.product_grid import ProductGrid
from bitagora_devtools.script import tap, tap_product, wait_until
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)

ESPRESSO = "4006381333931"
JUICE = "8410076472939"


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[Till]:
    async with till_with_printer(tmp_path) as (till, _sim):
        yield till


def product_with_barcode(sku: str, name: str, barcode: str) -> Product:
    return Product(sku, name, Money(100, "EUR"), TaxRate("B", 1000), "Extra", True, barcode)


async def shown(pilot: Pilot[None], sell: SellScreen) -> list[str]:
    """The products the grid shows once it shows what was asked (the category or the search)."""
    await wait_until(pilot, lambda: sell.view_settled, "the grid")
    return [b.product.name for b in sell.query_one(ProductGrid).buttons]


async def product(sell: SellScreen, sku: str):  # noqa: ANN201
    return next(p for p in await sell.till.sales.products() if p.sku == sku)


async def test_categories_and_search_filter_the_grid(till: Till) -> None:
    clock = StepClock()
    async with kiosk(till, clock) as (app, pilot):
        sell = app.sell
        assert await shown(pilot, sell) == [
            "Croissant",
            "Pão de queijo",
            "Tarta de Santiago",
        ]  # first tab
        drinks = next(b for b in sell.query(".category") if b.name == "Drinks")
        await tap(pilot, drinks)
        assert "Espresso" in await shown(pilot, sell) and "Croissant" not in await shown(
            pilot, sell
        )

        await type_slowly(pilot, clock, "agua")  # accents do not matter
        assert await shown(pilot, sell) == ["Água mineral"]
        assert "agua" in str(sell.query_one("#search-text", Static).content)
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await type_slowly(pilot, clock, "CRO")  # searches every category, not just Drinks
        assert await shown(pilot, sell) == ["Croissant"]
        clock.now += 1.0
        await pilot.press("enter")  # the only match: Enter adds it
        assert cart_summary(sell) == [(1, "croissant")]
        assert sell.search == ""

        await type_slowly(pilot, clock, "zzz")
        assert await shown(pilot, sell) == []
        await tap(pilot, "#search-clear")
        assert sell.search == "" and "Espresso" in await shown(pilot, sell)


async def test_barcode_burst_adds_the_product(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):  # pilot.press: one key at a time
        sell = app.sell
        await pilot.press(*ESPRESSO, "enter")
        await wait_until(pilot, lambda: sell.pending_lookups == 0, "the lookup")
        assert cart_summary(sell) == [(1, "espresso")]
        assert sell.search == ""  # the burst did not stay in the search text


async def test_back_to_back_bursts_are_two_items(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):
        sell = app.sell
        await scanner_burst(pilot, ESPRESSO, JUICE, ESPRESSO)
        assert cart_summary(sell) == [(2, "espresso"), (1, "juice")]
        assert sell.notice == "Added Espresso"


async def test_burst_after_typing_leaves_the_typed_search(till: Till) -> None:
    clock = StepClock()
    async with kiosk(till, clock) as (app, pilot):
        sell = app.sell
        await type_slowly(pilot, clock, "es")
        clock.now += 1.0
        await scanner_burst(pilot, JUICE)
        assert cart_summary(sell) == [(1, "juice")]
        assert sell.search == "es"


async def test_slowly_typed_barcode_and_enter_is_looked_up(till: Till) -> None:
    clock = StepClock()
    async with kiosk(till, clock) as (app, pilot):
        sell = app.sell
        await type_slowly(pilot, clock, JUICE)
        clock.now += 1.0
        await pilot.press("enter")
        await wait_until(pilot, lambda: sell.pending_lookups == 0, "the lookup")
        assert cart_summary(sell) == [(1, "juice")]


async def test_unknown_product_is_told_from_a_bad_check_digit(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):
        sell = app.sell
        notice = sell.query_one("#notice", Static)
        await scanner_burst(pilot, "1234567890128")  # a valid EAN-13 no product has
        assert sell.cart.is_empty
        assert str(notice.content) == "Unknown product: no product has barcode 1234567890128"
        assert notice.has_class("-error")

        await scanner_burst(pilot, ESPRESSO[:-1] + "2")  # a misread: check digit should be 1
        assert sell.cart.is_empty
        assert str(notice.content) == (
            f"Not a valid barcode: {ESPRESSO[:-1]}2 has a wrong check digit. Scan or type it again."
        )
        assert notice.has_class("-error")


async def test_typed_barcode_is_checked_too(till: Till) -> None:
    clock = StepClock()
    async with kiosk(till, clock) as (app, pilot):
        sell = app.sell
        notice = sell.query_one("#notice", Static)
        await type_slowly(pilot, clock, JUICE[:-1] + "0")  # a typo in the last digit
        clock.now += 1.0
        await pilot.press("enter")
        await wait_until(pilot, lambda: sell.pending_lookups == 0, "the lookup")
        assert sell.cart.is_empty
        assert str(notice.content).startswith("Not a valid barcode: ")

        await type_slowly(pilot, clock, "96385074")  # a valid EAN-8, not in the catalog
        clock.now += 1.0
        await pilot.press("enter")
        await wait_until(pilot, lambda: sell.pending_lookups == 0, "the lookup")
        assert str(notice.content) == "Unknown product: no product has barcode 96385074"


async def test_internal_codes_and_upc_a_scan_like_any_other(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        extra = [
            product_with_barcode("plu", "Loose apples", "20042"),  # in-store PLU, no check digit
            product_with_barcode("shelf", "Shelf label item", "BA-0042"),  # Code 128 label
            product_with_barcode("soup", "Tomato soup", "036000291452"),  # stored as UPC-A
        ]
        await catalog.save_products(till.conn, extra)
        async with kiosk(till, StepClock()) as (app, pilot):
            sell = app.sell
            # A UPC-A product scanned by a scanner that sends EAN-13 (leading 0), and back to
            # back with codes that have no GS1 check digit: four scans, four items, no merging.
            await scanner_burst(pilot, "20042", "BA-0042", "0036000291452", "20042")
            assert cart_summary(sell) == [(2, "plu"), (1, "shelf"), (1, "soup")]
            assert sell.search == ""  # the letters of BA-0042 did not stay in the search


async def test_a_refused_scan_between_two_good_ones_merges_nothing(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):
        sell = app.sell
        await scanner_burst(pilot, ESPRESSO, "4006381333932", JUICE)
        assert cart_summary(sell) == [(1, "espresso"), (1, "juice")]


async def test_select_change_quantity_and_remove_lines(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):
        sell = app.sell
        pay = sell.query_one("#pay")
        assert pay.disabled  # empty cart
        await tap_product(pilot, sell, await product(sell, "croissant"))
        await tap_product(pilot, sell, await product(sell, "espresso"))
        assert not pay.disabled
        assert sell.selected == 1  # the line just added

        first = sell.query_one(CartView).rows[0]
        await tap(pilot, first)
        assert sell.selected == 0 and first.has_class("-selected")
        for _ in range(3):  # fast taps: none may be dropped
            await pilot.click("#qty-plus")
        assert cart_summary(sell) == [(4, "croissant"), (1, "espresso")]
        await tap(pilot, "#qty-minus")
        assert cart_summary(sell) == [(3, "croissant"), (1, "espresso")]
        totals = sell.cart.totals()
        assert str(sell.query_one("#total").value) == totals.total.format()
        assert str(sell.query_one("#tax", Static).content) == totals.tax.format()

        await tap(pilot, "#remove-line")
        assert cart_summary(sell) == [(1, "espresso")]
        assert sell.selected == 0
        await tap(pilot, "#qty-minus")  # down to zero removes the line
        assert sell.cart.is_empty and sell.selected is None
        await pilot.pause()
        assert sell.query_one(CartView).rows == []
        assert pay.disabled
        assert sell.query_one("#remove-line").disabled
