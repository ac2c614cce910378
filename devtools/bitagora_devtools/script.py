"""Scripted sales through the real kiosk app, headless: for ``bitagora demo --headless`` and tests.

Each sale is driven the way staff drive the till: taps on the on-screen PIN keypad, category tabs
and product buttons, sometimes a barcode scanner burst (keys then Enter), a quick-tender button,
Confirm, and Next customer. Waiting is on conditions (bounded), never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from textual import events
from textual.css.query import NoMatches
from textual.dom import NoScreen
from textual.errors import NoWidget
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget

from appliance.core.catalog import Product
from appliance.services.till import SaleResult, Till
from appliance.tui.app import KioskApp
from appliance.tui.scan import StepClock
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.sell import SellScreen
from appliance.tui.widgets.category_bar import CategoryBar
from appliance.tui.widgets.product_grid import ProductGrid

SIZE = (120, 40)
STEP_TIMEOUT_S = 60.0  # a bound for a step; a loaded machine has taken over 20 s


class ScriptError(RuntimeError):
    """A scripted step did not happen; the message says which."""


async def wait_until(
    pilot: Pilot[Any],
    condition: Callable[[], bool],
    what: str,
    timeout: float = STEP_TIMEOUT_S,  # noqa: ASYNC109 (a bound every caller gets by default)
) -> None:
    """Let the app run until ``condition()`` holds; ScriptError after ``timeout`` seconds.

    An app that has stopped (failed, or exited) cannot make it hold: the wait ends at once with
    a ScriptError, and ``run_test`` then raises the app's own exception if it failed."""
    app = pilot.app
    try:
        async with asyncio.timeout(timeout):
            await pilot.pause()
            while not condition():
                if app.return_code is not None:  # set once the app has stopped: 1 if it failed
                    raise ScriptError(
                        f"the kiosk app stopped (exit {app.return_code}) waiting for {what}"
                    )
                await pilot.pause()
    except TimeoutError:
        raise ScriptError(f"timed out after {timeout:g}s waiting for {what}") from None


S = TypeVar("S", bound=Screen[Any])


async def wait_for_screen(pilot: Pilot[Any], kind: type[S], what: str) -> S:
    """The active screen once it is a ``kind`` and built (composed and mounted): a screen is
    the active one as soon as it is pushed, before it has any widgets."""
    app = pilot.app

    def shown() -> bool:
        return isinstance(app.screen, kind) and app.screen.is_mounted

    await wait_until(pilot, shown, what)
    screen = app.screen
    assert isinstance(screen, kind)
    return screen


def _fully_visible(widget: Widget) -> bool:
    try:
        geometry = widget.screen.find_widget(widget)
    except (NoWidget, NoScreen):
        return False
    return geometry.visible_region == geometry.region


def _tappable(app: Any, target: Widget | str) -> tuple[Widget | None, str]:
    """The widget ``target`` names if a finger could tap it now, else None and why not.

    Scrolls it into view when it is off screen, as a cashier would."""
    if isinstance(target, str):
        screen = app.screen
        if not screen.is_mounted:
            return None, f"{screen!r} is still being built"
        try:
            widget: Widget = screen.query_one(target)
        except NoMatches:
            return None, f"{target!r} is not on {screen!r}"
    else:
        widget = target
    if not widget.is_mounted or not widget.display:
        return None, f"{widget!r} is not shown"
    if getattr(widget, "disabled", False):
        return None, f"{widget!r} is disabled"
    if not _fully_visible(widget):
        widget.scroll_visible(animate=False, immediate=True)
        return None, f"{widget!r} is off screen"
    region = widget.region
    if not region:
        return None, f"{widget!r} has no size yet"
    x, y = region.x + region.width // 2, region.y + region.height // 2
    try:
        under, _ = app.screen.get_widget_at(x, y)
    except NoWidget:
        under = None
    if under is not widget and (under is None or widget not in under.ancestors):
        return None, f"a tap on {widget!r} would land on {under!r}"
    return widget, ""


async def tap(pilot: Pilot[Any], target: Widget | str, timeout: float = STEP_TIMEOUT_S) -> None:  # noqa: ASYNC109
    """Tap a widget (or the widget a selector names on the active screen) in its middle, once
    it can be tapped: on a screen that has been built, shown, enabled, in view and not covered.
    A slow till (a loaded CPU, a Pi) shows a screen before its buttons: the tap waits for them,
    as a cashier does, instead of failing because it came early (issue 15 item 18).

    The press and release go in as terminal input does, through ``App.on_event``, which turns
    them into a Click on whatever is under them (``pilot.click`` skips that step, and waits
    between events so that it takes four times as long)."""
    app = pilot.app
    found: list[Widget] = []
    why = [""]

    def ready() -> bool:
        widget, why[0] = _tappable(app, target)
        if widget is None:
            return False
        found.append(widget)
        return True

    try:
        await wait_until(pilot, ready, f"{target!r} to be tappable", timeout)
    except ScriptError as err:
        raise ScriptError(f"{err} ({why[0]})" if why[0] else str(err)) from None
    region = found[-1].region
    x, y = region.x + region.width // 2, region.y + region.height // 2
    for event in (events.MouseDown, events.MouseUp):
        app.post_message(event(None, x, y, 0, 0, 1, False, False, False, screen_x=x, screen_y=y))
    await pilot.pause()


