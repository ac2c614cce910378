"""The values and errors of card payments (payments/card.py), without the Stripe library: what
the services and the screens name, cheap to import on a till with no card reader."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bitagora_protocol.money import Money


def idempotency_key(sale_id: str, attempt: int, step: str) -> str:
    """The key of one request of one attempt: the same request always gets the same key."""
    return f"bitagora-{sale_id}-{attempt}-{step}"


class CardError(RuntimeError):
    """A card payment could not go on; the message says why, in words for the screen."""


class CardUnavailable(CardError):
    """Card payments cannot start now (reader offline or busy, not configured, …)."""


class CardAuthError(CardError):
    """Stripe refused the API key, or the key may not do what the till asked."""


class CardNetworkError(CardError):
    """Stripe could not be reached, even with retries. The attempt stays open (it may have
    reached Stripe): poll it, or cancel it, once the network is back."""

    def __init__(self, message: str, attempt: CardAttempt | None = None) -> None:
        super().__init__(message)
        self.attempt = attempt


class CardStatus(StrEnum):
    WAITING = "waiting"  # the reader waits for the card
    AUTHORIZED = "authorized"  # manual capture: approved, held, not yet captured
    SUCCEEDED = "succeeded"  # the money is taken
    DECLINED = "declined"
    CANCELLED = "cancelled"
    FAILED = "failed"  # the reader gave up without a decline (customer cancelled, timeout)


@dataclass(frozen=True)
class CardAttempt:
    """One attempt at a sale's total: a PaymentIntent on one reader."""

    sale_id: str
    number: int
    payment_intent: str
    reader_id: str
    amount: Money
    capture: str  # automatic | manual

    def key(self, step: str) -> str:
        return idempotency_key(self.sale_id, self.number, step)


@dataclass(frozen=True)
class CardOutcome:
    """Where an attempt stands. ``message`` is for the screen; ``last4`` is for the receipt only
    (left out of ``repr``, so an outcome in a log line carries no card digits)."""

    status: CardStatus
    message: str
    payment_intent: str
    charge: str | None = None
    amount: Money | None = None  # what was taken (or authorised)
    brand: str | None = None
    last4: str | None = field(default=None, repr=False)
    receipt: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    code: str | None = None  # Stripe's error code, or the reader's failure code
    decline_code: str | None = None

    @property
    def done(self) -> bool:
        """No more waiting for the reader (``authorized`` still needs a capture or cancel)."""
        return self.status is not CardStatus.WAITING

    @property
    def paid(self) -> bool:
        return self.status is CardStatus.SUCCEEDED

    @property
    def card_text(self) -> str:
        """The masked card for the receipt, e.g. ``VISA •••• 4242``."""
        if not self.brand:
            return "Card"
        return f"{self.brand.upper()} •••• {self.last4}" if self.last4 else self.brand.upper()
