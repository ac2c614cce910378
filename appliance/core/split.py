"""Split tender: one sale paid in several parts, each its own payment with its own outcome.

Pure rules, no I/O. A split sale's cart is fixed when the split starts; each part that took money
is journalled as a ``payment`` record with ``state`` ``part_paid`` (docs/PROTOCOL.md 1.4) before
the sale is recorded; the ``sale`` record then lists every part as one ``payments`` entry, in the
order they were paid, whose amounts add up to the total. A part that failed (a declined card, an
expired bitcoin offer) is never a part: it took no money.

- Cash: the amount handed over counts up to what remains; change only on the part that covers
  the rest (a cash part that leaves something due gives nothing back). With cash rounding
  (core/tender.py), only the cash part that pays the rest is rounded: it covers the rest when
  what was handed over reaches the rounded rest, and its entry carries the ``rounding``; cash
  between the rest and the rest rounded up is refused (short of what is due in cash); the
  ``sale`` record adds up the parts' rounding.
- Card, bitcoin: the part's amount is asked for exactly; at most what remains.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.core.sale import (
    Payment,
    SaleError,
    entries_rounding,
    payment_entry,
    payment_label,
    with_rounding,
)
from appliance.core.tender import cash_payment, rounded_cash
from bitagora_protocol.money import Money

PART_PAID = "part_paid"  # a part took money (``payment`` record state)
GIVEN_BACK = "given_back"  # the paid parts of an unfinished split sale went back
PART_REFUNDED = "part_refunded"  # a card charge that would have paid more than was due went back


@dataclass(frozen=True)
class Part:
    """One paid part: its number (1, 2, … in the order paid) and its ``payments`` entry."""

    number: int
    payment: Mapping[str, Any]
    seq: int  # the ``part_paid`` record

    @property
    def method(self) -> str:
        return str(self.payment["method"])

    @property
    def amount(self) -> int:
        return int(self.payment["amount"])

    @property
    def settled(self) -> int:
        """What the part settled of the total: its amount less its cash rounding."""
        return self.amount - int(self.payment.get("rounding", 0))

    @property
    def label(self) -> str:
        return payment_label(self.payment)


@dataclass(frozen=True)
class SplitSale:
    """A sale being paid in parts: the sale body without payments (``core.sale.cart_body``)
    and the parts paid so far."""

    sale_id: str
    cart: Mapping[str, Any]
    parts: tuple[Part, ...]
    state: str  # open, finished, given_back, cancelled

    @property
    def currency(self) -> str:
        return str(self.cart["currency"])

    @property
    def total(self) -> Money:
        return Money(int(self.cart["total"]["minor"]), self.currency)

    @property
    def paid(self) -> Money:
        return Money(sum(p.amount for p in self.parts), self.currency)

    @property
    def remaining(self) -> Money:
        return self.total - Money(sum(p.settled for p in self.parts), self.currency)

    @property
    def is_open(self) -> bool:
        return self.state == "open"

    def check_part(self, amount: Money) -> None:
        """A card or bitcoin part of ``amount`` may be asked for (SaleError in words if not)."""
        if not self.is_open:
            raise SaleError(f"this sale is {self.state.replace('_', ' ')}: no more parts")
        if amount.currency != self.currency:
            raise SaleError(f"a part must be in {self.currency}, not {amount.currency}")
        if amount.minor <= 0:
            raise SaleError("a part must be more than zero")
        if amount > self.remaining:
            raise SaleError(f"{amount} is more than the {self.remaining} still due")


def cash_part(split: SplitSale, tendered: Money, increment: int = 1) -> Payment:
    """The cash part for ``tendered``: what remains at most (rounded to ``increment`` when it
    pays the rest), change only when it covers it."""
    if tendered.currency != split.currency or tendered.minor <= 0:
        raise SaleError(f"the cash handed over must be a positive amount of {split.currency}")
    remaining = split.remaining
    if not split.is_open or remaining.minor <= 0:
        raise SaleError("nothing is due on this sale")
    due = rounded_cash(remaining, increment)
    if tendered >= due:
        return cash_payment(remaining, tendered, increment)
    if tendered >= remaining:  # rounded up: short of the cash due, yet more than the rest
        raise SaleError(f"{tendered} does not cover the {due} due in cash")
    return Payment("cash", tendered, tendered=tendered, change=Money.zero(split.currency))


def part_body(
    split: SplitSale, payment: Payment, staff: tuple[str, str], **more: Any
) -> dict[str, Any]:
    """The ``payment`` record of a part that took money (``more``: e.g. the bitcoin checkout
    that took it)."""
    rounding = Money(int(payment.details.get("rounding", 0)), split.currency)
    if payment.amount - rounding > split.remaining:
        raise SaleError(f"{payment.amount} is more than the {split.remaining} still due")
    return {
        "sale_id": split.sale_id,
        "state": PART_PAID,
        "part": len(split.parts) + 1,
        "total": dict(split.cart["total"]),
        "staff": {"id": staff[0], "name": staff[1]},
        "payment": payment_entry(payment),
        **more,
    }


def refunded_body(
    split: SplitSale, payment: Payment, staff: tuple[str, str], refund: Mapping[str, Any]
) -> dict[str, Any]:
    """The ``payment`` record of a card charge that could not be a part (another part paid, or
    the sale was given back, while the customer held the card) and was refunded at once
    (``refund``: the refund id and Stripe's answer)."""
    return {
        "sale_id": split.sale_id,
        "state": PART_REFUNDED,
        "total": dict(split.cart["total"]),
        "remaining": {"minor": split.remaining.minor, "currency": split.currency},
        "staff": {"id": staff[0], "name": staff[1]},
        "payment": payment_entry(payment),
        "refund": dict(refund),
    }


def finished_body(split: SplitSale) -> dict[str, Any]:
    """The ``sale`` body once the parts cover the total: every part, in the order paid."""
    if split.remaining.minor != 0:
        raise SaleError(f"{split.remaining} is still due")
    payments = [dict(p.payment) for p in split.parts]
    return with_rounding({**split.cart, "payments": payments}, entries_rounding(payments))


def given_back_body(
    split: SplitSale,
    payments: Sequence[Mapping[str, Any]],
    staff: tuple[str, str],
    approved_by: tuple[str, str],
    reason: str,
) -> dict[str, Any]:
    """The ``payment`` record that gives every paid part of an unfinished sale back."""
    return {
        "sale_id": split.sale_id,
        "state": GIVEN_BACK,
        "currency": split.currency,
        "total": {"minor": split.paid.minor, "currency": split.currency},
        "staff": {"id": staff[0], "name": staff[1]},
        "approved_by": {"id": approved_by[0], "name": approved_by[1]},
        "reason": reason,
        "payments": [dict(p) for p in payments],
    }
