"""The values and errors of Mercado Pago payments (payments/mercadopago.py), without the SDK:
what the services and the screens name, cheap to import on a till without Mercado Pago."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from appliance.core.sale import Payment
from appliance.payments.card_types import idempotency_key
from bitagora_protocol.money import Money


class MercadoPagoMethod(StrEnum):
    POINT = "mercadopago_point"
    QR = "mercadopago_qr"


METHODS = frozenset(MercadoPagoMethod)


class MercadoPagoError(RuntimeError):
    """A Mercado Pago payment could not go on; the message says why, in words for the screen."""


class MercadoPagoUnavailable(MercadoPagoError):
    """It cannot start now (device busy or unknown, not configured, …): nothing was charged."""


class MercadoPagoAuthError(MercadoPagoError):
    """Mercado Pago refused the access token, or the token may not do what the till asked."""


class MercadoPagoNetworkError(MercadoPagoError):
    """Mercado Pago could not be reached, even with retries. The attempt stays open (the order
    may exist): starting again for the same sale creates it again with the same key."""


class OrderStatus(StrEnum):
    WAITING = "waiting"
    PAID = "paid"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


ASK_ANOTHER = "Ask for another card or another way to pay."
# Mercado Pago's status_detail of a rejected payment, in words for the screen. Details that
# point at fraud are shown as a plain rejection (the customer is in front of the screen).
_GENERIC = "The payment was rejected."
STATUS_DETAIL_WORDS: dict[str, str] = {
    "cc_rejected_bad_filled_card_number": "The card number was entered wrong.",
    "cc_rejected_bad_filled_date": "The card's expiry date is wrong.",
    "cc_rejected_bad_filled_other": "The card's details were entered wrong.",
    "cc_rejected_bad_filled_security_code": "The card's security code is wrong.",
    "cc_rejected_blacklist": _GENERIC,
    "cc_rejected_call_for_authorize": "The bank needs the customer to call it to allow this.",
    "cc_rejected_card_disabled": "The card is not activated; the customer should call the bank.",
    "cc_rejected_duplicated_payment": "The same amount was just paid with this card.",
    "cc_rejected_high_risk": _GENERIC,
    "cc_rejected_insufficient_amount": "The card has insufficient funds.",
    "cc_rejected_invalid_installments": "The card does not allow these installments.",
    "cc_rejected_max_attempts": "Too many tries with this card; use another one.",
    "cc_rejected_other_reason": "The card's bank rejected the payment.",
    "rejected_by_issuer": "The card's bank rejected the payment.",
    "rejected_by_bank": "The bank rejected the payment.",
    "insufficient_amount": "The card has insufficient funds.",
}


def status_detail_words(detail: str | None) -> str:
    """A rejected payment's ``status_detail`` in words, for the screen."""
    return STATUS_DETAIL_WORDS.get(detail or "", _GENERIC)


@dataclass(frozen=True)
class OrderAttempt:
    """One attempt: an order for ``amount`` of sale ``sale_id``. ``qr_data``: the EMVCo payload
    a QR order's code shows; ``wait_s``: how long the customer has to pay."""

    sale_id: str
    number: int
    method: MercadoPagoMethod
    order_id: str
    amount: Money
    wait_s: int
    qr_data: str = ""

    def key(self, step: str) -> str:
        return idempotency_key(self.sale_id, self.number, step)


@dataclass(frozen=True)
class OrderOutcome:
    """Where an attempt stands. ``brand``, ``last4`` and ``auth_code`` are for the receipt
    (the last two left out of ``repr``, so an outcome in a log line carries no card digits)."""

    status: OrderStatus
    message: str
    method: MercadoPagoMethod
    order_id: str
    amount: Money | None = None
    payment_id: str | None = None  # Mercado Pago's payment (reference_id) of a paid order
    status_detail: str | None = None
    brand: str | None = None
    last4: str | None = field(default=None, repr=False)
    auth_code: str | None = field(default=None, repr=False)

    @property
    def done(self) -> bool:
        return self.status is not OrderStatus.WAITING

    @property
    def paid(self) -> bool:
        return self.status is OrderStatus.PAID


def mercadopago_payment(outcome: OrderOutcome) -> Payment:
    """The ``payments`` entry of a paid order (docs/PROTOCOL.md 1.4): the order and payment
    ids, and for a Point card what a cardholder receipt may show (brand, last four digits,
    authorisation code), never more of the card."""
    if not outcome.paid or outcome.amount is None:
        raise ValueError(f"a Mercado Pago payment needs a paid order, not {outcome.status}")
    details: dict[str, str | None] = {
        "order_id": outcome.order_id,
        "payment_id": outcome.payment_id,
    }
    if outcome.method is MercadoPagoMethod.POINT:
        details.update(brand=outcome.brand, last4=outcome.last4, auth_code=outcome.auth_code)
    return Payment(outcome.method.value, outcome.amount, details=details)
