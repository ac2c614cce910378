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

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, Static

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
from appliance.services.split import PartRefunded
from appliance.services.till import AuthError, LockedOut, NotAuthorized, SaleResult, Staff, Till
from appliance.tui.screens.terminal_payment import TerminalPaymentScreen
from appliance.tui.widgets.basics import countdown_text, digits_text
from appliance.tui.widgets.qr import QrCode
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)


class PayMercadoPagoScreen(TerminalPaymentScreen[OrderAttempt, OrderOutcome]):
    CSS_PATH = "pay_mercadopago.tcss"
    ID_PREFIX = "mp"
    ERROR = MercadoPagoError
    CANCELLED = OrderStatus.CANCELLED
    PASSED_BACK = (PartRefunded,)  # a split part that came to more than was due went back
    LOG_NAME = "mercadopago"
    LOGGER = log

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
        super().__init__(till, cart, staff, part=part)
        self.method = method
        self._deadline = 0.0

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

    def watch_ended(self, ended: bool) -> None:
        super().watch_ended(ended)
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
        self._begin()
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
        await self._follow(attempt)

    async def _start(self) -> OrderAttempt:
        if self.part is not None:
            return await self.till.split.start_mercadopago(
                self.method, self.sale_id, self.staff, self.total
            )
        assert self.cart is not None
        return await self.till.sales.start_mercadopago(
            self.method, self.cart, self.staff, self.sale_id
        )

    async def _wait(self, attempt: OrderAttempt) -> OrderOutcome:
        payments = self.till.mercadopago
        assert payments is not None
        return await payments.wait(attempt)

    async def _cancel(self, attempt: OrderAttempt) -> None:
        """Ask Mercado Pago to cancel."""
        payments = self.till.mercadopago
        assert payments is not None
        await payments.cancel(attempt)

    async def _paid(self, outcome: OrderOutcome) -> SaleResult | SplitSale:
        if self.part is not None:
            return await self.till.split.mercadopago_paid(self.sale_id, self.staff, outcome)
        assert self.cart is not None
        return await self.till.sales.pay_mercadopago(self.cart, self.staff, self.sale_id, outcome)

    def _stopped(self, error: Exception) -> str:
        return _("Payment stopped: {error}").format(error=error)

    def _recording(self) -> None:
        self.query_one("#mp-qr").display = False
