"""PIN lockout on the kiosk (Textual Pilot): the lock screen counts a locked PIN pad down with
its keypad disabled, names nobody, shows a lock from before a restart at once, and still takes
badges; the No sale modal locks out a cashier who keeps guessing the manager's PIN."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lockout_helpers import ManualClock
from textual.widgets import Static
from tui_helpers import kiosk, till_with_printer

from appliance.services.till import AuthError, LockedOut, Till
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.no_sale import NoSaleScreen
from appliance.tui.widgets.keypad import Keypad
from bitagora_devtools.script import tap, wait_until
from bitagora_devtools.seed import DEMO_BADGES

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[Till]:
    async with till_with_printer(tmp_path) as (till, _sim):
        till.clock = ManualClock()
        yield till


def clock_of(till: Till) -> ManualClock:
    assert isinstance(till.clock, ManualClock)
    return till.clock


async def enter(pilot: Any, screen: LockScreen | NoSaleScreen, pin: str) -> None:
    """Tap ``pin`` and OK on the screen's keypad; wait for the till's answer."""
    for digit in pin:
        await tap(pilot, f"#key-{digit}")
    screen.pad.message = ""
    await tap(pilot, "#key-ok")
    app = pilot.app
    await wait_until(pilot, lambda: app.screen is not screen or bool(screen.pad.message), "the PIN")


async def test_the_lock_screen_counts_a_locked_pin_pad_down(till: Till) -> None:
    clock = clock_of(till)
    async with kiosk(till, pin=None) as (app, pilot):
        lock = app.screen
        assert isinstance(lock, LockScreen)
        keypad = lock.query_one("#pin-keypad", Keypad)
        for _ in range(4):
            await enter(pilot, lock, "5555")
            assert lock.pad.message == "Wrong PIN, try again"
        await enter(pilot, lock, "5555")
        assert lock.pad.message == "Too many wrong PINs: try again in 1:00"
        assert str(lock.query_one("#pin-message", Static).content) == lock.pad.message
        assert keypad.disabled

        await pilot.press("1", "2", "3", "4", "enter")  # typed keys are ignored too
        assert lock.pad.pin == "" and app.screen is lock

        clock.advance(seconds=28)
        await wait_until(pilot, lambda: lock.pad.message.endswith("0:32"), "the countdown")
        assert lock.pad.message == "Too many wrong PINs: try again in 0:32"

        clock.advance(seconds=32)
        await wait_until(pilot, lambda: not keypad.disabled, "the keypad back")
        assert lock.pad.message == ""
        await enter(pilot, lock, "1234")
        assert app.screen is app.sell and app.sell.staff is not None
        assert app.sell.staff.name == "Ana"


async def test_a_lock_from_before_a_restart_shows_at_once_and_badges_still_work(
    till: Till,
) -> None:
    for _ in range(5):  # before the kiosk starts: as if before a restart
        with pytest.raises(AuthError):
            await till.access.unlock("5555")
    clock_of(till).advance(seconds=15)
    async with kiosk(till, pin=None) as (app, pilot):
        lock = app.screen
        assert isinstance(lock, LockScreen)
        await wait_until(pilot, lambda: bool(lock.pad.message), "the countdown")
        assert lock.pad.message == "Too many wrong PINs: try again in 0:45"
        assert lock.query_one("#pin-keypad", Keypad).disabled

        lock.badge_tapped(dict(DEMO_BADGES)["marco"])  # a manager's badge: in, and lifts it
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        assert app.sell.staff is not None and app.sell.staff.name == "Marco"
    assert await till.access.lockout_remaining() == timedelta(0)


async def test_no_sale_guessing_locks_the_cashier_out(till: Till) -> None:
    async with kiosk(till) as (app, pilot):  # Ana, a cashier, is logged in
        await tap(pilot, "#no-sale")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, NoSaleScreen) and app.screen.is_mounted,
            "the PIN modal",
        )
        modal = app.screen
        assert isinstance(modal, NoSaleScreen)
        for _ in range(4):
            await enter(pilot, modal, "5555")
            assert modal.pad.message == "Wrong PIN, try again"
        await enter(pilot, modal, "5555")
        assert modal.pad.message == (
            "Ana is locked out after too many wrong PINs: try again in 1:00, or ask a manager"
        )
        assert modal.query_one("#pin-keypad", Keypad).disabled

        await tap(pilot, "#approval-cancel")  # she may not go on selling: the till locks
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
            "the lock screen",
        )
        lock = app.screen
        assert isinstance(lock, LockScreen)
        await enter(pilot, lock, "1234")  # her own PIN, while she is locked out
        assert lock.pad.message.startswith("You are locked out after too many wrong PINs")
        assert not lock.query_one("#pin-keypad", Keypad).disabled  # others may still unlock
        with pytest.raises(LockedOut):
            await till.access.unlock("1234")
        await enter(pilot, lock, "9999")
        assert app.screen is app.sell