async def unlock(pilot: Pilot[Any], pin: str, by_keys: bool = False) -> None:
    """Unlock with taps on the PIN keypad (or typed digits and Enter)."""
    app = pilot.app
    lock = await wait_for_screen(pilot, LockScreen, "the lock screen")
    if by_keys:
        await pilot.press(*pin, "enter")
    else:
        for digit in pin:
            await tap(pilot, f"#key-{digit}")
        await tap(pilot, "#key-ok")
    await wait_until(
        pilot, lambda: app.screen is not lock or bool(lock.pad.message), "the PIN check"
    )
    if app.screen is lock:
        raise ScriptError(f"could not unlock: {lock.pad.message}")


async def tap_product(pilot: Pilot[Any], sell: SellScreen, product: Product) -> None:
    tab = next(
        (b for b in sell.query_one(CategoryBar).query(".category") if b.name == product.category),
        None,
    )
    if tab is None:
        raise ScriptError(f"no category tab {product.category!r}")
    await tap(pilot, tab)
    grid = sell.query_one(ProductGrid)
    await wait_until(pilot, lambda: sell.view_settled, f"the {product.category} page")
    button = grid.button_for(product.sku)
    if button is None:
        raise ScriptError(f"no button for product {product.sku!r} on the first page")
    await wait_until(pilot, lambda: button.display, f"{product.name} in the grid")
    before = _items(sell)
    await tap(pilot, button)
    await wait_until(pilot, lambda: _items(sell) > before, f"{product.name} in the cart")


async def scan(pilot: Pilot[Any], sell: SellScreen, code: str) -> None:
    """A keyboard-wedge scanner: the code's characters then Enter, as one burst; returns once
    the product is in the cart (not once the lookups pending are none, which is also true
    before the keys have arrived)."""
    before = _items(sell)
    await pilot.press(*code, "enter")
    await wait_until(
        pilot,
        lambda: _items(sell) > before and sell.pending_lookups == 0,
        f"the product of barcode {code} in the cart",
    )


def _items(sell: SellScreen) -> int:
    return sum(line.quantity for line in sell.cart.lines)


def choose_products(products: list[Product], index: int) -> list[Product]:
    """1 to 3 products for sale ``index``, always the same ones for the same index."""
    count = 1 + index % 3
    return [products[(index * 5 + k * 3) % len(products)] for k in range(count)]


async def one_sale(pilot: Pilot[Any], app: KioskApp, index: int) -> SaleResult:
    sell = app.sell
    products = await app.till.sales.products()
    for product in choose_products(products, index):
        await tap_product(pilot, sell, product)
    barcoded = [p for p in products if p.barcode]
    if index % 2 == 1 and barcoded:
        product = barcoded[index % len(barcoded)]
        assert product.barcode is not None
        await scan(pilot, sell, product.barcode)
    if sell.cart.is_empty:
        raise ScriptError(f"sale {index + 1}: the cart is empty after tapping products")
    expected = sell.cart.totals().total

    await tap(pilot, "#pay")
    pay = await wait_for_screen(pilot, PayCashScreen, "the payment screen")
    tender = pay.tenders[index % len(pay.tenders)]
    await tap(pilot, f"#tender-{index % len(pay.tenders)}")
    await wait_until(pilot, lambda: pay.tendered == tender, f"{tender} tendered")
    await tap(pilot, "#confirm")

    def settled() -> bool:
        return (isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted) or (
            app.screen is pay and not pay.paying and pay.message.startswith("Sale not")
        )

    await wait_until(pilot, settled, f"sale {index + 1} to complete")
    done = app.screen
    if not isinstance(done, SaleDoneScreen):
        raise ScriptError(f"sale {index + 1} did not complete: {pay.message}")
    result = done.result
    if result.total != expected:
        raise ScriptError(f"sale {index + 1}: till charged {result.total}, cart showed {expected}")
    await tap(pilot, "#next-customer")
    await wait_until(
        pilot, lambda: app.screen is sell and sell.cart.is_empty, "an empty sell screen"
    )
    return result


async def run_scripted_sales(till: Till, count: int, pin: str = "1234") -> list[SaleResult]:
    """Run ``count`` cash sales through KioskApp headless; the SaleResults in order."""
    app = KioskApp(till, clock=StepClock(), next_customer_after_s=None)
    results: list[SaleResult] = []
    async with app.run_test(size=SIZE) as pilot:
        await unlock(pilot, pin)
        await wait_until(pilot, lambda: app.sell.catalog_loaded, "the catalog")
        if not await app.till.sales.products():
            raise ScriptError("the catalog is empty: nothing to sell")
        for index in range(count):
            results.append(await one_sale(pilot, app, index))
    return results
