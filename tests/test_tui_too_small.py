"""Below the smallest panel the kiosk is laid out for, every screen (modals too, at start and
when the console is resized while it runs) shows one "screen too small" message and nothing
else: never half a screen, a total or a keypad cut off (issue 15 item 2). At that smallest size
(90x30 cells) every screen is whole; the category tabs are never cut (at 90 cells across,
"Merch" read "Mer")."""

from __future__ import annotations

from pathlib import Path

import pytest
from layout_helpers import (
    PANELS,
    WALKS,
    cut_labels,
    hidden,
    kiosk_at,
    layout_faults,
    screen_at,
    shown,
    step_to,
)
from test_tui_layouts import NEEDED, WALK_IDS
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from tui_helpers import kiosk, till_with_printer

from appliance.tui.app import KioskApp
from appliance.tui.scan import StepClock
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.widgets.category_bar import CategoryBar
from appliance.tui.widgets.too_small import MIN_SIZE, TooSmall
from bitagora_devtools.script import tap, tap_product, wait_until

pytestmark = pytest.mark.timeout(120)

TOO_SMALL = ((80, 24), (MIN_SIZE[0] - 1, 80), (100, MIN_SIZE[1] - 1))


def drawn(screen: Screen[object]) -> list[Widget]:
    """The widgets of ``screen`` that show at least one cell."""
    return [
        w
        for w in screen.query("*")
        if (part := shown(screen, w)) is not None and part.area and w.display
    ]


def only_too_small(app: KioskApp, size: tuple[int, int]) -> str | None:
    """None when the top screen shows the message, for ``size``, and nothing else; else what
    is wrong."""
    screen = app.screen
    width, height = screen.region.size
    others = {
        str(top)
        for x in range(width)
        for y in range(height)
        if not isinstance(top := screen.get_widget_at(x, y)[0], TooSmall)
    }
    if others:
        return f"{type(screen).__name__} still shows {sorted(others)[:6]}"
    messages = [w for w in drawn(screen) if isinstance(w, TooSmall)]
    if len(messages) != 1 or messages[0].region != screen.region:
        return f"{type(screen).__name__}: no whole-screen message ({messages})"
    words = str(messages[0].render())
    if f"{MIN_SIZE[0]}×{MIN_SIZE[1]}" not in words or f"{size[0]}×{size[1]}" not in words:
        return f"the message does not name the sizes: {words!r}"
    return None


async def resize(pilot: Pilot[None], size: tuple[int, int]) -> None:
    await pilot.resize_terminal(*size)
    app = pilot.app
    await wait_until(pilot, lambda: app.screen.region.size == size, f"the screen at {size}")
    await pilot.pause()


@pytest.mark.parametrize("size", TOO_SMALL, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_console_too_small_at_start_shows_only_the_message(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    async with (
        till_with_printer(tmp_path) as (till, _),
        kiosk(till, StepClock(), pin=None, size=size) as (app, pilot),
    ):
        assert isinstance(app.screen, LockScreen)
        await wait_until(pilot, lambda: only_too_small(app, size) is None, "only the message")
        # a PIN typed at a screen nobody can read unlocks nothing
        await pilot.press(*"1234", "enter")
        await pilot.pause()
        assert isinstance(app.screen, LockScreen)


async def test_resizing_while_selling_and_paying_hides_every_screen_then_brings_it_back(
    tmp_path: Path,
) -> None:
    """A console made too small mid-sale: the sell screen, the pay modal over it and a screen
    pushed meanwhile all show only the message; back at a panel's size, the sale goes on where
    it was, laid out whole."""
    panel = PANELS["800x480"]
    async with (
        till_with_printer(tmp_path) as (till, _),
        kiosk(till, StepClock(), size=panel) as (app, pilot),
    ):
        sell = app.sell
        products = {p.sku: p for p in await till.sales.products()}
        await tap_product(pilot, sell, products["espresso"])
        for size in TOO_SMALL:
            await resize(pilot, size)
            assert only_too_small(app, size) is None
        await resize(pilot, panel)
        assert app.screen is sell and layout_faults(sell) == []
        await tap(pilot, "#pay")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
            "pay cash",
        )
        await resize(pilot, (80, 24))
        assert only_too_small(app, (80, 24)) is None
        # a screen that comes up while the console is too small shows only the message too
        pay = app.screen
        pay.dismiss(None)
        await wait_until(pilot, lambda: app.screen is sell, "back to the sell screen")
        await pilot.pause()
        assert only_too_small(app, (80, 24)) is None
        await resize(pilot, panel)
        assert len(sell.cart.lines) == 1
        assert layout_faults(sell) == [] and hidden(sell, *NEEDED["sell"][:-3]) == []
        assert not drawn_too_small(app)


def drawn_too_small(app: KioskApp) -> list[Widget]:
    return [w for w in drawn(app.screen) if isinstance(w, TooSmall)]


@pytest.mark.parametrize("walk", WALKS, ids=WALK_IDS)
async def test_every_screen_is_whole_at_the_smallest_size(
    tmp_path: Path, walk: tuple[str, ...]
) -> None:
    """One app run visits the screens of ``walk`` in turn."""
    async with kiosk_at(tmp_path, MIN_SIZE, locked=walk[0] == "lock") as (app, pilot):
        for name in walk:
            await step_to(pilot, app, name)
            screen = app.screen
            assert not drawn_too_small(app), name
            assert layout_faults(screen) == [], name
            assert hidden(screen, *NEEDED[name]) == [], name
            # (the product grid's labels wrap onto two lines: not for cut_labels)
            assert [c for c in cut_labels(screen) if not c.startswith("product-")] == [], name


@pytest.mark.parametrize("size", [MIN_SIZE, PANELS["720x1280"]], ids=["90x30", "720x1280"])
async def test_every_category_tab_is_whole(tmp_path: Path, size: tuple[int, int]) -> None:
    async with screen_at(tmp_path, "sell", size) as (app, pilot):
        bar = app.sell.query_one(CategoryBar)
        tabs = list(bar.query(".category"))
        assert len(tabs) >= 4
        assert hidden(app.sell, *(f"#{tab.id}" for tab in tabs)) == []
        assert [c for c in cut_labels(app.sell) if "category" in c] == []


async def test_the_sale_done_screen_pushed_while_too_small_shows_only_the_message(
    tmp_path: Path,
) -> None:
    async with (
        till_with_printer(tmp_path) as (till, _),
        kiosk(till, StepClock(), size=PANELS["800x480"]) as (app, pilot),
    ):
        sell = app.sell
        cart = till.sales.new_cart()
        cart.add((await till.sales.products())[0])
        staff = sell.staff
        assert staff is not None
        result = await till.sales.pay_cash(cart, staff, cart.totals().total)
        await resize(pilot, (80, 24))
        app._paid(result)
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "sale done",
        )
        await pilot.pause()
        assert only_too_small(app, (80, 24)) is None
