"""Helpers for the kiosk UI tests: a real Till over a real SQLite store seeded with the demo
catalog, printing to a real ESC/POS printer simulator on a free port."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from textual import events
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Digits, Static

from appliance import bootstrap
from appliance.config import load_settings
from appliance.services.till import Till
from appliance.tui.app import KioskApp
from appliance.tui.remote import POLL_S
from appliance.tui.scan import StepClock
from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
from appliance.tui.screens.sell import SellScreen
from appliance.tui.screens.terminal_payment import TerminalPaymentScreen
from bitagora_devtools.script import SIZE, tap, tap_product, wait_for_screen, wait_until
from bitagora_devtools.seed import seed_demo
from bitagora_devtools.sim.printer import PrinterSimulator

# How often a till in a test asks a payment simulator (Stripe's reader, Mercado Pago's order):
# ten times the device's pace. Faster (every 20 ms) kept a kiosk test's process from ever being
# idle for Textual's ``pilot.pause()``, which then waited its whole second each time.
PROVIDER_POLL_S = 0.1


@asynccontextmanager
async def till_with_printer(
    tmp_path: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[Till, PrinterSimulator]]:
    """``env``: further BITAGORA_* settings (a GPIO drawer on gpiozero's MockFactory, say)."""
    async with PrinterSimulator(tmp_path / "printer", port=0) as sim:
        settings = load_settings(
            tmp_path / "device", env={"BITAGORA_PRINTER_PORT": str(sim.port), **(env or {})}
        )
        till = await bootstrap.open_till(settings)
        try:
            await seed_demo(till.conn, till.currency)
            yield till, sim
        finally:
            await till.close()


@asynccontextmanager
async def kiosk(
    till: Till,
    clock: StepClock | None = None,
    pin: str | None = "1234",
    next_customer_after_s: float | None = None,
    quiet_gc: bool = False,
    size: tuple[int, int] = SIZE,
    remote_poll_s: float = POLL_S,
) -> AsyncIterator[tuple[KioskApp, Pilot[None]]]:
    """The kiosk app headless in ``size`` cells, catalog loaded and its first page on the grid,
    unlocked with ``pin`` (None: left locked).

    Keys are timed by ``clock``: a StepClock makes every key as fast as a scanner's; bump
    ``clock.now`` between keys to type like a person. ``remote_poll_s``: how often central's
    remote actions are looked for."""
    app = KioskApp(
        till,
        clock=clock or StepClock(),
        next_customer_after_s=next_customer_after_s,
        quiet_gc=quiet_gc,
        remote_poll_s=remote_poll_s,
    )
    async with app.run_test(size=size) as pilot:
        # The grid's first page is read in a worker after the categories: on a busy machine it
        # can land after the unlock.
        await wait_until(pilot, lambda: app.sell.view_settled, "the catalog's first page")
        if pin is not None:
            await unlock(pilot, app, pin)
        yield app, pilot


async def unlock(pilot: Pilot[None], app: KioskApp, pin: str) -> None:
    """``pin`` typed on the lock screen, then the sell screen."""
    send_keys(pilot, [*pin, "enter"])
    await wait_until(pilot, lambda: app.screen is app.sell, "the unlocked sell screen")


def send_keys(pilot: Pilot[None], keys: str | list[str]) -> None:
    """Keys as terminal input arrives: all queued at once through the driver's path into the
    app (``pilot.press`` instead waits for the app to go idle after every key)."""
    app = pilot.app
    for key in keys:
        character = "\r" if key == "enter" else key if len(key) == 1 else None
        app.post_message(events.Key(key, character))


async def scanner_burst(pilot: Pilot[None], *codes: str) -> None:
    """What a keyboard-wedge scanner sends: each code's keys and Enter, back to back."""
    for code in codes:
        send_keys(pilot, [*code, "enter"])
    app = pilot.app
    assert isinstance(app, KioskApp)
    await wait_until(pilot, lambda: app.sell.pending_lookups == 0, "barcode lookups")


async def type_slowly(pilot: Pilot[None], clock: StepClock, text: str) -> None:
    """Keys a person types: the screen's clock sees a second pass between any two of them."""
    step, clock.step_s = clock.step_s, 1.0
    try:
        send_keys(pilot, list(text))
        await pilot.pause()
    finally:
        clock.step_s = step


def cart_summary(sell: SellScreen) -> list[tuple[int, str]]:
    return [(line.quantity, line.product.sku) for line in sell.cart.lines]


def digits(app: KioskApp, selector: str) -> str:
    return app.screen.query_one(selector, Digits).value


def text(screen: Screen[Any], selector: str) -> str:
    """What a Static on ``screen`` shows."""
    return str(screen.query_one(selector, Static).render())


async def open_bitcoin_payment(
    pilot: Pilot[None], app: KioskApp, sku: str = "espresso"
) -> PayBitcoinScreen:
    """One ``sku`` in the cart, Pay bitcoin tapped: the pay screen once its offer shows."""
    sell: SellScreen = app.sell
    await tap_product(
        pilot, sell, next(p for p in await sell.till.sales.products() if p.sku == sku)
    )
    await tap(pilot, "#pay-bitcoin")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, PayBitcoinScreen) and app.screen.is_mounted,
        "the bitcoin screen",
    )
    screen = app.screen
    assert isinstance(screen, PayBitcoinScreen)
    await wait_until(pilot, lambda: screen.offer is not None, "the offer")
    return screen


TerminalScreen = TypeVar("TerminalScreen", bound=TerminalPaymentScreen[Any, Any])


async def terminal_attempt(pilot: Pilot[None], kind: type[TerminalScreen]) -> TerminalScreen:
    """The terminal payment screen (card, Mercado Pago) once it is built and its attempt
    started (on the reader or the Point device, or its QR code drawn)."""
    screen = await wait_for_screen(pilot, kind, "the payment screen")
    await wait_until(pilot, lambda: screen.attempt is not None, "the attempt")
    return screen


async def open_terminal_payment(
    pilot: Pilot[None], kind: type[TerminalScreen], method: str, sku: str = "espresso"
) -> TerminalScreen:
    """One ``sku`` in the cart, the ``#pay-{method}`` button tapped: the payment screen once
    its attempt started."""
    sell: SellScreen = pilot.app.sell  # type: ignore[attr-defined]
    await tap_product(
        pilot, sell, next(p for p in await sell.till.sales.products() if p.sku == sku)
    )
    await tap(pilot, f"#pay-{method}")
    return await terminal_attempt(pilot, kind)
