"""When is an on-chain payment for a sale settled? Pure rules, no I/O.

The chain source reports what arrived at the sale's address (``Seen`` per transaction); ``judge``
turns that, the invoice's amount and expiry and the merchant's ``Policy`` into one ``Verdict``.
The kiosk shows the verdict and journals every change of it.

Rules, in the order they apply:

- Nothing arrived: ``waiting`` until the invoice expires, then ``expired``.
- A transaction first seen after expiry, when what arrived in time did not cover the amount, makes
  the payment ``late``: the sale was already given up (or the customer left); a manager decides
  (refund or accept). When what arrived in time covers the amount, a late transaction is only
  more overpayment.
- Less than the amount arrived (counting unconfirmed transactions): ``underpaid``; the customer
  may top up before expiry; at expiry the sale is cancelled and the received sats are marked for
  refund (``expired_underpaid``).
- The amount arrived: it must be settled enough. The confirmations required depend on the amount
  (``Policy.confirmations_for``); 0-conf is allowed only below ``Policy.zero_conf_max_sats`` and
  never for a transaction that signals replace-by-fee (BIP125), which the payer can still swap
  for one that pays elsewhere. Until then: ``confirming``.
- Settled: ``paid``, or ``overpaid`` when more than the amount arrived (the excess is recorded for
  refund; the sale is complete).

A settled verdict is final: a later expiry does not undo it (the kiosk stops watching).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum


class State(Enum):
    WAITING = "waiting"
    UNDERPAID = "underpaid"
    CONFIRMING = "confirming"
    PAID = "paid"
    OVERPAID = "overpaid"
    EXPIRED = "expired"
    EXPIRED_UNDERPAID = "expired_underpaid"
    LATE = "late"

    @property
    def final(self) -> bool:
        """No further change is watched for (late payments are found by a separate sweep)."""
        return self in (State.PAID, State.OVERPAID, State.EXPIRED, State.EXPIRED_UNDERPAID)

    @property
    def completes_sale(self) -> bool:
        return self in (State.PAID, State.OVERPAID)


@dataclass(frozen=True)
class Seen:
    """One transaction paying the sale's address, as the chain source reports it."""

    txid: str
    sats: int
    confirmations: int
    rbf: bool  # signals replace-by-fee (an input's nSequence below 0xfffffffe)
    first_seen: float  # unix seconds, by the till's clock when it first saw it


@dataclass(frozen=True)
class Tier:
    """From ``min_sats`` up (to the next tier), require ``confirmations``."""

    min_sats: int
    confirmations: int


@dataclass(frozen=True)
class Policy:
    zero_conf_max_sats: int  # below this, an unconfirmed non-RBF payment settles
    tiers: tuple[Tier, ...] = (Tier(0, 1),)

    def __post_init__(self) -> None:
        if self.zero_conf_max_sats < 0:
            raise ValueError("zero_conf_max_sats must not be negative")
        if not self.tiers or self.tiers[0].min_sats != 0:
            raise ValueError("the first confirmation tier must start at 0 sats")
        if any(t.confirmations < 1 for t in self.tiers):
            raise ValueError("a confirmation tier needs at least 1 confirmation")
        pairs = list(zip(self.tiers, self.tiers[1:], strict=False))
        if any(a.min_sats >= b.min_sats for a, b in pairs):
            raise ValueError("confirmation tiers must rise in min_sats")
        if any(a.confirmations > b.confirmations for a, b in pairs):
            raise ValueError("a larger amount must not need fewer confirmations")

    def confirmations_for(self, sats: int, rbf: bool) -> int:
        """Confirmations a payment of ``sats`` needs to settle (0: settles unconfirmed)."""
        if sats < self.zero_conf_max_sats and not rbf:
            return 0
        return max(t.confirmations for t in self.tiers if t.min_sats <= sats)


@dataclass(frozen=True)
class Verdict:
    state: State
    received_sats: int  # everything seen, confirmed or not
    refund_sats: int = 0  # owed back to the customer (excess, or all of it for late/expired)
    needed_confirmations: int = 0  # what the payment must reach to settle
    confirmations: int = 0  # the least-confirmed transaction counted


def judge(
    amount_sats: int,
    expires_at: float,
    seen: Sequence[Seen],
    now: float,
    policy: Policy,
) -> Verdict:
    if amount_sats <= 0:
        raise ValueError("an invoice needs a positive amount")
    received = sum(t.sats for t in seen)
    in_time = sum(t.sats for t in seen if t.first_seen <= expires_at)
    if in_time < amount_sats and in_time < received:
        return Verdict(State.LATE, received, refund_sats=received)
    if not seen:
        return Verdict(State.EXPIRED if now > expires_at else State.WAITING, 0)
    if received < amount_sats:
        if now > expires_at:
            return Verdict(State.EXPIRED_UNDERPAID, received, refund_sats=received)
        return Verdict(State.UNDERPAID, received)
    needed = policy.confirmations_for(received, any(t.rbf for t in seen))
    least = min(t.confirmations for t in seen)
    if least < needed:
        return Verdict(State.CONFIRMING, received, 0, needed, least)
    if received > amount_sats:
        return Verdict(State.OVERPAID, received, received - amount_sats, needed, least)
    return Verdict(State.PAID, received, 0, needed, least)
