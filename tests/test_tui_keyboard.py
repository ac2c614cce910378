"""The on-screen keyboard: a search typed by taps on the touchscreen (input-event bytes into the
touch driver's FIFO), accents from the second layer, Enter adding the one product found."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Button
from touch_helpers import RAW, console_cells, make_fifo, panel, touch, touch_env
from tui_helpers import cart_summary, kiosk, till_with_printer

from appliance.tui.scan import StepClock
from appliance.tui.screens.search_keyboard import SearchKeyboardScreen
from appliance.tui.widgets.product_grid import ProductGrid
from appliance.tui.widgets.text_keyboard import TextKeyboard, key_id
from bitagora_devtools.script import tap, wait_until


async def test_a_search_typed_by_taps_with_an_accent(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / "touch")
    panel_px = (800, 480)
    async with till_with_printer(tmp_path, touch_env(fifo, RAW)) as (till, _printer):
        # A person's pace: a second between keys, so no run of them looks like a scan.
        clock = StepClock(1.0)
        async with kiosk(till, clock, size=console_cells(*panel_px)) as (app, pilot):
            sell = app.sell
            async with panel(fifo, *panel_px, RAW) as glass:
                await touch(pilot, glass, sell.query_one("#search-keys", Button))
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, SearchKeyboardScreen) and app.screen.is_mounted,
                    "the keyboard",
                )
                keyboard = app.screen.query_one(TextKeyboard)
                for key in ("p", "layer", "ã", "x", "backspace", "o"):
                    await touch(pilot, glass, keyboard.key(key))
                await wait_until(pilot, lambda: sell.search == "pão", "the search text")
                assert not keyboard.accents  # back to letters after the accented one
                await wait_until(pilot, lambda: sell.view_settled, "the search's products")
                shown = [b.product.sku for b in sell.query_one(ProductGrid).buttons]
                assert shown == ["pao"]
                await touch(pilot, glass, keyboard.key("enter"))
                await wait_until(pilot, lambda: bool(sell.cart.lines), "the product")
                assert cart_summary(sell) == [(1, "pao")] and sell.search == ""
                await touch(pilot, glass, keyboard.key("done"))
                await wait_until(pilot, lambda: app.screen is sell, "the sell screen")


@pytest.mark.long
async def test_capitals_signs_and_accents_and_the_search_ignores_them(tmp_path: Path) -> None:
    """Shift makes one capital, the symbol layer types ¿ ¡ º ª € and R$ (two characters), the
    accent layer ú; a search typed in capitals without accents still finds "Pão"."""
    async with till_with_printer(tmp_path) as (till, _printer):
        async with kiosk(till, StepClock(1.0)) as (app, pilot):
            sell = app.sell
            await tap(pilot, "#search-keys")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, SearchKeyboardScreen) and app.screen.is_mounted,
                "the keyboard",
            )
            keyboard = app.screen.query_one(TextKeyboard)
            for key in ("shift", "p", "shift", "a", "shift", "o"):
                await tap(pilot, f"#{key_id(key)}")
            await wait_until(pilot, lambda: sell.search == "PAO", "the search text")
            assert not keyboard.shift and keyboard.key("p").label.plain == "p"
            await wait_until(pilot, lambda: sell.view_settled, "the search's products")
            assert [b.product.sku for b in sell.query_one(ProductGrid).buttons] == ["pao"]
            for key in ("backspace", "backspace", "backspace", "symbols", "¿"):
                await tap(pilot, f"#{key_id(key)}")
            assert keyboard.layer == "letters"  # back to letters after one sign
            for key in ("symbols", "R$", "symbols", "º", "symbols", "€", "layer", "ú"):
                await tap(pilot, f"#{key_id(key)}")
            for key in ("shift", "ñ", "symbols", "¡", "symbols", "ª"):
                await tap(pilot, f"#{key_id(key)}")
            await wait_until(pilot, lambda: sell.search == "¿R$º€úÑ¡ª", "the signs")
