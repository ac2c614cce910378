"""The sell screen: categories, search, barcode bursts, cart lines and the Pay button."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import cart_summary, kiosk, scanner_burst, till_with_printer, type_slowly

from appliance.services.till import Till
from appliance.tui.scan import StepClock
from appliance.tui.screens.sell import SellScreen
from appliance.tui.script import tap, tap_product, wait_until
from appliance.tui.widgets.cart_view import CartView
from appliance.tui.widgets.product_grid import ProductGrid

pytestmark = pytest.mark.timeout(60)

ESPRESSO = "4006381333931"
JUICE = "8410076472939"


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[Till]:
    async with till_with_printer(tmp_path) as (till, _sim):
        yield till


def shown(sell: SellScreen) -> list[str]:
    return [b.product.name for b in sell.query_one(ProductGrid).buttons if b.display]


def product(sell: SellScreen, sku: str):  # noqa: ANN201
    return next(p for p in sell.products if p.sku == sku)


async def test_categories_and_search_filter_the_grid(till: Till) -> None:
    clock = StepClock()
    async with kiosk(till, clock) as (app, pilot):
        sell = app.sell
        assert shown(sell) == ["Croissant", "Pão de queijo", "Tarta de Santiago"]  # first tab
        drinks = next(b for b in sell.query(".category") if b.name == "Drinks")
        await tap(pilot, drinks)
        assert "Espresso" in shown(sell) and "Croissant" not in shown(sell)

        await type_slowly(pilot, clock, "agua")  # accents do not matter
        assert shown(sell) == ["Água mineral"]
        assert "agua" in str(sell.query_one("#search-text", Static).content)
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        await type_slowly(pilot, clock, "CRO")  # searches every category, not just Drinks
        assert shown(sell) == ["Croissant"]
        clock.now += 1.0
        await pilot.press("enter")  # the only match: Enter adds it
        assert cart_summary(sell) == [(1, "croissant")]
        assert sell.search == ""

        await type_slowly(pilot, clock, "zzz")
        assert shown(sell) == []
        await tap(pilot, "#search-clear")
        assert sell.search == "" and "Espresso" in shown(sell)


async def test_barcode_burst_adds_the_product(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):  # pilot.press: one key at a time
        sell = app.sell
        await pilot.press(*ESPRESSO, "enter")
        await wait_until(pilot, lambda: sell.pending_scans == 0, "the lookup")
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
        await wait_until(pilot, lambda: sell.pending_scans == 0, "the lookup")
        assert cart_summary(sell) == [(1, "juice")]


async def test_unknown_barcode_is_reported(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):
        sell = app.sell
        await scanner_burst(pilot, "1234567890123")
        assert sell.cart.is_empty
        notice = sell.query_one("#notice", Static)
        assert str(notice.content) == "Unknown barcode 1234567890123"
        assert notice.has_class("-error")


async def test_select_change_quantity_and_remove_lines(till: Till) -> None:
    async with kiosk(till, StepClock()) as (app, pilot):
        sell = app.sell
        pay = sell.query_one("#pay")
        assert pay.disabled  # empty cart
        await tap_product(pilot, sell, product(sell, "croissant"))
        await tap_product(pilot, sell, product(sell, "espresso"))
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
