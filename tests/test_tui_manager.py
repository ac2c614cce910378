"""The manager menu on the kiosk, driven by taps through the real app (Textual Pilot) against the
ESC/POS printer simulator: a whole day (float, sale, paid out, X, Z short by a coin), a refund
of one line approved by a manager's PIN, a cashier's refund refused with wrong PINs counted, a
void, a Lightning refund that asks for the customer's destination, a card refund through the
Stripe simulator, and a cashier's paid out approved by a manager's badge on the (simulated)
PN532."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest
from card_helpers import card_shop
from layout_helpers import PANELS
from lightning_helpers import customer_invoice
from print_helpers import sell
from refund_helpers import lightning_sale
from textual.widgets import Button, Static
from tui_helpers import kiosk, send_keys, text, till_with_printer

from appliance.core.report import DENOMINATIONS
from appliance.services.refunds import payouts
from appliance.services.till import Staff, Till
from appliance.store import journal
from appliance.tui.screens.amount import AmountScreen
from appliance.tui.screens.approval import ApprovalScreen
from appliance.tui.screens.confirm import ConfirmScreen
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.manager_menu import ManagerMenuScreen
from appliance.tui.screens.refund import RefundScreen
from appliance.tui.screens.refund_find import RefundFindScreen
from appliance.tui.screens.search_keyboard import SearchKeyboardScreen
from appliance.tui.screens.sell import SellScreen
from appliance.tui.screens.void import VoidScreen
from appliance.tui.screens.x_report import XReportScreen
from appliance.tui.screens.z_close import ZCloseScreen
from appliance.tui.widgets.cart_view import CartView
from appliance.tui.widgets.keypad import Keypad
from appliance.tui.widgets.text_keyboard import TextKeyboard
from bitagora_devtools.script import one_sale, tap, tap_product, wait_until
from bitagora_devtools.seed import DEMO_BADGES
from bitagora_devtools.sim.nfc import Pn532Simulator, SimCard
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(120)

ANA = Staff("ana", "Ana", "cashier")  # demo staff: Ana 1234, Marco 9999 (manager)


async def records(till: Till, kind: str) -> list[Record]:
    return [r async for r in journal.iterate(till.conn) if r.kind == kind]


async def on_screen(pilot: Any, kind: type) -> Any:
    app = pilot.app
    await wait_until(
        pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted, kind.__name__
    )
    return app.screen


async def open_menu(pilot: Any) -> ManagerMenuScreen:
    await tap(pilot, "#menu")
    return await on_screen(pilot, ManagerMenuScreen)  # type: ignore[no-any-return]


async def tap_keys(pilot: Any, keys: str) -> None:
    for key in keys:
        await tap(pilot, f"#key-{key}")


async def approve(pilot: Any, pin: str) -> ApprovalScreen[Any]:
    """Tap ``pin`` and OK on the approval modal; wait for the till's answer."""
    modal = await on_screen(pilot, ApprovalScreen)
    modal.pad.message = ""
    await tap_keys(pilot, pin)
    await tap(pilot, "#key-ok")
    app = pilot.app
    await wait_until(pilot, lambda: app.screen is not modal or bool(modal.pad.message), "the PIN")
    return modal  # type: ignore[no-any-return]


def count_for(minor: int, currency: str) -> dict[int, int]:
    """Notes and coins that make ``minor``, largest first."""
    count: dict[int, int] = {}
    for value in DENOMINATIONS[currency]:
        count[value], minor = divmod(minor, value)
    assert minor == 0
    return {v: n for v, n in count.items() if n}


