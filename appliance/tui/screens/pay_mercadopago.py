"""Mercado Pago payment, on the Point device or by QR: the total; for QR the order's code with a
countdown; the payment's status; Cancel; after a rejection its words, "Try again" (a new
attempt for the same sale) and "Back to the sale".

The attempt runs in one worker (``start_mercadopago``, then ``MercadoPagoPayments.wait``);
Cancel asks Mercado Pago to cancel, and the waiting worker sees how it ended: a cancel that came
too late is a payment, and that worker alone records the sale. Dismissed with the
``SaleResult`` (or the split sale as it stands, for a part), or None when nothing was paid.
"""

from __future__ import annotations

import logging
import time
import uuid

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.core.cart import Cart
from appliance.core.sale import SaleError, method_label
from appliance.core.split import SplitSale
from appliance.i18n import _, money, ui_translations
from appliance.services.mercadopago import (
    MercadoPagoError,
    MercadoPagoMethod,
    OrderAttempt,
    OrderOutcome,
    OrderStatus,
)
from appliance.services.till import AuthError, LockedOut, NotAuthorized, SaleResult, Staff, Till
from appliance.tui.widgets.basics import countdown_text, digits_text
from appliance.tui.widgets.qr import QrCode
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)


class PayMercadoPagoScreen(ModalScreen[SaleResult | SplitSale | None]):
    CSS_PATH = "pay_mercadopago.tcss"
    AUTO_FOCUS = None

    message: reactive[str] = reactive("", init=False)
    ended: reactive[bool] = reactive(False, init=False)  # the attempt ended without a sale

    def __init__(
        self,
        till: Till,
        cart: Cart | None,
        staff: Staff,
        method: MercadoPagoMethod,
        *,
        part: tuple[str, Money] | None = None,
    ) -> None:
        """``part``: (split sale id, amount) to pay one part of a split sale instead of the
        whole of ``cart``."""
        super().__init__()
        self.till = till
        self.cart = cart
        self.staff = staff
        self.method = method
        self.part = part
        if part is not None:
            self.sale_id, self.total = part
        else:
            assert cart is not None
            self.total = cart.totals().total
            self.sale_id = str(uuid.uuid4())  # one sale id for every attempt
        self.attempt: OrderAttempt | None = None
        self._deadline = 0.0
        self._cancelling = False
        self._finished = False

    @property
    def qr(self) -> bool:
        return self.method is MercadoPagoMethod.QR

    def compose(self) -> ComposeResult:
        with Vertical(id="mp-dialog"):
            title = _("{method} · served by {name}").format(
                method=method_label(self.method.value, ui_translations()), name=self.staff.name
            )
            yield Static(title, id="mp-title", markup=False)
            prompt = (
                _("Scan the code with the Mercado Pago app or Pix")
                if self.qr
                else _("Present card on the Point device")
            )
            yield Static(prompt, id="mp-prompt", markup=False)
            yield QrCode(id="mp-qr", error_correction="L")
            yield Static(_("TOTAL"), classes="amount-label")
            yield Digits(digits_text(money(self.total)), id="mp-total")
            yield Static("", id="mp-countdown", markup=False)
            yield Static("", id="mp-message", markup=False)
            yield TapButton(_("Cancel"), "error", id="mp-cancel")
            with Horizontal(id="mp-ended"):
                yield TapButton(_("Try again"), "primary", id="mp-retry")
                yield TapButton(_("Back to the sale"), "default", id="mp-back")

    def on_mount(self) -> None:
        self.query_one("#mp-qr").display = False
        self.watch_ended(False)
        self.set_interval(1.0, self._tick)
        self._pay()

    def watch_message(self, message: str) -> None:
        self.query_one("#mp-message", Static).update(message)

    def watch_ended(self, ended: bool) -> None:
        self.query_one("#mp-cancel").display = not ended
        self.query_one("#mp-ended").display = ended
        if ended:
            self.query_one("#mp-qr").display = False
            self.query_one("#mp-countdown", Static).update("")

    def _tick(self) -> None:
        if self.qr and self.attempt is not None and not self.ended:
            left = self._deadline - time.monotonic()
            self.query_one("#mp-countdown", Static).update(countdown_text(left))

    # -- the attempt -------------------------------------------------------------------------

    @work(exclusive=True, group="mercadopago", exit_on_error=False)
    async def _pay(self) -> None:
        payments = self.till.mercadopago
        if payments is None:
            self._end(_("Mercado Pago is not set up on this till."))
            return
        self.attempt = None
        self._cancelling = False
        self.query_one("#mp-cancel", TapButton).disabled = False
        self.message = _("Creating the payment…")
        try:
            self.attempt = attempt = await self._start()
        except (MercadoPagoError, SaleError, AuthError, NotAuthorized, LockedOut) as err:
            self._end(str(err))
            return
        if self.qr:
            self._deadline = time.monotonic() + attempt.wait_s
            qr = self.query_one("#mp-qr", QrCode)
            qr.payload = attempt.qr_data
            qr.display = True
            self._tick()
            self.message = _("Waiting for the customer to pay…")
        else:
            self.message = _("Waiting for the card…")
        if self._cancelling:  # Cancel came while the order was being created
            self._cancel_attempt(attempt)
        try:
            outcome = await payments.wait(attempt)
        except MercadoPagoError as err:
            log.warning("mercadopago payment stopped", extra={"sale_id": self.sale_id})
            self._end(_("Payment stopped: {error}").format(error=err))
            return
        if outcome.paid:
            await self._record(outcome)
        elif outcome.status is OrderStatus.CANCELLED and self._cancelling:
            self._finish(None)  # staff cancelled: back to the same cart
        else:
            self._end(outcome.message)

    async def _start(self) -> OrderAttempt:
        if self.part is not None:
            return await self.till.split.start_mercadopago(
                self.method, self.sale_id, self.staff, self.total
            )
        assert self.cart is not None
        return await self.till.sales.start_mercadopago(
            self.method, self.cart, self.staff, self.sale_id
        )

    async def _record(self, outcome: OrderOutcome) -> None:
        self.query_one("#mp-qr").display = False
        self.message = f"{outcome.message} " + _("Recording the sale…")
        try:
            result: SaleResult | SplitSale
            if self.part is not None:
                result = await self.till.split.mercadopago_paid(self.sale_id, self.staff, outcome)
            else:
                assert self.cart is not None
                result = await self.till.sales.pay_mercadopago(
                    self.cart, self.staff, self.sale_id, outcome
                )
        except Exception as err:
            log.exception("mercadopago sale not recorded", extra={"sale_id": self.sale_id})
            # The money is taken: never offer to take it again for this sale.
            self.query_one("#mp-retry").display = False
            self._end(
                _("Paid, but the sale was not recorded: {error}. Call a manager.").format(error=err)
            )
            return
        self._finish(result)

    def _end(self, message: str) -> None:
        self.message = message
        self.ended = True

    def _finish(self, result: SaleResult | SplitSale | None) -> None:
        if not self._finished:
            self._finished = True
            self.dismiss(result)

    # -- buttons -----------------------------------------------------------------------------

    @on(Button.Pressed, "#mp-cancel")
    def cancel(self) -> None:
        if self.ended:
            self._finish(None)
            return
        if self._cancelling:
            return
        self._cancelling = True
        self.query_one("#mp-cancel", TapButton).disabled = True
        self.message = _("Cancelling…")
        if self.attempt is not None:
            self._cancel_attempt(self.attempt)

    @work(exclusive=True, group="cancel", exit_on_error=False)
    async def _cancel_attempt(self, attempt: OrderAttempt) -> None:
        """Ask Mercado Pago to cancel; the waiting worker sees the outcome (cancelled, or paid)."""
        payments = self.till.mercadopago
        assert payments is not None
        try:
            await payments.cancel(attempt)
        except MercadoPagoError as err:
            log.warning("mercadopago cancel failed", extra={"sale_id": attempt.sale_id})
            self._cancelling = False
            self.message = _("Could not cancel: {error}").format(error=err)
            self.query_one("#mp-cancel", TapButton).disabled = False

    @on(Button.Pressed, "#mp-retry")
    def try_again(self) -> None:
        self.ended = False
        self._pay()

    @on(Button.Pressed, "#mp-back")
    def back(self) -> None:
        self._finish(None)

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.cancel()
        elif event.is_printable or event.key == "enter":
            event.stop()  # a scanner's burst must not reach the sale behind this screen
