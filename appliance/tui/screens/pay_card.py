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
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Digits, Static

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
from appliance.tui.screens.terminal_payment import TerminalPaymentScreen
from appliance.tui.widgets.basics import digits_text
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

if TYPE_CHECKING:
    from appliance.services.card import CardPayments

log = logging.getLogger(__name__)


class PayCardScreen(TerminalPaymentScreen[CardAttempt, CardOutcome]):
    CSS_PATH = "pay_card.tcss"
    ID_PREFIX = "card"
    ERROR = CardError
    CANCELLED = CardStatus.CANCELLED
    PASSED_BACK = (PartRefunded,)
    LOG_NAME = "card"
    LOGGER = log

    def __init__(
        self, till: Till, cart: Cart | None, staff: Staff, *, part: tuple[str, Money] | None = None
    ) -> None:
        super().__init__(till, cart, staff, part=part)
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

    # -- the attempt -------------------------------------------------------------------------

    @work(exclusive=True, group="card", exit_on_error=False)
    async def _pay(self) -> None:
        card = self.till.card
        if card is None:
            self._end(_("Card payments are not set up on this till."))
            return
        self._begin()
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
        await self._follow(self.attempt)

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

    async def _wait(self, attempt: CardAttempt) -> CardOutcome:
        card = self.till.card
        assert card is not None
        return await card.wait(attempt)

    async def _cancel(self, attempt: CardAttempt) -> None:
        """Ask Stripe to cancel."""
        card = self.till.card
        assert card is not None
        await card.cancel(attempt)

    async def _paid(self, outcome: CardOutcome) -> SaleResult | SplitSale:
        if self.part is not None:
            return await self.till.split.card_paid(self.sale_id, self.staff, outcome)
        assert self.cart is not None
        return await self.till.sales.pay_card(self.cart, self.staff, self.sale_id, outcome)

    def _stopped(self, error: Exception) -> str:
        # Stripe refused a poll: the attempt is left to Stripe's words
        return _("Card payment stopped: {error}").format(error=error)

    def _retrying(self) -> None:
        self.message = _("Starting the reader…")