@pytest.mark.long
async def test_a_day_by_the_ui(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim), kiosk(till, pin="9999") as (app, pilot):
        sell_screen = app.sell
        banner = sell_screen.query_one("#shift-banner", Static)
        await wait_until(pilot, lambda: banner.display, "the no-shift banner")

        menu = await open_menu(pilot)
        await wait_until(pilot, lambda: "No shift open" in text(menu, "#menu-shift"), "status")
        await tap(pilot, "#menu-open-shift")
        await on_screen(pilot, AmountScreen)
        await tap_keys(pilot, "50")
        await tap(pilot, "#amount-confirm")
        await wait_until(pilot, lambda: app.screen is menu, "the menu again")
        assert text(menu, "#menu-message").startswith("Shift open with a float of €50.00")
        await tap(pilot, "#menu-close")
        await wait_until(pilot, lambda: not banner.display, "the banner gone")

        sale = await one_sale(pilot, app, 0)

        menu = await open_menu(pilot)
        await tap(pilot, "#menu-paid-out")
        await on_screen(pilot, AmountScreen)
        await tap_keys(pilot, "5")
        await tap(pilot, "#amount-confirm")  # no reason yet: refused in words
        amount = app.screen
        assert isinstance(amount, AmountScreen)
        await wait_until(pilot, lambda: "needs a reason" in amount.message, "the refusal")
        await tap(pilot, "#reason-0")
        await tap(pilot, "#amount-confirm")
        await wait_until(pilot, lambda: app.screen is menu, "the menu again")
        assert text(menu, "#menu-message").startswith("Paid out €5.00: Supplies")

        expected = 5000 + sale.total.minor - 500
        await tap(pilot, "#menu-x-report")
        x = await on_screen(pilot, XReportScreen)
        await wait_until(pilot, lambda: "Sales: 1" in text(x, "#x-lines"), "the X")
        lines = text(x, "#x-lines")
        assert "Float: €50.00" in lines and "Paid out: -€5.00" in lines
        assert f"Cash taken: {sale.total}" in lines
        assert f"Expected cash: {Money(expected, 'EUR')}" in lines
        await tap(pilot, "#x-close")

        await tap(pilot, "#menu-z-close")
        z = await on_screen(pilot, ZCloseScreen)
        await wait_until(pilot, lambda: z.expected is not None, "the expected cash")
        await tap(pilot, "#z-drawer")
        await wait_until(pilot, lambda: z.message == "Drawer open: count it", "the drawer")
        assert [r.body["reason"] for r in await records(till, "drawer_open")][-1] == "count"
        counted = count_for(expected - 1, "EUR")  # one cent short
        for value, pieces in counted.items():
            await tap(pilot, f"#denom-{value}")
            await tap_keys(pilot, str(pieces))
        totals = text(z, "#z-totals")
        assert f"Counted: {Money(expected - 1, 'EUR')}" in totals
        assert "Difference: -€0.01  (short)" in totals
        await tap(pilot, "#z-confirm")
        confirm = await on_screen(pilot, ConfirmScreen)
        assert text(confirm, "#confirm-question") == (
            f"Counted {Money(expected - 1, 'EUR')}, expected {Money(expected, 'EUR')}:"
            " close with €0.01 short?"
        )
        await tap(pilot, "#confirm-yes")
        await wait_until(pilot, lambda: z.result is not None, "the Z")
        assert "Z #1 recorded" in z.message and "difference -€0.01" in z.message
        [record] = await records(till, "z_close")
        assert record.body["difference"] == -1
        assert record.body["counted"]["total"] == expected - 1
        assert record.body["counted"]["denominations"] == {str(v): n for v, n in counted.items()}
        assert record.body["staff"]["name"] == "Marco"
        printed = await sim.wait_receipts(2)
        assert "Z REPORT #1" in printed[1]

        await tap(pilot, "#z-cancel")  # Done
        await wait_until(pilot, lambda: app.screen is menu, "the menu again")
        assert "Z #1, difference -€0.01" in text(menu, "#menu-message")
        await tap(pilot, "#menu-z-close")  # a second Z for the same period
        again = await on_screen(pilot, ZCloseScreen)
        await wait_until(pilot, lambda: again.expected is not None, "the expected cash")
        await tap(pilot, "#z-confirm")
        await wait_until(pilot, lambda: "No Z" in again.message, "the refusal")
        assert "this period is closed" in again.message
        assert len(await records(till, "z_close")) == 1
        await tap(pilot, "#z-cancel")
        await wait_until(pilot, lambda: app.screen is menu, "the menu again")
        await tap(pilot, "#menu-close")
        await wait_until(pilot, lambda: banner.display, "no shift open after the Z")


