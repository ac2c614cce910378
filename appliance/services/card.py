"""Card payments as the screens name them (payments/card.py takes the money): the values and
errors, without the Stripe library."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.payments.card_types import (
    CardAttempt,
    CardError,
    CardNetworkError,
    CardOutcome,
    CardStatus,
    CardUnavailable,
)

if TYPE_CHECKING:
    from appliance.payments.card import CardPayments

__all__ = [
    "CardAttempt",
    "CardError",
    "CardNetworkError",
    "CardOutcome",
    "CardPayments",
    "CardStatus",
    "CardUnavailable",
]
