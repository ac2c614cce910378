"""The lock screen: PIN on the keypad or typed, wrong PINs refused, fast taps kept, Lock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Button, Static
from tui_helpers import kiosk, till_with_printer

from appliance.services.till import Till
from appliance.tui.scan import StepClock
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.sell import SellScreen
from bitagora_devtools.script import tap, tap_product, unlock, wait_until

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[Till]:
    async with till_with_printer(tmp_path) as (till, _sim):
        yield till


async def test_wrong_pin_is_refused_and_cleared(till: Till) -> None:
    async with kiosk(till, pin=None) as (app, pilot):
        lock = app.screen
        assert isinstance(lock, LockScreen)
        for key in ("key-5", "key-5", "key-5", "key-5", "key-ok"):
            await tap(pilot, f"#{key}")
        await wait_until(pilot, lambda: lock.pad.message != "", "the PIN check")
        assert app.screen is lock
        assert lock.pad.message == "Wrong PIN, try again"
        assert lock.pad.pin == ""
        assert "●" not in str(lock.query_one("#pin-display", Static).content)
        assert app.sell.staff is None


async def test_typed_pin_and_enter_unlock(till: Till) -> None:
    async with kiosk(till, pin=None) as (app, pilot):
        await pilot.press("9", "9", "9", "9")
        lock = app.screen
        assert isinstance(lock, LockScreen)
        assert str(lock.query_one("#pin-display", Static).content) == "● ● ● ●"  # masked
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SellScreen) and app.screen.is_mounted,
            "the sell screen",
        )
        assert app.sell.staff is not None and app.sell.staff.name == "Marco"
        assert "Marco" in str(app.sell.query_one("#staff-name", Static).content)


async def test_fast_keypad_taps_are_all_counted(till: Till) -> None:
    async with kiosk(till, pin=None) as (app, pilot):
        lock = app.screen
        assert isinstance(lock, LockScreen)
        key = lock.query_one("#key-1", Button)
        for _ in range(4):  # back to back, well inside Button's 0.2 s "-active" window
            await pilot.click(key)
        assert lock.pad.pin == "1111"
        # What a plain Button checks to ignore a tap is never set on a TapButton.
        assert key.active_effect_duration == 0 and not key.has_class("-active")


async def test_lock_keeps_the_cart_for_the_same_cashier_only(till: Till) -> None:
    async with kiosk(till, clock=StepClock()) as (app, pilot):
        sell = app.sell
        await tap_product(pilot, sell, (await sell.till.sales.products())[0])
        await tap(pilot, "#lock")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
            "the lock screen",
        )
        await unlock(pilot, "1234", by_keys=True)
        assert len(sell.cart.lines) == 1  # Ana again: her cart is still there
        await tap(pilot, "#lock")
        await unlock(pilot, "9999", by_keys=True)
        assert sell.cart.is_empty  # Marco does not inherit Ana's cart
        assert "cleared" in sell.notice


async def test_a_notice_that_came_while_locked_is_kept_for_whoever_unlocks(till: Till) -> None:
    async with kiosk(till, clock=StepClock()) as (app, pilot):
        sell = app.sell
        await tap_product(pilot, sell, (await sell.till.sales.products())[0])
        assert sell.notice.startswith("Added")  # seen: an unlock clears it
        await tap(pilot, "#lock")
        await unlock(pilot, "1234", by_keys=True)
        assert sell.notice == ""

        await tap(pilot, "#lock")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
            "the lock screen",
        )
        news = "Bitcoin payment for sale 1234abcd arrived: Paid, sale recorded (journal #7)"
        sell.post_message(SellScreen.Notice(news))  # as the app tells a background payment
        await wait_until(pilot, lambda: sell.notice == news, "the notice")
        await unlock(pilot, "9999", by_keys=True)  # Marco: Ana's cart goes, the news stays
        assert sell.notice == f"The cart Ana left was cleared. {news}"
        await tap(pilot, "#lock")
        await unlock(pilot, "9999", by_keys=True)
        assert sell.notice == ""  # read by now
