"""Cash payment: the total, quick tenders, a keypad for the amount handed over, live change.

With cash rounding (core/tender.py) the amount due in cash is the total rounded to the shop's
increment; the screen shows it, with the total and the rounding above it.

Dismissed with the ``SaleResult`` once the till has committed the sale, or None on Cancel. The
sale is committed by ``SalesService.pay_cash`` in a worker, so the screen keeps drawing
meanwhile; Cancel and the keys are off until it returns.
"""

from __future__ import annotations

import logging

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal
from textual.reactive import reactive, var
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.core.cart import Cart
from appliance.core.tender import quick_tenders, rounded_cash
from appliance.i18n import _, money
from appliance.services.till import SaleResult, Staff, Till
from appliance.tui.scan import Clock, ScanBuffer
from appliance.tui.widgets.basics import TouchScroll, amount_box, digits_text
from appliance.tui.widgets.keypad import AMOUNT_KEYS, Keypad, typed_amount
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money, MoneyError, exponent

log = logging.getLogger(__name__)


def plain_amount(money: Money) -> str:
    """An amount as the keypad would type it: "20", "7.30"."""
    exp = exponent(money.currency)
    whole, frac = divmod(money.minor, 10**exp)
    return f"{whole}.{frac:0{exp}d}" if exp and frac else str(whole)


