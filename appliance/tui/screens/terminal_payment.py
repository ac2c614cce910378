"""What every screen paying on a payment terminal does the same way (a card on Stripe's reader,
Mercado Pago's Point device or QR): one attempt at a time in a worker, its outcome recorded by
that worker alone, Cancel asking the provider to cancel (the waiting worker sees how it ended:
a cancel that came too late is a payment), "Try again" and "Back to the sale" after an attempt
ended without a sale.

A screen names its widgets ``{ID_PREFIX}-message``, ``-cancel``, ``-ended``, ``-retry`` and
``-back``, composes them itself, and supplies the provider's calls as hooks. Dismissed with the
``SaleResult`` (or the split sale as it stands, for a part), or None when nothing was
paid (the cart is still there).
"""

from __future__ import annotations

import logging
import uuid
from enum import Enum
from typing import ClassVar, Generic, Protocol, TypeVar

from textual import events, on, work
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.cart import Cart
from appliance.core.split import SplitSale
from appliance.i18n import _
from appliance.services.till import SaleResult, Staff, Till
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money


class TerminalAttempt(Protocol):
    @property
    def sale_id(self) -> str: ...


class TerminalOutcome(Protocol):
    @property
    def status(self) -> Enum: ...

    @property
    def message(self) -> str: ...

    @property
    def paid(self) -> bool: ...


AttemptT = TypeVar("AttemptT", bound=TerminalAttempt)
OutcomeT = TypeVar("OutcomeT", bound=TerminalOutcome)


class TerminalPaymentScreen(
    ModalScreen[SaleResult | SplitSale | None], Generic[AttemptT, OutcomeT]
):
    AUTO_FOCUS = None

    ID_PREFIX: ClassVar[str]  # the prefix of the widgets' ids
    ERROR: ClassVar[type[Exception]]  # what the provider's calls raise
    CANCELLED: ClassVar[Enum]  # the outcome's status of a cancelled attempt
    PASSED_BACK: ClassVar[tuple[type[Exception], ...]] = ()  # money taken went back: no sale
    LOG_NAME: ClassVar[str]  # "card payment stopped", "card cancel failed", …
    LOGGER: ClassVar[logging.Logger]  # the screen's module's

    message: reactive[str] = reactive("", init=False)
    ended: reactive[bool] = reactive(False, init=False)  # the attempt ended without a sale

    def __init__(
        self, till: Till, cart: Cart | None, staff: Staff, *, part: tuple[str, Money] | None
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
            # One sale id for every attempt: the provider's order and the journal name one sale.
            self.sale_id = str(uuid.uuid4())
        self.attempt: AttemptT | None = None
        self._cancelling = False
        self._finished = False

    # -- the provider's calls ----------------------------------------------------------------

    def _pay(self) -> object:
        """Start the attempt's worker (``_begin``, start, then ``_follow``)."""
        raise NotImplementedError

    async def _wait(self, attempt: AttemptT) -> OutcomeT:
        raise NotImplementedError

    async def _cancel(self, attempt: AttemptT) -> None:
        raise NotImplementedError

    async def _paid(self, outcome: OutcomeT) -> SaleResult | SplitSale:
        """Journal the paid outcome: the sale, or this part of the split sale."""
        raise NotImplementedError

    def _stopped(self, error: Exception) -> str:
        """The words for a wait the provider refused."""
        raise NotImplementedError

    def _retrying(self) -> None:
        """Called on "Try again", before the new attempt starts."""

    def _recording(self) -> None:
        """Called when the payment is in, before it is recorded."""

    # -- the attempt -------------------------------------------------------------------------

    def watch_message(self, message: str) -> None:
        self.query_one(f"#{self.ID_PREFIX}-message", Static).update(message)

    def watch_ended(self, ended: bool) -> None:
        self.query_one(f"#{self.ID_PREFIX}-cancel").display = not ended
        self.query_one(f"#{self.ID_PREFIX}-ended").display = ended

    def _begin(self) -> None:
        """A new attempt: none yet, not cancelling."""
        self.attempt = None
        self._cancelling = False
        self.query_one(f"#{self.ID_PREFIX}-cancel", TapButton).disabled = False

    async def _follow(self, attempt: AttemptT) -> None:
        """Wait for the started attempt's outcome and act on it."""
        if self._cancelling:  # Cancel came while the attempt was being started
            self._cancel_attempt(attempt)
        try:
            outcome = await self._wait(attempt)
        except self.ERROR as err:  # the provider refused a poll: left to its words
            self.LOGGER.warning(f"{self.LOG_NAME} payment stopped", extra={"sale_id": self.sale_id})
            self._end(self._stopped(err))
            return
        if outcome.paid:
            await self._record(outcome)
        elif outcome.status is self.CANCELLED and self._cancelling:
            self._finish(None)  # staff cancelled: back to the same cart
        else:
            self._end(outcome.message)

    async def _record(self, outcome: OutcomeT) -> None:
        self._recording()
        self.message = f"{outcome.message} " + _("Recording the sale…")
        try:
            result = await self._paid(outcome)
        except self.PASSED_BACK as err:  # the money went back: the rest is paid another way
            self.query_one(f"#{self.ID_PREFIX}-retry").display = False
            self._end(f"{err} " + _("Back to the sale to pay the rest."))
            return
        except Exception as err:
            self.LOGGER.exception(
                f"{self.LOG_NAME} sale not recorded", extra={"sale_id": self.sale_id}
            )
            # The money is taken: never offer to take it again for this sale.
            self.query_one(f"#{self.ID_PREFIX}-retry").display = False
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

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        button = event.button.id
        if button == f"{self.ID_PREFIX}-cancel":
            self.cancel()
        elif button == f"{self.ID_PREFIX}-retry":
            self.try_again()
        elif button == f"{self.ID_PREFIX}-back":
            self.back()

    def cancel(self) -> None:
        if self.ended:
            self._finish(None)
            return
        if self._cancelling:
            return
        self._cancelling = True
        self.query_one(f"#{self.ID_PREFIX}-cancel", TapButton).disabled = True
        self.message = _("Cancelling…")
        if self.attempt is not None:
            self._cancel_attempt(self.attempt)

    @work(exclusive=True, group="cancel", exit_on_error=False)
    async def _cancel_attempt(self, attempt: AttemptT) -> None:
        """Ask the provider to cancel; the waiting worker sees the outcome (cancelled, or paid)."""
        try:
            await self._cancel(attempt)
        except self.ERROR as err:
            self.LOGGER.warning(
                f"{self.LOG_NAME} cancel failed", extra={"sale_id": attempt.sale_id}
            )
            self._cancelling = False
            self.message = _("Could not cancel: {error}").format(error=err)
            self.query_one(f"#{self.ID_PREFIX}-cancel", TapButton).disabled = False

    def try_again(self) -> None:
        self.ended = False
        self._retrying()
        self._pay()

    def back(self) -> None:
        self._finish(None)

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.cancel()
        elif event.is_printable or event.key == "enter":
            event.stop()  # a scanner's burst must not reach the sale behind this screen
