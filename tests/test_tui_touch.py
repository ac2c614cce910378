"""Touchscreen taps in the real kiosk app: input-event bytes written into the FIFO the touch
driver reads (tests/touch_helpers.py), and the app's buttons pressed, or not, as a result.

Panel sizes are in pixels; the app gets the Linux console's size in cells on that panel with
the 8x16 console font: 800x480 → 100x30, 1024x600 → 128x37 (8 pixel rows spare at the bottom),
1280x800 → 160x50, 720x1280 (portrait) → 90x80."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.pilot import Pilot
from touch_helpers import (
    RAW,
    Panel,
    centre,
    console_cells,
    make_fifo,
    panel,
    touch,
    touch_cell,
    touch_env,
)
from tui_helpers import cart_summary, kiosk, scanner_burst, till_with_printer

from appliance.drivers.touch import Calibration
from appliance.tui.app import KioskApp
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.widgets.product_grid import ProductButton, ProductGrid
from bitagora_devtools.script import wait_until

BARCODE = "4006381333931"  # the demo catalog's espresso


def products(app: KioskApp) -> list[ProductButton]:
    """The product buttons wholly on screen, top left first."""
    grid = app.sell.query_one(ProductGrid)
    return [b for b in grid.buttons if app.screen.get_widget_at(*centre(b))[0] is b]


async def lock_by_touch(pilot: Pilot[None], glass: Panel, app: KioskApp) -> None:
    await touch(pilot, glass, app.screen.query_one("#lock"))
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
        "the lock screen",
    )


@pytest.mark.parametrize(
    "panel_px",
    [(800, 480), (1024, 600), (1280, 800), (720, 1280)],
    ids=["800x480", "1024x600", "1280x800", "720x1280"],
)
async def test_a_tap_lands_on_the_button_under_the_finger(
    tmp_path: Path, panel_px: tuple[int, int]
) -> None:
    fifo = make_fifo(tmp_path / "touch")
    cells = console_cells(*panel_px)
    async with till_with_printer(tmp_path, touch_env(fifo, RAW)) as (till, _printer):
        async with kiosk(till, size=cells) as (app, pilot):
            assert app.size == cells
            async with panel(fifo, *panel_px, RAW) as glass:
                first, *_, last = products(app)
                await touch(pilot, glass, last)
                await touch(pilot, glass, first)
                await wait_until(pilot, lambda: len(app.sell.cart.lines) == 2, "two products")
                assert cart_summary(app.sell) == [(1, last.product.sku), (1, first.product.sku)]
                await lock_by_touch(pilot, glass, app)


@pytest.mark.parametrize(
    "calibration",
    [
        Calibration(0, 4095, 0, 4095, swap_xy=True, invert_x=True),
        Calibration(0, 4095, 0, 4095, swap_xy=True, invert_y=True),
        Calibration(200, 3900, 150, 3950, invert_x=True, invert_y=True),
    ],
    ids=["quarter-turn", "quarter-turn-back", "upside-down"],
)
async def test_a_turned_panel_is_calibrated_back(tmp_path: Path, calibration: Calibration) -> None:
    """The controller's axes lie turned under the display (a portrait kiosk on a landscape
    panel, one mounted upside down): the calibration settings map them back."""
    fifo = make_fifo(tmp_path / "touch")
    panel_px = (720, 1280)
    async with till_with_printer(tmp_path, touch_env(fifo, calibration)) as (till, _printer):
        async with kiosk(till, size=console_cells(*panel_px)) as (app, pilot):
            async with panel(fifo, *panel_px, calibration) as glass:
                *_, last = products(app)
                await touch(pilot, glass, last)
                await wait_until(pilot, lambda: bool(app.sell.cart.lines), "the product")
                assert cart_summary(app.sell) == [(1, last.product.sku)]
                await lock_by_touch(pilot, glass, app)


async def test_drags_and_second_fingers_press_nothing(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / "touch")
    panel_px = (800, 480)
    async with till_with_printer(tmp_path, touch_env(fifo, RAW)) as (till, _printer):
        async with kiosk(till, size=console_cells(*panel_px)) as (app, pilot):
            async with panel(fifo, *panel_px, RAW) as glass:
                first, second, *_ = products(app)
                # A finger that starts on one product and slides to the next presses neither.
                glass.down(*glass.at_cell(*centre(first)))
                glass.move(*glass.at_cell(*centre(second)))
                glass.up()
                # Two fingers: the first one's tap counts, the second one's touch does not.
                glass.multitouch = True
                glass.finger_down(0, 1, *glass.at_cell(*centre(second)))
                glass.finger_down(1, 2, *glass.at_cell(*centre(first)))
                glass.finger_up(0, last=False)
                glass.finger_up(1, last=True)
                await wait_until(pilot, lambda: bool(app.sell.cart.lines), "a product")
                # Taps are handled in order: once this one is in, the others have been too.
                await lock_by_touch(pilot, glass, app)
                assert cart_summary(app.sell) == [(1, second.product.sku)]


async def test_a_touch_across_a_screen_change_presses_nothing_on_the_new_screen(
    tmp_path: Path,
) -> None:
    fifo = make_fifo(tmp_path / "touch")
    panel_px = (800, 480)
    async with till_with_printer(tmp_path, touch_env(fifo, RAW)) as (till, _printer):
        async with kiosk(till, size=console_cells(*panel_px), pin=None) as (app, pilot):
            five = centre(app.screen.query_one("#key-5"))
            async with panel(fifo, *panel_px, RAW) as glass:
                for digit in "1234":
                    await touch(pilot, glass, app.screen.query_one(f"#key-{digit}"))
                await touch(pilot, glass, app.screen.query_one("#key-ok"))
                await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
                # The finger comes down on the sell screen where the lock screen has its 5;
                # before it lifts the till locks itself.
                glass.down(*glass.at_cell(*five))
                await pilot.pause()
                app.lock()
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                    "the lock",
                )
                lock = app.screen
                assert isinstance(lock, LockScreen)
                glass.up()
                await touch_cell(pilot, glass, *five)  # a tap of its own, once that one is in
                await wait_until(pilot, lambda: lock.pad.pin != "", "a digit")
                assert lock.pad.pin == "5"
                assert app.touch is not None and app.touch.taps == 6


async def test_a_tap_that_opens_a_screen_is_not_a_tap_on_it(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / "touch")
    panel_px = (800, 480)
    async with till_with_printer(tmp_path, touch_env(fifo, RAW)) as (till, _printer):
        async with kiosk(till, size=console_cells(*panel_px)) as (app, pilot):
            async with panel(fifo, *panel_px, RAW) as glass:
                await touch(pilot, glass, products(app)[0])
                pay = app.screen.query_one("#pay")
                await wait_until(pilot, lambda: not pay.disabled, "Pay cash")
                await touch(pilot, glass, pay)
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
                    "pay",
                )
                screen = app.screen
                assert isinstance(screen, PayCashScreen)
                await touch(pilot, glass, screen.query_one("#key-7"))
                await wait_until(pilot, lambda: screen.entry != "", "the amount")
                assert screen.entry == "7"
                assert app.screen is screen


def stay_awake_once_woken(app: KioskApp) -> None:
    """No second blanking: on a busy machine the one-second idle time could run out again
    between the waking and what the test checks after it."""
    app.blanker.after_s = 0


@pytest.mark.parametrize("backlight", ["bl_power", "brightness", ""])
async def test_the_screen_blanks_when_idle_and_the_waking_tap_presses_nothing(
    tmp_path: Path, backlight: str
) -> None:
    fifo = make_fifo(tmp_path / "touch")
    light = tmp_path / "backlight" / backlight
    env = touch_env(fifo, RAW, blank_after_s="1")
    if backlight:
        light.parent.mkdir()
        light.write_text("0\n" if backlight == "bl_power" else "180\n")
        env["BITAGORA_TOUCH_BACKLIGHT"] = str(light)
    dark, lit = ("4", "0") if backlight == "bl_power" else ("0", "180")
    panel_px = (800, 480)
    async with till_with_printer(tmp_path, env) as (till, _printer):
        async with kiosk(till, size=console_cells(*panel_px)) as (app, pilot):
            async with panel(fifo, *panel_px, RAW) as glass:
                # The grid's first button, top left: not picked by what shows, as on a loaded
                # machine the screen may already be dark.
                button = app.sell.query_one(ProductGrid).buttons[0]
                await wait_until(pilot, lambda: app.blanker.blanked, "the blank screen")
                stay_awake_once_woken(app)
                if backlight:
                    assert light.read_text().strip() == dark
                    assert not app.has_class("-blanked")
                else:
                    assert app.has_class("-blanked")
                glass.tap(*glass.at_cell(*centre(button)))  # wakes the screen, nothing more
                await wait_until(pilot, lambda: not app.blanker.blanked, "the screen back")
                await touch(pilot, glass, button)
                await wait_until(pilot, lambda: bool(app.sell.cart.lines), "the product")
                assert cart_summary(app.sell) == [(1, button.product.sku)]
                assert not app.has_class("-blanked")
                if backlight:
                    assert light.read_text().strip() == lit


async def test_a_backlight_that_failed_to_go_dark_leaves_no_black_screen_behind(
    tmp_path: Path,
) -> None:
    """The panel's backlight cannot be switched off (an I/O error): the app draws black
    instead. When the backlight answers again at wake, the app's black must go too."""
    fifo = make_fifo(tmp_path / "touch")
    light = tmp_path / "backlight" / "bl_power"
    light.mkdir(parents=True)  # writing it fails, as a backlight driver's I/O error would
    env = touch_env(fifo, RAW, blank_after_s="1")
    env["BITAGORA_TOUCH_BACKLIGHT"] = str(light)
    panel_px = (800, 480)
    async with till_with_printer(tmp_path, env) as (till, _printer):
        async with kiosk(till, size=console_cells(*panel_px)) as (app, pilot):
            async with panel(fifo, *panel_px, RAW) as glass:
                # The grid's first button, top left: not picked by what shows, as on a loaded
                # machine the screen may already be dark.
                button = app.sell.query_one(ProductGrid).buttons[0]
                await wait_until(pilot, lambda: app.blanker.blanked, "the blank screen")
                stay_awake_once_woken(app)
                assert app.has_class("-blanked")
                light.rmdir()
                light.write_text("4\n")  # the backlight works again
                glass.tap(*glass.at_cell(*centre(button)))
                await wait_until(pilot, lambda: not app.blanker.blanked, "the screen back")
                assert not app.has_class("-blanked")
                assert light.read_text().strip() == "0"


async def test_a_scan_at_a_dark_screen_wakes_it_and_still_counts(tmp_path: Path) -> None:
    fifo = make_fifo(tmp_path / "touch")
    env = touch_env(fifo, RAW, blank_after_s="1")
    async with till_with_printer(tmp_path, env) as (till, _printer):
        async with kiosk(till, size=console_cells(800, 480)) as (app, pilot):
            await wait_until(pilot, lambda: app.blanker.blanked, "the blank screen")
            stay_awake_once_woken(app)
            await scanner_burst(pilot, BARCODE)
            assert not app.blanker.blanked and not app.has_class("-blanked")
            assert len(app.sell.cart.lines) == 1
            assert app.sell.cart.lines[0].product.barcode == BARCODE
