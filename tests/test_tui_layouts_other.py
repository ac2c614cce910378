"""The kiosk's other screens at the panel sizes it is built with (see test_tui_layouts.py for
sell, lock, pay cash and pay bitcoin): the manager menu and everything behind it (staff and a
new PIN too), split and card payments, sale done, the search keyboard and the technician screen.
On each, every button is at least the minimum touch target, whole on the screen, clear of the
others and with its label whole, and what the screen is for can be done by touch (its NEEDED
controls are whole on the screen and under no other widget).

One app run per panel opens every screen in turn over a till with real sales in its journal,
a card reader on the Stripe simulator and, for the Z close of a peso drawer, a second till kept
in ARS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from bitcoin_helpers import bitcoin_shop
from card_helpers import DECLINED, SHOP_KEY, card_env, present_card
from http_helpers import serve
from layout_helpers import PANELS, cut_labels, hidden, layout_faults
from refund_helpers import lightning_sale
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button
from tui_helpers import kiosk, till_with_printer

from appliance.core.cart import Cart
from appliance.core.catalog import Product
from appliance.core.report import DENOMINATIONS
from appliance.core.split import SplitSale
from appliance.provision.status import ProvisionStatus
from appliance.services.recovery import UntoldSale
from appliance.services.refunds import Approval
from appliance.services.shift import difference_question
from appliance.services.till import SaleResult, Staff, Till
from appliance.store import staff as staff_store
from appliance.tui.app import KioskApp
from appliance.tui.scan import StepClock
from appliance.tui.screens.amount import AmountScreen
from appliance.tui.screens.approval import ApprovalScreen
from appliance.tui.screens.confirm import ConfirmScreen
from appliance.tui.screens.last_sale import LastSaleScreen
from appliance.tui.screens.manager_menu import ITEMS, ManagerMenuScreen
from appliance.tui.screens.new_pin import NewPinScreen
from appliance.tui.screens.no_sale import NoSaleScreen
from appliance.tui.screens.pay_card import PayCardScreen
from appliance.tui.screens.refund import RefundScreen
from appliance.tui.screens.refund_find import RefundFindScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.search_keyboard import SearchKeyboardScreen
from appliance.tui.screens.split import SplitScreen
from appliance.tui.screens.staff import StaffScreen
from appliance.tui.screens.technician import TechnicianScreen
from appliance.tui.screens.void import VoidScreen
from appliance.tui.screens.x_report import XReportScreen
from appliance.tui.screens.z_close import ZCloseScreen
from appliance.tui.widgets.keypad import AMOUNT_KEYS, PIN_KEYS
from appliance.tui.widgets.reason_picker import PAID_IN_REASONS, PAID_OUT_REASONS
from appliance.tui.widgets.text_keyboard import COMMANDS, LETTERS, key_id
from bitagora_devtools.script import wait_until
from bitagora_devtools.sim.stripe import StripeSim
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(180)

AMOUNT = ("#amount-value", *(f"#key-{k}" for k in AMOUNT_KEYS), "#amount-cancel", "#amount-confirm")
PIN = ("#pin-display", *(f"#key-{k}" for k in PIN_KEYS))
REFUND = ("#refund-all", "#reason-0", "#reason-text", "#refund-cancel", "#refund-go")
CART = ("espresso", "croissant", "water", "sandwich")

# What each screen must show whole for its job to be done by touch alone.
NEEDED = {
    "manager-menu": (*(f"#menu-{key}" for key, _ in ITEMS), "#menu-message", "#menu-close"),
    "float": AMOUNT,
    "paid-in": (*AMOUNT, "#reason-text", *(f"#reason-{i}" for i in range(len(PAID_IN_REASONS)))),
    "paid-out": (
        *AMOUNT, "#reason-text", *(f"#reason-{i}" for i in range(len(PAID_OUT_REASONS))),
    ),
    "x-report": ("#x-lines", "#x-print", "#x-close"),
    "z-close-EUR": (
        *(f"#denom-{v}" for v in DENOMINATIONS["EUR"]), "#z-totals", "#key-0", "#key-9",
        "#z-cancel", "#z-drawer", "#z-confirm",
    ),
    "z-close-ARS": (
        *(f"#denom-{v}" for v in DENOMINATIONS["ARS"]), "#z-totals", "#key-0", "#key-9",
        "#z-cancel", "#z-drawer", "#z-confirm",
    ),
    "z-confirm": ("#confirm-question", "#confirm-no", "#confirm-yes"),
    "refund-find": ("#refund-sale-id", "#find-go", "#find-cancel", "#find-sales Button"),
    "refund": (
        *(f"#line-{s}-{i}" for i in range(len(CART)) for s in ("minus", "plus")),
        *REFUND, "#refund-plan",
    ),
    "refund-bitcoin": ("#line-minus-0", "#line-plus-0", *REFUND, "#refund-dest", "#refund-plan"),
    "void": ("#void-summary", "#reason-0", "#reason-text", "#void-cancel", "#void-go"),
    "approval": (*PIN, "#approval-prompt", "#approval-cancel"),
    "no-sale": (*PIN, "#approval-cancel"),
    "split": (
        "#split-total", "#split-remaining", "#split-amount", "#split-parts",
        *(f"#key-{k}" for k in AMOUNT_KEYS),
        "#split-cash", "#split-card", "#split-bitcoin", "#split-cancel",
    ),
    "pay-card": ("#card-prompt", "#card-total", "#card-cancel"),
    "pay-card-declined": ("#card-total", "#card-message", "#card-retry", "#card-back"),
    "sale-done": ("#done-change", "#done-summary", "#next-customer"),
    "sale-done-unprinted": ("#done-change", "#done-summary", "#done-problems", "#next-customer"),
    "search-keyboard": (
        *(f"#{key_id(c)}" for row in LETTERS for c in row), "#tk-layer",
        *(f"#{key_id(name)}" for name, _, _ in COMMANDS),
    ),
    "technician": ("#tech-message", "#tech-retry", "#tech-close"),
    "staff": (
        "#staff-name", "#staff-add", "#staff-message", "#staff-list", "#person-ana",
        "#person-marco", "#staff-pin", "#staff-active", "#staff-close",
    ),
    "new-pin": (*PIN, "#new-pin-prompt", "#new-pin-cancel"),
    "last-sale": ("#last-outcome", "#last-drawer", "#last-open", "#last-ok"),
}  # fmt: skip


@dataclass
class Day:
    """A till part-way through a day: a shift open, sales of several lines (cash and
    Lightning); and a till of the same shop kept in pesos."""

    till: Till
    peso_till: Till
    cashier: Staff
    manager: Staff
    cash_sale: SaleResult
    unprinted_sale: SaleResult  # sold with the printer out of paper
    lightning_sale: Record
    http: httpx.AsyncClient  # to the Stripe simulator, to present a card on its reader


async def staff(till: Till, pin: str) -> Staff:
    person = await staff_store.staff_by_pin(till.conn, pin)
    assert person is not None
    return person


def cart(till: Till, products: dict[str, Product], skus: tuple[str, ...] = CART) -> Cart:
    basket = till.sales.new_cart()
    for sku in skus:
        basket.add(products[sku])
    return basket


def screens(app: KioskApp, day: Day, split: SplitSale) -> dict[str, Callable[[], Screen[Any]]]:
    """How to build each screen of NEEDED, as the app would."""
    till, manager, cashier = day.till, day.manager, day.cashier
    shifts = till.shifts
    refunds = till.refunds
    currency = till.currency
    basket = app.sell.cart

    async def approve(approval: Approval) -> Staff:
        return manager

    async def retry() -> ProvisionStatus:
        return FAILED

    return {
        "manager-menu": lambda: ManagerMenuScreen(till, cashier, basket),
        "float": lambda: AmountScreen(
            "Open shift: the float",
            currency,
            lambda amount, _: shifts.open_shift(manager, amount),
            hint="Count the cash in the drawer and type it",
        ),
        "paid-in": lambda: AmountScreen(
            "Paid into the drawer",
            currency,
            lambda amount, reason: shifts.paid_in(manager, amount, reason),
            reasons=PAID_IN_REASONS,
        ),
        "paid-out": lambda: AmountScreen(
            "Paid out of the drawer",
            currency,
            lambda amount, reason: shifts.paid_out(manager, amount, reason),
            reasons=PAID_OUT_REASONS,
        ),
        "x-report": lambda: XReportScreen(shifts, manager),
        "z-close-EUR": lambda: ZCloseScreen(shifts, manager),
        "z-close-ARS": lambda: ZCloseScreen(day.peso_till.shifts, manager),
        # the longest question and answer: a peso drawer far off
        "z-confirm": lambda: ConfirmScreen(
            "Close the day with a difference?",
            difference_question(0, 1_234_567_890, "ARS"),
            f"Close {Money(1_234_567_890, 'ARS')} short",
            "Back to the count",
        ),
        "refund-find": lambda: RefundFindScreen(refunds),
        "refund": lambda: RefundScreen(till, refunds, manager, day.cash_sale.record),
        "refund-bitcoin": lambda: RefundScreen(till, refunds, manager, day.lightning_sale),
        "void": lambda: VoidScreen(till, refunds, cashier, basket),
        "approval": lambda: ApprovalScreen(
            till, cashier, "A manager's approval", "A manager may do this", approve
        ),
        "no-sale": lambda: NoSaleScreen(till, cashier),
        "split": lambda: SplitScreen(till, split, cashier),
        "pay-card": lambda: PayCardScreen(till, basket, cashier),
        "pay-card-declined": lambda: PayCardScreen(till, basket, cashier),
        "sale-done": lambda: SaleDoneScreen(day.cash_sale),
        "sale-done-unprinted": lambda: SaleDoneScreen(day.unprinted_sale),
        "search-keyboard": lambda: SearchKeyboardScreen(app.sell),
        "technician": lambda: TechnicianScreen(FAILED, retry),
        "staff": lambda: StaffScreen(till, manager),
        "new-pin": lambda: NewPinScreen(till.clock, "A new PIN for Ana", lambda pin: retry()),
        "last-sale": lambda: LastSaleScreen(
            till,
            UntoldSale(day.cash_sale.record, day.cash_sale.total, "interrupted", True),
            cashier,
        ),
    }


FAILED = ProvisionStatus(
    state="failed",
    step="enrollment",
    message="central refused the enrollment code: it is unknown or was used already",
    at="2026-11-29T09:00:00Z",
    setup="/boot/firmware/bitagora-setup.toml",
    root="/",
    doctor="\n".join(f"check {i}: failed, see docs/TECHNICIAN.md" for i in range(40)),
)


async def ready(pilot: Pilot[None], day: Day, name: str, screen: Screen[Any]) -> None:
    """``screen`` in the state its check is about."""
    if name == "refund-find":
        await wait_until(pilot, lambda: bool(screen.query("#find-sales Button")), "today's sales")
    elif name in ("refund", "refund-bitcoin"):
        screen.query_one("#refund-all", Button).press()
        await wait_until(pilot, lambda: not screen.query_one("#refund-go").disabled, "the plan")
    elif isinstance(screen, PayCardScreen):
        await wait_until(pilot, lambda: screen.attempt is not None, "the reader")
        if name == "pay-card-declined":
            await present_card(day.till.settings.card, day.http, DECLINED)
            await wait_until(pilot, lambda: screen.ended, "the card declined")
    elif isinstance(screen, ManagerMenuScreen):
        # what the menu says after a refund that went wrong in part: its longest message
        screen.message = (
            "Refund recorded (journal #12): €11.90\n"
            "Cash €11.90: give it back, drawer opened (journal #13)\n"
            "Receipt not printed: the printer is out of paper; reprint it from the sell screen"
        )
    elif isinstance(screen, StaffScreen):
        await wait_until(pilot, lambda: bool(screen.query("#person-marco")), "the people")
        screen.selected = screen.people["ana"]
        # its longest message: a refusal in the service's words
        screen.message = (
            "Not done: Marco is the till's last active manager: add another manager first"
        )
    elif isinstance(screen, ZCloseScreen):
        screen.counts = dict.fromkeys(screen.denominations, 12)  # a day's count: longer labels
    elif isinstance(screen, SplitScreen):
        cancel = screen.query_one("#split-cancel", Button)
        await wait_until(pilot, lambda: str(cancel.label) == "Give back", "the parts paid")
    await pilot.pause()


def on_top(app: KioskApp, screen: Screen[Any]) -> Callable[[], bool]:
    return lambda: app.screen is screen and screen.is_mounted


async def close(pilot: Pilot[None], app: KioskApp, screen: Screen[Any]) -> None:
    if isinstance(screen, PayCardScreen):
        screen.cancel()  # ends the reader's attempt first
    else:
        app.pop_screen()
    await wait_until(pilot, lambda: app.screen is app.sell, "back to selling")


@asynccontextmanager
async def a_day(tmp_path: Path) -> AsyncIterator[Day]:
    async with (
        httpx.AsyncClient(timeout=5.0) as http,
        serve(StripeSim(api_key=SHOP_KEY).app()) as stripe,
        bitcoin_shop(tmp_path, env=card_env(stripe)) as shop,
        till_with_printer(tmp_path / "pesos", {"BITAGORA_DEVICE_CURRENCY": "ARS"}) as (pesos, _),
    ):
        till = shop.till
        products = {p.sku: p for p in await till.sales.products()}
        cashier, manager = await staff(till, "1234"), await staff(till, "9999")
        await till.shifts.open_shift(manager, Money(15_000, till.currency))
        sold = []
        for _ in range(3):
            basket = cart(till, products)
            total = basket.totals().total
            tendered = Money(total.minor + 1_000, total.currency)
            sold.append(await till.sales.pay_cash(basket, cashier, tendered))
        shop.printer.paper_out = True
        unprinted = await till.sales.pay_cash(cart(till, products), cashier, tendered)
        shop.printer.paper_out = False
        assert unprinted.problems
        ln = await lightning_sale(till, "espresso", "croissant")
        yield Day(till, pesos, cashier, manager, sold[-1], unprinted, ln, http)


async def two_parts_paid(day: Day) -> SplitSale:
    """A split sale of CART with two cash parts paid."""
    till = day.till
    split = await till.split.begin(
        cart(till, {p.sku: p for p in await till.sales.products()}), day.cashier
    )
    for _ in range(2):
        part = await till.split.pay_cash(split.sale_id, day.cashier, Money(300, till.currency))
        assert isinstance(part, SplitSale)
        split = part
    assert len(split.parts) == 2
    return split


@pytest.mark.long
@pytest.mark.parametrize("panel", list(PANELS))
async def test_every_other_screen_fits_the_panel_for_fingers(tmp_path: Path, panel: str) -> None:
    size = PANELS[panel]
    faults: dict[str, list[str]] = {}
    async with a_day(tmp_path) as day, kiosk(day.till, StepClock(), size=size) as (app, pilot):
        products = {p.sku: p for p in await app.till.sales.products()}
        for sku in CART:
            app.sell.cart.add(products[sku])
        # begun once the app is running, which would otherwise take it up at the unlock
        split = await two_parts_paid(day)
        for name, build in screens(app, day, split).items():
            screen = build()
            await app.push_screen(screen)
            await wait_until(pilot, on_top(app, screen), name)
            await ready(pilot, day, name, screen)
            found = layout_faults(screen) + cut_labels(screen) + hidden(screen, *NEEDED[name])
            if found:
                faults[name] = found
            await close(pilot, app, screen)
    assert not faults, "\n".join(f"{name}: {f}" for name, found in faults.items() for f in found)