async def test_a_z_short_or_over_asks_first_stating_the_difference(tmp_path: Path) -> None:
    """Issue 15 item 4: "Close the day" with nothing counted against a €100 float asks
    "Counted €0.00, expected €100.00: close with €100.00 short?"; No goes back to the count and
    writes nothing, Yes seals the Z with that difference."""
    async with till_with_printer(tmp_path) as (till, _sim), kiosk(till, pin="9999") as (app, pilot):
        marco = app.sell.staff
        assert marco is not None
        await till.shifts.open_shift(marco, Money(10000, "EUR"))
        await open_menu(pilot)
        await tap(pilot, "#menu-z-close")
        z = await on_screen(pilot, ZCloseScreen)
        await wait_until(pilot, lambda: z.expected == 10000, "the expected cash")
        await tap(pilot, "#z-confirm")
        confirm = await on_screen(pilot, ConfirmScreen)
        assert text(confirm, "#confirm-question") == (
            "Counted €0.00, expected €100.00: close with €100.00 short?"
        )
        assert str(confirm.query_one("#confirm-yes", Button).label) == "Close €100.00 short"
        await tap(pilot, "#confirm-no")
        assert await on_screen(pilot, ZCloseScreen) is z
        assert z.result is None and await records(till, "z_close") == []
        await tap(pilot, "#z-confirm")
        await on_screen(pilot, ConfirmScreen)
        await tap(pilot, "#confirm-yes")
        await wait_until(pilot, lambda: z.result is not None, "the Z")
        [record] = await records(till, "z_close")
        assert record.body["difference"] == -10000 and record.body["counted"]["total"] == 0


async def test_a_reason_typed_on_the_on_screen_keyboard(tmp_path: Path) -> None:
    """No keyboard at the till: tapping the reason field brings the on-screen one, whose Enter
    only closes it (the paid out is confirmed by its own button, not by finishing a word)."""
    async with till_with_printer(tmp_path) as (till, _sim), kiosk(till, pin="9999") as (app, pilot):
        await open_menu(pilot)
        await tap(pilot, "#menu-paid-out")
        amount = await on_screen(pilot, AmountScreen)
        await tap_keys(pilot, "2")
        await tap(pilot, "#reason-text")
        keyboard = (await on_screen(pilot, SearchKeyboardScreen)).query_one(TextKeyboard)
        for key in ("i", "c", "e", "space", "ç"):
            await tap(pilot, keyboard.key(key))
        await tap(pilot, keyboard.key("enter"))
        assert await on_screen(pilot, AmountScreen) is amount
        assert amount.picker is not None and amount.picker.reason == "ice ç"
        assert await records(till, "paid_in_out") == []  # Enter closed the keyboard, no more
        await tap(pilot, "#amount-confirm")
        await on_screen(pilot, ManagerMenuScreen)
        [paid] = await records(till, "paid_in_out")
        assert paid.body["reason"] == "ice ç" and paid.body["amount"]["minor"] == 200


async def find_sale_by_keys(pilot: Any, code: str) -> RefundScreen:
    """Menu → Refund, then ``code`` and Enter as keys (typed, or a scanner's burst)."""
    await open_menu(pilot)
    await tap(pilot, "#menu-refund")
    await on_screen(pilot, RefundFindScreen)
    send_keys(pilot, [*code, "enter"])
    return await on_screen(pilot, RefundScreen)  # type: ignore[no-any-return]


