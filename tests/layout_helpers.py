"""The kiosk's screens at the panel sizes it runs on: opening each one (sell with a cart of
several lines, lock, pay cash, pay bitcoin) and checking that every button is a finger's size,
whole on the screen and clear of the others. No test here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bitcoin_helpers import bitcoin_shop
from rich.cells import cell_len
from textual.errors import NoWidget
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button
from touch_helpers import console_cells
from tui_helpers import kiosk, open_bitcoin_payment, unlock

from appliance.tui.app import KioskApp
from appliance.tui.scan import StepClock
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.widgets.category_bar import CategoryBar
from appliance.tui.widgets.product_grid import ProductGrid
from bitagora_devtools.script import tap, tap_product, wait_until

# The panels a kiosk is built with, in pixels, and the console's cells on each (8x16 font).
PANELS = {
    "800x480": console_cells(800, 480),
    "1024x600": console_cells(1024, 600),
    "1280x800": console_cells(1280, 800),
    "720x1280": console_cells(720, 1280),
}
# The screens checked, in the order one app run visits them: the lock screen it starts on, the
# sell screen once unlocked with CART in the cart, then that cart's cash payment. Paying bitcoin
# takes a cart of its own (one espresso): another run.
WALKS = (("lock", "sell", "pay-cash"), ("pay-bitcoin",))
SCREENS = tuple(name for walk in WALKS for name in walk)
MIN_TARGET = (6, 3)  # cells across, rows: docs/TECHNICIAN.md, "Touch targets"
CART = ("espresso", "croissant", "water", "espresso", "sandwich")
SELECTED_LINE = "#cart-lines > CartLineRow.-selected"
PIN = "1234"  # Ana's


@asynccontextmanager
async def kiosk_at(
    tmp_path: Path, size: tuple[int, int], language: str = "en", locked: bool = False
) -> AsyncIterator[tuple[KioskApp, Pilot[None]]]:
    """The kiosk app in ``size`` cells, in ``language``, with the till taking cash and bitcoin
    (so that the sell screen has all its pay buttons); on its lock screen if ``locked``, else
    unlocked by Ana."""
    async with bitcoin_shop(tmp_path, env={"BITAGORA_DEVICE_LANGUAGE": language}) as shop:
        pin = None if locked else PIN
        async with kiosk(shop.till, StepClock(), pin=pin, size=size) as (app, pilot):
            yield app, pilot


async def step_to(pilot: Pilot[None], app: KioskApp, name: str) -> None:
    """From the screen before ``name`` in its walk (WALKS), or the unlocked sell screen, to
    screen ``name``. The lock screen is where a locked app starts: nothing to do."""
    if name == "sell":
        if app.screen is not app.sell:
            await unlock(pilot, app, PIN)
        products = {p.sku: p for p in await app.till.sales.products()}
        for sku in CART:
            await tap_product(pilot, app.sell, products[sku])
        # the cart scrolls its new line into view once it has been laid out
        await wait_until(
            pilot, lambda: not hidden(app.screen, SELECTED_LINE), "the new line in view"
        )
    elif name == "pay-cash":
        await tap(pilot, "#pay")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
            "pay",
        )
    elif name == "pay-bitcoin":
        await open_bitcoin_payment(pilot, app)


@asynccontextmanager
async def screen_at(
    tmp_path: Path, name: str, size: tuple[int, int], language: str = "en"
) -> AsyncIterator[tuple[KioskApp, Pilot[None]]]:
    """The kiosk app (``kiosk_at``) showing screen ``name`` (one of SCREENS), reached along
    its walk."""
    walk = next(walk for walk in WALKS if name in walk)
    async with kiosk_at(tmp_path, size, language, locked=name == "lock") as (app, pilot):
        for step in walk[: walk.index(name) + 1]:
            await step_to(pilot, app, step)
        yield app, pilot


def shown(screen: Screen[object], widget: Widget) -> Region | None:
    """The part of ``widget`` on the screen, or None when none of it is drawn."""
    try:
        return screen.find_widget(widget).visible_region
    except NoWidget:
        return None


def layout_faults(screen: Screen[object]) -> list[str]:
    """What is wrong with the buttons on ``screen``, in words (empty: nothing)."""
    faults = []
    whole = screen.region
    seen: list[tuple[Button, Region]] = []
    for button in screen.query(Button):
        part = shown(screen, button)
        if part is None:
            continue
        name = f"{button.id or button.name or button.label} at {button.region}"
        width, height = button.region.size
        if width < MIN_TARGET[0] or height < MIN_TARGET[1]:
            faults.append(f"{name} is smaller than {MIN_TARGET[0]}x{MIN_TARGET[1]}")
        if not whole.contains_region(part):
            faults.append(f"{name} is off the screen")
        if part != button.region and not scrolls(button):
            faults.append(f"{name} is cut to {part}")
        for other, other_part in seen:
            if part.overlaps(other_part):
                faults.append(f"{name} overlaps {other.id or other.label}")
        seen.append((button, part))
    return faults


def cut_labels(screen: Screen[object]) -> list[str]:
    """The buttons on ``screen`` whose one-line label is wider than the button shows (its
    content less the blank cell each side that Textual's ``line-pad`` keeps). Buttons whose
    label is on more lines, such as the product grid's (name, price), are left out."""
    cut = []
    for button in screen.query(Button):
        room = button.content_size.width - 2 * button.styles.line_pad
        label = str(button.label)
        if shown(screen, button) is not None and "\n" not in label and cell_len(label) > room:
            cut.append(f"{button.id} cuts its label {str(button.label)!r} to {room} cells")
    return cut


def scrolls(widget: Widget) -> bool:
    """Whether ``widget`` lies in a row or grid made to scroll (the product grid, the category
    tabs): there an edge may cut the last button, and a swipe brings the rest. Anywhere else a
    cut button is a fault, even inside a container that scrolls as a last resort."""
    return any(isinstance(a, ProductGrid | CategoryBar) for a in widget.ancestors)


def hidden(screen: Screen[object], *selectors: str) -> list[str]:
    """The widgets among ``selectors`` that are not wholly on the screen, or lie partly under
    another widget (scrolled content under a docked row of buttons)."""
    missing = []
    for selector in selectors:
        widget = screen.query_one(selector)
        part = shown(screen, widget)
        if part is None or part != widget.region or not widget.region.area:
            missing.append(f"{selector} ({widget.region}, shown {part})")
        elif over := covering(screen, widget):
            missing.append(f"{selector} ({widget.region}) is under {over}")
    return missing


def covering(screen: Screen[object], widget: Widget) -> Widget | None:
    """A widget drawn over a corner or the middle of ``widget``, if any."""
    x, y, width, height = widget.region
    points = ((x, y), (x + width - 1, y), (x, y + height - 1), (x + width - 1, y + height - 1))
    for point in (*points, (x + width // 2, y + height // 2)):
        top, _ = screen.get_widget_at(*point)
        if top is not widget and widget not in top.ancestors:
            return top
    return None