class PayCashScreen(ModalScreen[SaleResult | None]):
    CSS_PATH = "pay_cash.tcss"
    AUTO_FOCUS = None

    entry: reactive[str] = reactive("", init=False)
    paying: reactive[bool] = reactive(False, init=False)
    message: reactive[str] = reactive("", init=False)
    before_burst: var[str] = var("")

    def __init__(
        self, till: Till, cart: Cart, staff: Staff, clock: Clock, cash_rounding: int = 1
    ) -> None:
        """``cash_rounding``: the increment the cash due is rounded to (minor units)."""
        super().__init__()
        self.till = till
        self.cart = cart
        self.staff = staff
        self.total = cart.totals().total
        self.due = rounded_cash(self.total, cash_rounding)
        self.tenders = quick_tenders(self.due)
        self.decimals = exponent(self.total.currency)
        self.scanner = ScanBuffer(clock)

    def compose(self) -> ComposeResult:
        with TouchScroll(id="pay-dialog"):
            with Horizontal(id="pay-actions"):
                yield TapButton(_("Cancel"), "error", id="cancel")
                yield TapButton(_("Confirm"), "success", id="confirm", disabled=True)
            yield Static(
                _("Cash payment · served by {name}").format(name=self.staff.name),
                id="pay-title",
                markup=False,
            )
            if self.due != self.total:
                yield Static(
                    _("Total {total}, rounded for cash by {rounding}").format(
                        total=money(self.total), rounding=money(self.due - self.total)
                    ),
                    id="pay-rounding",
                    markup=False,
                )
            with Horizontal(id="pay-amounts"):
                label = _("TOTAL") if self.due == self.total else _("CASH DUE")
                yield amount_box(label, "pay-total", money(self.due))
                yield amount_box(_("TENDERED"), "pay-tendered")
                yield amount_box(_("CHANGE"), "pay-change", label_id="change-label")
            with Horizontal(id="pay-body"):
                with Grid(id="quick-tenders"):
                    for i, amount in enumerate(self.tenders):
                        shown = money(amount)
                        label = (
                            _("Exact {amount}").format(amount=shown)
                            if amount == self.due
                            else shown
                        )
                        yield TapButton(label, "primary", id=f"tender-{i}", classes="tender")
                yield Keypad(AMOUNT_KEYS, id="amount-keypad")
            yield Static("", id="pay-message", markup=False)

    def on_mount(self) -> None:
        self.watch_entry(self.entry)

    @property
    def tendered(self) -> Money | None:
        """What the cashier says was handed over, or None while nothing sensible is typed."""
        if not self.entry or self.entry == ".":
            return None
        try:
            return Money.parse(self.entry, self.total.currency)
        except MoneyError:
            return None

    def watch_entry(self, entry: str) -> None:
        tendered = self.tendered
        self.query_one("#pay-tendered", Digits).update(
            digits_text(money(tendered)) if tendered is not None else ""
        )
        label, change = (
            self.query_one("#change-label", Static),
            self.query_one("#pay-change", Digits),
        )
        if tendered is None:
            label.update(_("CHANGE"))
            change.update("")
        elif tendered >= self.due:
            label.update(_("CHANGE"))
            change.update(digits_text(money(tendered - self.due)))
        else:
            label.update(_("STILL DUE"))
            change.update(digits_text(money(self.due - tendered)))
        label.set_class(tendered is not None and tendered < self.due, "-short")
        self._update_confirm()

    def watch_paying(self, paying: bool) -> None:
        for widget in self.query(TapButton):
            widget.disabled = paying
        self._update_confirm()
        if paying:
            self.message = _("Recording the sale, opening the drawer, printing…")

    def watch_message(self, message: str) -> None:
        self.query_one("#pay-message", Static).update(message)

    def _update_confirm(self) -> None:
        tendered = self.tendered
        ready = tendered is not None and tendered >= self.due and not self.paying
        self.query_one("#confirm", TapButton).disabled = not ready

    # -- typing the amount -----------------------------------------------------------------------

    def type_key(self, key: str) -> None:
        """Apply a keypad key ("0".."9", "00", "dot", "back", "clear") to the amount."""
        if self.paying:
            return
        self.message = ""
        self.entry = typed_amount(self.entry, key, self.decimals)

    @on(Keypad.Pressed)
    def _keypad(self, event: Keypad.Pressed) -> None:
        self.scanner.reset()
        self.type_key(event.key)

    @on(Button.Pressed, ".tender")
    def _quick_tender(self, event: Button.Pressed) -> None:
        index = int((event.button.id or "tender-0").removeprefix("tender-"))
        self.message = ""
        self.scanner.reset()
        self.entry = plain_amount(self.tenders[index])

    def on_key(self, event: events.Key) -> None:
        char = event.character
        if event.key == "enter":
            if self.scanner.enter() is not None:
                # A barcode scanner's burst, not a person: it must never pay a sale.
                self.entry = self.before_burst
                self.message = _("That was a barcode scan; finish or cancel the payment first")
            else:
                self.confirm()
        elif event.key == "escape":
            self.cancel()
        elif event.key == "backspace":
            self.scanner.reset()
            self.type_key("back")
        elif event.key == "delete":
            self.scanner.reset()
            self.type_key("clear")
        elif event.is_printable and char:
            before = self.entry
            self.scanner.key(char)
            if len(self.scanner.pending) == 1:  # a new burst starts with this key
                self.before_burst = before
            if char.isdigit():
                self.type_key(char)
            elif char in ".,":
                self.type_key("dot")
        else:
            return
        event.stop()
        event.prevent_default()

    # -- confirm / cancel ------------------------------------------------------------------------

    @on(Button.Pressed, "#cancel")
    def cancel(self) -> None:
        if not self.paying:
            self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def confirm(self) -> None:
        tendered = self.tendered
        if self.paying or tendered is None or tendered < self.due:
            return
        if self.cart.is_empty or self.cart.totals().total != self.total:
            # Never pay a cart other than the one whose total is on screen.
            self.message = _("The cart changed: cancel and pay again")
            return
        self.paying = True
        self._pay(tendered)

    @work(exclusive=True, group="pay", exit_on_error=False)
    async def _pay(self, tendered: Money) -> None:
        try:
            result = await self.till.sales.pay_cash(self.cart, self.staff, tendered)
        except Exception as err:
            log.exception("cash payment failed")
            self.paying = False
            self.message = _("Sale not completed: {error}").format(error=err)
            return
        self.dismiss(result)