async def test_a_refund_of_one_line_with_a_managers_pin(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        cart = till.sales.new_cart()
        products = {p.sku: p for p in await till.sales.products()}
        cart.add(products["espresso"], 2)
        cart.add(products["mug"])
        sale = await till.sales.pay_cash(cart, ANA, Money(5000, "EUR"))
        await sim.wait_receipts(1)
        async with kiosk(till, pin="1234") as (app, pilot):  # Ana serves, Marco approves
            # The receipt's QR code, read by a keyboard-wedge scanner.
            refund = await find_sale_by_keys(pilot, f"bitagora:{sale.sale_id}:{sale.record.seq}")
            assert "Ana is a cashier: a manager must approve a refund" in text(
                refund, "#refund-why"
            )
            await wait_until(pilot, lambda: refund.previous is not None, "earlier refunds")
            await tap(pilot, "#line-plus-1")  # the mug
            plan = "Back to the customer: €12.00 · Cash €12.00"
            await wait_until(pilot, lambda: text(refund, "#refund-plan") == plan, "the plan")
            await tap(pilot, "#reason-0")
            await tap(pilot, "#refund-go")
            modal = await approve(pilot, "9999")
            assert app.screen is refund and modal.pad.message == ""
            await wait_until(pilot, lambda: refund.result is not None, "the refund")
            assert "Cash €12.00: give it back, drawer opened" in refund.message
            # What is left is what the journal now says (issue 15 item 6), nothing more to tap.
            mug = "#line-text-1"
            await wait_until(pilot, lambda: text(refund, mug).endswith("left 0"), "mug left 0")
            assert text(refund, "#line-text-0").endswith("left 2")
            assert all(b.disabled for b in refund.query(".qty").results(Button))
            assert "Cash €12.00: give it back" in refund.message
            await tap(pilot, "#refund-cancel")
            menu = await on_screen(pilot, ManagerMenuScreen)
            assert text(menu, "#menu-message").startswith("Refund recorded")
        [record] = await records(till, "refund")
        assert [(ln["sku"], ln["quantity"]) for ln in record.body["lines"]] == [("mug", 1)]
        assert record.body["approved_by"]["name"] == "Marco"
        assert record.body["staff"]["name"] == "Ana" and record.body["reason"] == "Faulty"
        [opening] = [r for r in await records(till, "drawer_open") if r.seq > record.seq]
        assert opening.body["reason"] == "refund"
        assert await sim.wait_drawer_kicks(2)  # the sale's, then the refund's
        printed = await sim.wait_receipts(2)
        assert "REFUND" in printed[1] and "-€12.00" in printed[1] and "Faulty" in printed[1]


async def test_a_cashier_is_refused_and_wrong_manager_pins_lock_her_out(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await sell(till)
        async with kiosk(till, pin="1234") as (app, pilot):
            await open_menu(pilot)
            await tap(pilot, "#menu-refund")
            find = await on_screen(pilot, RefundFindScreen)
            await wait_until(pilot, lambda: bool(find.sales), "today's sales")
            await tap(pilot, f"#sale-{sale.record.seq}")
            refund = await on_screen(pilot, RefundScreen)
            await wait_until(pilot, lambda: refund.previous is not None, "earlier refunds")
            await tap(pilot, "#refund-all")
            await tap(pilot, "#reason-2")
            await tap(pilot, "#refund-go")
            modal = await on_screen(pilot, ApprovalScreen)
            assert text(modal, "#approval-prompt").startswith(
                "Ana is a cashier: a manager must approve a refund."
            )
            await approve(pilot, "1234")  # her own PIN does not approve
            assert modal.pad.message == "Ana is a cashier: a manager must approve a refund"
            for _ in range(4):
                await approve(pilot, "5555")
                assert modal.pad.message == "Wrong PIN, try again"
            await approve(pilot, "5555")
            assert modal.pad.message.startswith("Ana is locked out after too many wrong PINs")
            assert modal.query_one("#pin-keypad", Keypad).disabled
            await tap(pilot, "#approval-cancel")  # she may not go on: the till locks
            await on_screen(pilot, LockScreen)
            assert [type(s) for s in app.screen_stack][-2:] == [SellScreen, LockScreen]
            await tap_keys(pilot, "9999")
            await tap(pilot, "#key-ok")
            await wait_until(pilot, lambda: app.screen is app.sell, "Marco at the sell screen")
            assert app.sell.staff is not None and app.sell.staff.name == "Marco"
        assert not await records(till, "refund")
        assert (await till.access.lockout_remaining(ANA)).total_seconds() > 0


async def test_a_void_by_the_ui(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        async with kiosk(till, pin="1234") as (app, pilot):
            products = {p.sku: p for p in await app.till.sales.products()}
            await tap_product(pilot, app.sell, products["cake"])
            await tap_product(pilot, app.sell, products["cake"])
            await open_menu(pilot)
            await tap(pilot, "#menu-void")
            await on_screen(pilot, VoidScreen)
            await tap(pilot, "#reason-0")
            await tap(pilot, "#void-go")
            await approve(pilot, "9999")
            await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
            assert app.sell.cart.is_empty and not app.sell.query_one(CartView).rows
            assert app.sell.notice.startswith("Sale voided (€8.40, Customer left)")
        [void] = await records(till, "void")
        assert void.body["total"]["minor"] == 840 and void.body["lines"][0]["quantity"] == 2
        assert void.body["approved_by"]["name"] == "Marco"
        assert void.body["staff"]["name"] == "Ana"
        assert not await records(till, "sale")


async def test_a_lightning_refund_asks_for_and_records_the_destination(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        sale = await lightning_sale(till, "espresso")
        invoice = customer_invoice()
        async with kiosk(till, pin="9999") as (app, pilot):
            refund = await find_sale_by_keys(pilot, sale.body["sale_id"][:8])  # typed
            await wait_until(pilot, lambda: refund.previous is not None, "earlier refunds")
            await tap(pilot, "#refund-all")
            assert refund.destination.display
            await tap(pilot, "#reason-2")
            await tap(pilot, "#refund-go")
            assert "goes back by Lightning: ask the customer" in refund.message
            assert refund.destination.active
            send_keys(pilot, list("hello"))
            await wait_until(pilot, lambda: refund.destination.text == "hello", "typing")
            await tap(pilot, "#refund-go")
            assert "Lightning refund needs" in refund.message
            for _ in "hello":
                send_keys(pilot, ["backspace"])
            # The customer's QR code, scanned: QR codes carry bech32 in capitals.
            send_keys(pilot, list(f"lightning:{invoice}".upper()))
            await wait_until(
                pilot, lambda: refund.destination.text.endswith(invoice.upper()), "scan"
            )
            await tap(pilot, "#refund-go")
            await approve(pilot, "9999")
            await wait_until(pilot, lambda: refund.result is not None, "the refund")
            assert f"pending payout to {invoice}" in refund.message
            assert "drawer" not in refund.message
        [pending] = await payouts(till.conn, pending_only=True)
        assert pending["destination"] == invoice and pending["kind"] == "bolt11"
        assert pending["amount"] == sale.body["total"]["minor"]
        printed = await sim.wait_receipts(2)  # the sale's, then the refund's
        assert "REFUND" in printed[1] and "to pay" in printed[1]
        assert sim.drawer_kicks() == []


async def test_a_cashiers_paid_out_is_approved_by_a_managers_badge(tmp_path: Path) -> None:
    async with Pn532Simulator(link=tmp_path / "ttyNFC") as reader:
        env = {
            "BITAGORA_NFC_KIND": "pn532",
            "BITAGORA_NFC_PORT": reader.path,
            "BITAGORA_NFC_TIMEOUT_S": "0.5",
        }
        async with till_with_printer(tmp_path, env) as (till, _sim):
            async with kiosk(till, pin="1234") as (app, pilot):
                await open_menu(pilot)
                await tap(pilot, "#menu-paid-out")
                modal = await on_screen(pilot, ApprovalScreen)
                assert text(modal, "#approval-prompt").startswith(
                    "Ana is a cashier: a manager must pay cash into or out of the drawer."
                )
                reader.place_card(SimCard.ntag215(dict(DEMO_BADGES)["marco"]))
                amount = await on_screen(pilot, AmountScreen)
                reader.remove_card()
                await tap_keys(pilot, "12")
                await tap(pilot, "#reason-1")
                await tap(pilot, "#amount-confirm")
                await wait_until(pilot, lambda: app.screen is not amount, "the paid out")
            [paid] = await records(till, "paid_in_out")
            assert paid.body["direction"] == "out" and paid.body["amount"]["minor"] == 1200
            assert paid.body["staff"]["name"] == "Marco" and paid.body["reason"] == "Delivery"


async def test_a_card_refund_by_the_ui_goes_back_through_stripe(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as shop:
        till = shop.till
        cart = till.sales.new_cart()
        cart.add(next(p for p in await till.sales.products() if p.sku == "mug"))
        sale_id = str(uuid.uuid4())
        attempt = await till.sales.start_card(cart, ANA, sale_id)
        await shop.present()
        assert till.card is not None
        sale = await till.sales.pay_card(cart, ANA, sale_id, await till.card.wait(attempt))
        async with kiosk(till, pin="9999") as (_app, pilot):
            refund = await find_sale_by_keys(pilot, sale.sale_id[:8])
            await wait_until(pilot, lambda: refund.previous is not None, "earlier refunds")
            await tap(pilot, "#refund-all")
            await tap(pilot, "#reason-0")
            await tap(pilot, "#refund-go")
            await approve(pilot, "9999")
            await wait_until(pilot, lambda: refund.result is not None, "the refund")
            ((stripe_id, at_stripe),) = shop.sim.refunds.items()
            assert at_stripe["amount"] == 1200
            assert f"Card €12.00: refunded to the card ({stripe_id})" in refund.message
        [record] = await records(till, "refund")
        assert record.body["payments"][0]["refund_id"] == stripe_id


def whole(widget: Static) -> bool:
    """Whether ``widget`` shows all of its text: as many rows as the text takes at its width."""
    words = str(widget.render())
    width, height = widget.content_size
    return height >= len(textwrap.wrap(words, width)) and widget.region.area > 0


@pytest.mark.parametrize("panel", list(PANELS))
async def test_the_no_shift_banners_are_whole_sentences_shown_whole(
    tmp_path: Path, panel: str
) -> None:
    """Issue 15 item 9: the sell screen's banner and the menu's shift line read as if cut off
    ("…counts the float in", "…until one is"), and a one-row banner would cut a longer text:
    each is a whole sentence, and shown whole, at every panel."""
    async with (
        till_with_printer(tmp_path) as (till, _sim),
        kiosk(till, pin="9999", size=PANELS[panel]) as (app, pilot),
    ):
        banner = app.sell.query_one("#shift-banner", Static)
        await wait_until(pilot, lambda: banner.display, "the no-shift banner")
        menu = await open_menu(pilot)
        line = menu.query_one("#menu-shift", Static)
        await wait_until(pilot, lambda: "No shift open" in str(line.render()), "the menu's line")
        await pilot.pause()
        for widget in (line, app.sell.query_one("#shift-banner", Static)):
            words = str(widget.render())
            assert words.endswith("."), f"{widget.id} reads as cut off: {words!r}"
            if widget is line:
                assert whole(widget), f"{widget.id} at {widget.region}: {words!r}"
        await tap(pilot, "#menu-close")
        await wait_until(pilot, lambda: app.screen is app.sell, "selling")
        await pilot.pause()
        assert whole(banner), f"the banner at {banner.region}: {str(banner.render())!r}"


async def test_one_approval_covers_the_menu_visit_journalled_once(tmp_path: Path) -> None:
    """Issue 15 item 8: a cashier's paid in, paid out and X in one visit of the Menu took the
    manager's PIN three times. One approval covers the visit, journalled once as an
    ``approval`` record; Close ends it, and the next visit asks again."""
    async with till_with_printer(tmp_path) as (till, _sim), kiosk(till, pin="1234") as (app, pilot):
        menu = await open_menu(pilot)
        await tap(pilot, "#menu-paid-in")
        modal = await approve(pilot, "9999")
        assert modal.pad.message == ""
        await on_screen(pilot, AmountScreen)
        await tap_keys(pilot, "3")
        await tap(pilot, "#reason-0")
        await tap(pilot, "#amount-confirm")
        await wait_until(pilot, lambda: app.screen is menu, "the menu again")

        await tap(pilot, "#menu-paid-out")  # no PIN this time
        await on_screen(pilot, AmountScreen)
        await tap_keys(pilot, "2")
        await tap(pilot, "#reason-0")
        await tap(pilot, "#amount-confirm")
        await wait_until(pilot, lambda: app.screen is menu, "the menu again")
        await tap(pilot, "#menu-x-report")
        x = await on_screen(pilot, XReportScreen)
        await wait_until(pilot, lambda: "Sales: 0" in text(x, "#x-lines"), "the X")
        await tap(pilot, "#x-close")
        await wait_until(pilot, lambda: app.screen is menu, "the menu again")

        [grant] = await records(till, "approval")
        assert grant.body["staff"]["name"] == "Ana"
        assert grant.body["approved_by"]["name"] == "Marco"
        assert grant.body["scope"] == "menu" and grant.body["via"] == "pin"
        assert set(grant.body["actions"]) == {"paid_in_out", "x_report", "z_close"}
        paid = await records(till, "paid_in_out")
        assert [p.body["direction"] for p in paid] == ["in", "out"]
        assert all(p.body["staff"]["name"] == "Marco" and p.seq > grant.seq for p in paid)

        await tap(pilot, "#menu-close")  # the visit ends: the next one asks again
        await wait_until(pilot, lambda: app.screen is app.sell, "selling")
        await open_menu(pilot)
        await tap(pilot, "#menu-x-report")
        await on_screen(pilot, ApprovalScreen)
        await tap(pilot, "#approval-cancel")
        assert len(await records(till, "approval")) == 1
