"""Card payment: "Present card on the reader" with the total, the payment's status as the reader
reports it, Cancel; after a decline its words, "Try again" (a new attempt for the same sale) and
"Back to the sale".

The attempt runs in one worker (``SalesService.start_card``, then ``CardPayments.wait``);
Cancel asks Stripe to cancel, and the waiting worker sees how it ended: a cancel that came too
late is a success, and that worker alone records the sale. Dismissed with the ``SaleResult``, or
None when the sale was left unpaid (the cart is still there).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.core.cart import Cart
from appliance.core.sale import SaleError
from appliance.core.split import SplitSale
from appliance.i18n import _, money
from appliance.services.card import (
    CardAttempt,
    CardError,
    CardNetworkError,
    CardOutcome,
    CardStatus,
)
from appliance.services.split import PartRefunded
from appliance.services.till import AuthError, LockedOut, NotAuthorized, SaleResult, Staff, Till
from appliance.tui.widgets.basics import digits_text
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

if TYPE_CHECKING:
    from appliance.services.card import CardPayments

log = logging.getLogger(__name__)


class PayCardScreen(ModalScreen[SaleResult | SplitSale | None]):
    CSS_PATH = "pay_card.tcss"
    AUTO_FOCUS = None

    message: reactive[str] = reactive("", init=False)
    ended: reactive[bool] = reactive(False, init=False)  # the attempt ended without a sale

    def __init__(
        self, till: Till, cart: Cart | None, staff: Staff, *, part: tuple[str, Money] | None = None
    ) -> None:
        """``part``: (split sale id, amount) to pay one part of a split sale instead of the
        whole of ``cart``; dismissed then with the split sale as it stands, or the SaleResult
        when this part covered the rest."""
        super().__init__()
        self.till = till
        self.cart = cart
        self.staff = staff
        self.part = part
        if part is not None:
            self.sale_id, self.total = part
        else:
            assert cart is not None
            self.total = cart.totals().total
            # One sale id for every attempt: Stripe's metadata and the journal name one sale.
            self.sale_id = str(uuid.uuid4())
        self.attempt: CardAttempt | None = None
        self._cancelling = False
        self._finished = False
        self._left_open = False  # a start cut off before its PaymentIntent's id was heard

    def compose(self) -> ComposeResult:
        with Vertical(id="card-dialog"):
            title = (
                _("Card payment · served by {name}")
                if self.part is None
                else _("Card part of a split payment · served by {name}")
            )
            yield Static(title.format(name=self.staff.name), id="card-title", markup=False)
            yield Static("Present card on the reader", id="card-prompt")
            yield Static(_("TOTAL"), classes="amount-label")
            yield Digits(digits_text(money(self.total)), id="card-total")
            yield Static("", id="card-message", markup=False)
            yield TapButton(_("Cancel"), "error", id="card-cancel")
            with Horizontal(id="card-ended"):
                yield TapButton(_("Try again"), "primary", id="card-retry")
                yield TapButton(_("Back to the sale"), "default", id="card-back")

    def on_mount(self) -> None:
        self.message = _("Starting the reader…")
        self.watch_ended(False)
        self._pay()

    def watch_message(self, message: str) -> None:
        self.query_one("#card-message", Static).update(message)

    def watch_ended(self, ended: bool) -> None:
        self.query_one("#card-cancel").display = not ended
        self.query_one("#card-ended").display = ended

    # -- the attempt -------------------------------------------------------------------------

    @work(exclusive=True, group="card", exit_on_error=False)
    async def _pay(self) -> None:
        card = self.till.card
        if card is None:
            self._end(_("Card payments are not set up on this till."))
            return
        self.attempt = None
        self._cancelling = False
        self.query_one("#card-cancel", TapButton).disabled = False
        try:
            if self._left_open:  # a start the network cut off: end it first (see below)
                if (paid := await self._close_left_open(card)) is not None:
                    await self._record(paid)
                    return
            self.attempt = await self._start()
        except CardNetworkError as err:
            self._left_open = err.attempt is None
            if err.attempt is None:
                self._end(f"{err} " + _("Try again."))
                return
            self.attempt = err.attempt  # it may have reached the reader: follow it
        except (CardError, SaleError, AuthError, NotAuthorized, LockedOut) as err:
            self._end(str(err))
            return
        self.message = _("Waiting for the card…")
        if self._cancelling:  # Cancel came while the reader was being set up
            self._cancel_attempt(self.attempt)
        try:
            outcome = await card.wait(self.attempt)
        except CardError as err:  # Stripe refused a poll: the attempt is left to Stripe's words
            log.warning("card payment stopped", extra={"sale_id": self.sale_id})
            self._end(_("Card payment stopped: {error}").format(error=err))
            return
        if outcome.paid:
            await self._record(outcome)
        elif outcome.status is CardStatus.CANCELLED and self._cancelling:
            self._finish(None)  # staff cancelled: back to the same cart
        else:
            self._end(outcome.message)

    async def _close_left_open(self, card: CardPayments) -> CardOutcome | None:
        """An attempt of this sale whose create never answered stays open (it may exist at
        Stripe, never sent to the reader): find it by its key and cancel it, so the next attempt
        can start. Its outcome if it was paid after all (it cannot be, but a success is never
        dropped)."""
        for attempt in await card.open_attempts():
            if attempt.sale_id == self.sale_id:
                outcome = await card.cancel(attempt, reason="abandoned")
                if outcome.paid:
                    return outcome
        self._left_open = False
        return None

    async def _start(self) -> CardAttempt:
        if self.part is not None:
            return await self.till.split.start_card(self.sale_id, self.staff, self.total)
        assert self.cart is not None
        return await self.till.sales.start_card(self.cart, self.staff, self.sale_id)

    async def _record(self, outcome: CardOutcome) -> None:
        self.message = f"{outcome.message} " + _("Recording the sale…")
        try:
            result: SaleResult | SplitSale
            if self.part is not None:
                result = await self.till.split.card_paid(self.sale_id, self.staff, outcome)
            else:
                assert self.cart is not None
                result = await self.till.sales.pay_card(
                    self.cart, self.staff, self.sale_id, outcome
                )
        except PartRefunded as err:  # the charge went back: the rest is paid another way
            self.query_one("#card-retry").display = False
            self._end(f"{err} " + _("Back to the sale to pay the rest."))
            return
        except Exception as err:
            log.exception("card sale not recorded", extra={"sale_id": self.sale_id})
            # The money is taken: never offer to take it again for this sale.
            self.query_one("#card-retry").display = False
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

    @on(Button.Pressed, "#card-cancel")
    def cancel(self) -> None:
        if self.ended:
            self._finish(None)
            return
        if self._cancelling:
            return
        self._cancelling = True
        self.query_one("#card-cancel", TapButton).disabled = True
        self.message = _("Cancelling…")
        if self.attempt is not None:
            self._cancel_attempt(self.attempt)

    @work(exclusive=True, group="cancel", exit_on_error=False)
    async def _cancel_attempt(self, attempt: CardAttempt) -> None:
        """Ask Stripe to cancel; the waiting worker sees the outcome (cancelled, or paid)."""
        card = self.till.card
        assert card is not None
        try:
            await card.cancel(attempt)
        except CardError as err:
            log.warning("card cancel failed", extra={"sale_id": attempt.sale_id})
            self._cancelling = False
            self.message = _("Could not cancel: {error}").format(error=err)
            self.query_one("#card-cancel", TapButton).disabled = False

    @on(Button.Pressed, "#card-retry")
    def try_again(self) -> None:
        self.ended = False
        self.message = _("Starting the reader…")
        self._pay()

    @on(Button.Pressed, "#card-back")
    def back(self) -> None:
        self._finish(None)

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.cancel()
        elif event.is_printable or event.key == "enter":
            event.stop()  # a scanner's burst must not reach the sale behind this screen
