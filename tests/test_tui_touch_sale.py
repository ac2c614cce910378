"""A whole sale by fingers alone on the 7" 800x480 panel (100x30 cells): every step is a tap
written as input-event bytes into the touch driver's FIFO, none is a key or a call."""

from __future__ import annotations

from pathlib import Path

import pytest
from touch_helpers import RAW, console_cells, make_fifo, panel, touch, touch_env
from tui_helpers import cart_summary, kiosk, till_with_printer

from appliance.store import journal
from appliance.tui.scan import StepClock
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.search_keyboard import SearchKeyboardScreen
from appliance.tui.widgets.category_bar import CategoryBar
from appliance.tui.widgets.product_grid import ProductGrid
from appliance.tui.widgets.text_keyboard import TextKeyboard
from bitagora_devtools.script import wait_until

pytestmark = pytest.mark.timeout(90)


async def test_a_cash_sale_by_taps_alone_at_800x480(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / "touch")
    panel_px = (800, 480)
    async with till_with_printer(tmp_path, touch_env(fifo, RAW)) as (till, printer):
        # A person's pace on the keyboard: no run of taps looks like a scanner's burst.
        clock = StepClock(1.0)
        size = console_cells(*panel_px)
        async with kiosk(till, clock, pin=None, size=size) as (app, pilot):
            sell = app.sell
            async with panel(fifo, *panel_px, RAW) as glass:
                # The PIN on the lock screen's keypad.
                for key in ("1", "2", "3", "4", "ok"):
                    await touch(pilot, glass, app.screen.query_one(f"#key-{key}"))
                await wait_until(pilot, lambda: app.screen is sell, "the sell screen")

                # A croissant found by a search typed on the on-screen keyboard.
                await touch(pilot, glass, sell.query_one("#search-keys"))
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, SearchKeyboardScreen) and app.screen.is_mounted,
                    "the keyboard",
                )
                keyboard = app.screen.query_one(TextKeyboard)
                for key in ("c", "r", "o", "i", "enter"):
                    await touch(pilot, glass, keyboard.key(key))
                await wait_until(pilot, lambda: bool(sell.cart.lines), "the croissant")
                await touch(pilot, glass, keyboard.key("done"))
                await wait_until(pilot, lambda: app.screen is sell, "the sell screen")

                # An espresso from the grid under its category tab, then one more by "+".
                tab = next(b for b in sell.query_one(CategoryBar).query(".category")
                           if b.name == "Drinks")  # fmt: skip
                await touch(pilot, glass, tab)
                espresso = sell.query_one(ProductGrid).button_for("espresso")
                assert espresso is not None
                await wait_until(pilot, lambda: espresso.display, "the espresso button")
                await touch(pilot, glass, espresso)
                await wait_until(pilot, lambda: len(sell.cart.lines) == 2, "the espresso")
                await touch(pilot, glass, sell.query_one("#qty-plus"))
                await wait_until(pilot, lambda: sell.cart.lines[-1].quantity == 2, "two")
                assert cart_summary(sell) == [(1, "croissant"), (2, "espresso")]
                assert str(sell.cart.totals().total) == "€5.70"

                # Pay cash: 20 on the keypad, Confirm, then Next customer.
                await touch(pilot, glass, sell.query_one("#pay"))
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
                    "pay",
                )
                pay = app.screen
                for key in ("2", "0"):
                    await touch(pilot, glass, pay.query_one(f"#key-{key}"))
                confirm = pay.query_one("#confirm")
                await wait_until(pilot, lambda: not confirm.disabled, "Confirm")
                await touch(pilot, glass, confirm)
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
                    "the done screen",
                )
                done = app.screen
                assert isinstance(done, SaleDoneScreen)
                result = done.result
                assert str(result.change) == "€14.30"
                await touch(pilot, glass, done.query_one("#next-customer"))
                await wait_until(
                    pilot, lambda: app.screen is sell and sell.cart.is_empty, "the next sale"
                )

        sale = [r for r in await journal.read_range(till.conn, 1, 100) if r.kind == "sale"]
        assert [r.body["sale_id"] for r in sale] == [result.sale_id]
        receipt = (await printer.wait_receipts(1))[0]
        assert "Croissant" in receipt and "Espresso" in receipt and "€5.70" in receipt
