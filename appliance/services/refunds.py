"""Refunds of finished sales and voids of carts in progress, approved by a manager.

Rules live here, not in a screen: whoever is logged in (``staff``) asks, and a manager's PIN or
badge approves through the till's own approval path (``AccessService.approve``), so a wrong PIN
counts towards the PIN lockout exactly as for a no-sale opening, and a cashier's PIN or badge is
refused (``NotAuthorized``) whatever UI, or none, drives the service.

What a refund writes, in order:

1. card money first, through Stripe's refund API (``CardPayments.refund``, idempotency key made
   from the refund id and the PaymentIntent, so a retry after a network drop never refunds
   twice), and Mercado Pago money through its Orders API (``MercadoPagoPayments.refund``, key
   made from the refund id and the order). If the provider refuses, nothing is recorded; a
   payment refunded before another one was refused is named in the error, and trying the same
   refund again finishes it (the refund id is fixed by the sale and its refunds journalled so
   far: ``next_refund_id``);
2. the ``refund`` record (core/refund.py), which queues its REFUND receipt in the same INSERT;
3. for cash, a ``drawer_open`` record (reason "refund", ``refund_id``) and the drawer pulse.

Lightning and on-chain money is not sent: the record carries the customer's destination
(checked by core/payout.py) as a pending payout (``payouts`` view, ``bitagora refunds list
--pending``) for the merchant to pay from their own wallet; ``mark_payout_paid`` records that
they did. The till holds no spending key.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import aiosqlite

from appliance.core.payout import BITCOIN_METHODS, PayoutError, check_destination, payout_body
from appliance.core.refund import LineChoice, RefundError, check_reason, plan_refund, void_body
from appliance.core.roles import Action, require
from appliance.core.sale import cart_body
from appliance.core.split import SplitSale, given_back_body
from appliance.payments.card_types import CardError
from appliance.payments.mercadopago_types import METHODS as MERCADOPAGO_METHODS
from appliance.payments.mercadopago_types import MercadoPagoError
from appliance.services.access import AccessService
from appliance.services.drawer import DrawerService
from appliance.services.printing import local_time
from appliance.services.receipts import ReceiptService
from appliance.store import journal, sales
from appliance.store import refunds as refund_store
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

__all__ = [
    "CardRefundFailed",
    "CardRefunder",
    "RefundError",
    "RefundResult",
    "RefundService",
    "mark_payout_paid",
    "payouts",
]

log = logging.getLogger(__name__)

MIN_ID_PREFIX = 6

# One refund at a time per store: a refund reads what earlier refunds gave back, then (for a
# card) waits on Stripe before it is recorded; two at once could both see the same amount left.
_LOCKS: weakref.WeakKeyDictionary[aiosqlite.Connection, asyncio.Lock] = weakref.WeakKeyDictionary()


# A refund's id when none is given: the same for every try until a refund of the sale is
# journalled, so a retry (from a reopened screen too) reuses Stripe's idempotency keys.
_REFUND_IDS = uuid.UUID("6f1c7d52-3b0e-4c4e-9a61-2a3f5e8b9d10")


def next_refund_id(sale_id: str, journalled: int) -> str:
    """The id of the next refund of ``sale_id``, which has ``journalled`` refunds so far."""
    return str(uuid.uuid5(_REFUND_IDS, f"{sale_id}/{journalled}"))


class CardRefunder(Protocol):
    """What the service needs of ``payments.card.CardPayments``."""

    async def refund(
        self, refund_id: str, payment_intent: str, amount: Money
    ) -> dict[str, Any]: ...


class CardRefundFailed(RefundError):
    """A card refund did not go through (or its answer was lost): nothing was journalled,
    though cards refunded before it in the same refund were. Retrying with ``refund_id`` is
    safe: Stripe refunds each card at most once for it."""

    def __init__(self, message: str, refund_id: str) -> None:
        super().__init__(message)
        self.refund_id = refund_id


@dataclass(frozen=True)
class Approval:
    """How a manager approves: a PIN, or a badge's UID."""

    pin: str | None = None
    badge: str | None = None


@dataclass(frozen=True)
class SaleSummary:
    """A sale as the refund screen lists it."""

    sale_id: str
    seq: int
    at_local: datetime
    total: Money
    methods: list[str]


@dataclass(frozen=True)
class RefundResult:
    record: Record
    drawer: Record | None = None
    problems: tuple[str, ...] = field(default_factory=tuple)


class RefundService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        access: AccessService,
        drawer: DrawerService,
        receipts: ReceiptService,
        card: CardRefunder | None = None,
    ) -> None:
        """``card``: the till's CardPayments, needed only to refund card payments;
        ``mercadopago`` (set by bootstrap): the till's MercadoPagoPayments, likewise."""
        self.conn = conn
        self.identity = identity
        self.access = access
        self.drawer = drawer
        self.receipts = receipts
        self.card = card
        self.mercadopago: CardRefunder | None = None

    def _provider(self, method: str) -> tuple[CardRefunder | None, str, str] | None:
        """Who refunds ``method``'s money, the payment entry's field naming what was paid, and
        the provider's name; None for money the till gives back itself (cash, payouts)."""
        if method == "card":
            return self.card, "payment_intent", "Stripe"
        if method in MERCADOPAGO_METHODS:
            return self.mercadopago, "order_id", "Mercado Pago"
        return None

    async def _approve(self, approval: Approval, action: Action, staff: Staff) -> Staff:
        return await self.access.approve(action, staff, pin=approval.pin, badge=approval.badge)

    async def sale_record(self, sale_id: str | None = None, seq: int | None = None) -> Record:
        conn = self.conn
        if seq is None:
            if sale_id is None:
                raise RefundError("name the sale to refund (its id or journal number)")
            seq = await refund_store.sale_seq(conn, sale_id)
            if seq is None:
                raise RefundError(f"no sale {sale_id} on this till")
        record = await journal.get(conn, seq)
        if record is None or record.kind != "sale":
            raise RefundError(f"journal #{seq} is not a sale")
        if sale_id is not None and record.body["sale_id"] != sale_id:
            raise RefundError(f"journal #{seq} is not sale {sale_id}")
        return record

    async def previous_refunds(self, original_seq: int) -> list[dict[str, Any]]:
        return [dict(r.body) for r in await refund_store.refunds_of(self.conn, original_seq)]

    async def recent_sales(self, day: date, limit: int = 50) -> list[SaleSummary]:
        """The sales of ``day`` (the device's local date) among the newest ``limit``, newest
        first: what staff pick a sale to refund from."""
        out = []
        for sale_id, seq, at, total, currency, methods in await sales.newest(self.conn, limit):
            at_local = local_time(at)
            if at_local.date() == day:
                out.append(
                    SaleSummary(sale_id, seq, at_local, Money(total, currency), methods.split(","))
                )
        return out

    async def find_sale(self, text: str) -> Record:
        """The sale a receipt names, typed or scanned: its id, the receipt's QR code
        (``bitagora:<id>:<seq>``), or the id's first characters (at least
        ``MIN_ID_PREFIX``, and only one sale starting with them)."""
        typed = text.strip()
        if typed.lower().startswith("bitagora:"):
            typed = typed.split(":")[1]
        if len(typed) < MIN_ID_PREFIX:
            raise RefundError(
                f"type at least {MIN_ID_PREFIX} characters of the sale id, or scan the receipt"
            )
        ids = await sales.ids_starting(self.conn, typed.lower())
        if not ids:
            raise RefundError(f"no sale {typed} on this till")
        if len(ids) > 1:
            raise RefundError(f"more than one sale starts with {typed}: type more of the id")
        return await self.sale_record(ids[0])

    async def refund(
        self,
        staff: Staff,
        approval: Approval,
        reason: str,
        *,
        sale_id: str | None = None,
        original_seq: int | None = None,
        lines: Sequence[LineChoice] | None = None,
        destination: str | None = None,
        refund_id: str | None = None,
    ) -> RefundResult:
        """Refund ``lines`` (None: all that is left) of a sale. ``destination``: where the
        customer wants bitcoin money (BOLT11 invoice, LNURL / Lightning address, or address).
        ``refund_id``: give the same one to retry a refund that failed half-way (card)."""
        lock = _LOCKS.setdefault(self.conn, asyncio.Lock())
        async with lock:
            return await self._refund(
                staff, approval, reason, sale_id, original_seq, lines, destination, refund_id
            )

    async def _refund(
        self,
        staff: Staff,
        approval: Approval,
        reason: str,
        sale_id: str | None,
        original_seq: int | None,
        lines: Sequence[LineChoice] | None,
        destination: str | None,
        refund_id: str | None,
    ) -> RefundResult:
        # Checks that cost nothing come first; the approval (which counts wrong PINs) next.
        require(staff, "sell")
        why = check_reason(reason)
        sale = await self.sale_record(sale_id, original_seq)
        # A refund moves real money (drawer, card, payout), so it is never practised, and a
        # practice sale took no money to give back.
        if sale.body.get("training") is True:
            raise RefundError("that was a training sale: it took no money, there is none to refund")
        if self.access.training:
            raise RefundError("training mode: a refund gives real money back; switch training off")
        approver = await self._approve(approval, "refund", staff)
        previous = await self.previous_refunds(sale.seq)
        plan = plan_refund(sale.body, previous, lines)
        refund_id = refund_id or next_refund_id(str(sale.body["sale_id"]), len(previous))
        currency = str(sale.body["currency"])
        payments = await self._money_back(
            refund_id, str(sale.body["sale_id"]), currency, plan.payments, destination
        )
        body = {
            "refund_id": refund_id,
            "sale_id": sale.body["sale_id"],
            "original_seq": sale.seq,
            "currency": currency,
            "staff": {"id": staff.id, "name": staff.name},
            "approved_by": {"id": approver.id, "name": approver.name},
            "reason": why,
            "lines": plan.lines,
            "taxes": plan.taxes,
            "total": {"minor": plan.total.minor, "currency": currency},
            "payments": payments,
        }
        async with transaction(self.conn):
            record = await journal.append(self.conn, self.identity, "refund", body)
        log.info("refund recorded", extra={"seq": record.seq, "original_seq": sale.seq})
        problems: list[str] = []
        drawer: Record | None = None
        if any(p["method"] == "cash" for p in payments) and self.drawer.present:
            try:
                opening = await self.drawer.open_for("refund", staff, refund_id=refund_id)
                if opening is not None:
                    drawer = opening.record
                    if opening.problem:
                        problems.append(f"Drawer did not open: {opening.problem}")
            except Exception as err:  # the refund stands whatever the drawer does
                problems.append(f"Drawer did not open: {err}")
        receipt_problem = await self.receipts.outcome(record.seq)
        if receipt_problem:
            problems.append(receipt_problem)
        return RefundResult(record, drawer, tuple(problems))

    async def give_back(
        self,
        staff: Staff,
        approval: Approval,
        reason: str,
        split: SplitSale,
        *,
        destination: str | None = None,
    ) -> RefundResult:
        """Give every paid part of an unfinished split sale back (core/split.py), approved by a
        manager like a refund: card parts refunded at Stripe first (keys made of the sale id, so
        a retry refunds each card once), bitcoin parts as pending payouts to ``destination``,
        cash handed back (a part's cash goes into the drawer only with its finished sale). One
        ``payment`` record (``given_back``) lists them, with each part's number."""
        lock = _LOCKS.setdefault(self.conn, asyncio.Lock())
        async with lock:
            require(staff, "sell")
            why = check_reason(reason)
            if not split.is_open or not split.parts:
                raise RefundError("this sale has no paid part to give back")
            approver = await self._approve(approval, "refund", staff)
            shares = [(p.method, Money(p.amount, split.currency), p.payment) for p in split.parts]
            payments = await self._money_back(
                split.sale_id, split.sale_id, split.currency, shares, destination
            )
            for part, entry in zip(split.parts, payments, strict=True):
                entry["part"] = part.number
            body = given_back_body(
                split, payments, (staff.id, staff.name), (approver.id, approver.name), why
            )
            async with transaction(self.conn):
                record = await journal.append(self.conn, self.identity, "payment", body)
            log.warning(
                "split sale given back", extra={"sale_id": split.sale_id, "seq": record.seq}
            )
            return RefundResult(record)

    async def _money_back(
        self,
        refund_id: str,
        sale_id: str,
        currency: str,
        shares: Sequence[tuple[str, Money, Mapping[str, Any]]],
        destination: str | None,
    ) -> list[dict[str, Any]]:
        """The ``payments`` entries that give ``shares`` back (method, amount, the payment entry
        it repays) of sale ``sale_id``: card money is refunded at Stripe here, first, so that a
        refused card refund records nothing; bitcoin money becomes a pending payout to
        ``destination``."""
        payments: list[dict[str, Any]] = []
        for method, amount, paid in shares:
            entry: dict[str, Any] = {"method": method, "amount": amount.minor}
            if method in BITCOIN_METHODS:
                if not destination:
                    raise RefundError(
                        f"{amount} goes back by {method}: ask the customer where to send it"
                    )
                entry["payout"] = await self._payout(method, destination, amount, paid, sale_id)
            elif (provider := self._provider(method)) is not None:
                _, field, name = provider
                if field not in paid:
                    raise RefundError(f"the {name} payment has no {field} to refund")
                entry[field] = paid[field]
            elif method != "cash":
                raise RefundError(f"{method} payments cannot be refunded at the till")
            payments.append(entry)
        # Card (and Mercado Pago) money goes back before anything is recorded: a refused refund
        # at the provider records nothing.
        refunded: list[str] = []
        for entry in payments:
            if (provider := self._provider(entry["method"])) is None:
                continue
            refunder, field, name = provider
            if refunder is None:
                raise RefundError(f"{name} payments are not set up on this till")
            try:
                answer = await refunder.refund(
                    refund_id, str(entry[field]), Money(entry["amount"], currency)
                )
            except (CardError, MercadoPagoError) as err:
                if not refunded:
                    raise CardRefundFailed(
                        f"{err} Nothing was recorded; try again to finish this refund.",
                        refund_id,
                    ) from err
                raise CardRefundFailed(
                    f"{err} Already refunded at {name}: {', '.join(refunded)}; nothing is"
                    " journalled yet. Try the same refund again to finish it (a payment"
                    " refunded already is not refunded twice).",
                    refund_id,
                ) from err
            entry["refund_id"] = answer["id"]
            refunded.append(f"{Money(entry['amount'], currency)} to {entry[field]}")
        return payments

    async def _payout(
        self, method: str, destination: str, amount: Money, paid: Any, sale_id: str
    ) -> dict[str, Any]:
        """The pending payout for the customer's ``destination``, checked against the sale's
        payment (core/payout.py) and, for Lightning, the invoice the customer paid."""
        from appliance.payments.payouts import lnurl_problem, paid_invoice

        try:
            payout = check_destination(
                method,
                destination,
                amount,
                paid,
                paid_invoice=await paid_invoice(self.conn, paid, sale_id),
            )
        except PayoutError as err:
            raise RefundError(str(err)) from err
        if payout["kind"] == "lnurl" and payout["destination"].lower().startswith("lnurl1"):
            problem = lnurl_problem(payout["destination"])
            if problem is not None:
                raise RefundError(f"that LNURL does not decode: {problem}")
        return payout

    async def void(self, cart: Any, staff: Staff, approval: Approval, reason: str) -> Record:
        """Give up ``cart`` before payment, approved by a manager: a ``void`` record with what
        was in it, and the cart emptied."""
        require(staff, "sell")
        why = check_reason(reason)
        if cart.is_empty:
            raise RefundError("the cart is empty: nothing to void")
        approver = await self._approve(approval, "void", staff)
        sale_id = str(uuid.uuid4())
        body = void_body(
            sale_id,
            cart_body(sale_id, cart, staff.id, staff.name),
            (staff.id, staff.name),
            (approver.id, approver.name),
            why,
        )
        async with transaction(self.conn):
            record = await journal.append(self.conn, self.identity, "void", body)
        cart.clear()
        return record


async def mark_payout_paid(
    conn: Any, identity: Any, refund_id: str, method: str, proof: str, staff: Staff | None
) -> Record:
    """Record that the merchant paid the ``method`` payout of refund ``refund_id`` from their
    own wallet (``proof``: txid, or Lightning preimage or hash). ``staff``: the manager saying
    so at the till, or None from the device's shell (``bitagora refunds paid``: whoever has the
    shell holds the device). Refused for a payout that does not exist or was already paid."""
    if staff is not None:
        require(staff, "refund")
    by = {"id": staff.id, "name": staff.name} if staff is not None else {"via": "cli"}
    # A refund, or the give-back of an unfinished split sale (named by its sale id).
    refund = await refund_store.payout_source(conn, refund_id)
    if refund is None:
        raise RefundError(f"no refund {refund_id} on this till")
    try:
        body = payout_body(refund.body, method, proof, by)
    except PayoutError as err:
        raise RefundError(str(err)) from err
    async with transaction(conn):
        if await refund_store.payout_paid(conn, refund_id, method):
            raise RefundError(f"the {method} payout of refund {refund_id} is already paid")
        record = await journal.append(conn, identity, "payout", body)
    log.info("payout marked paid", extra={"seq": record.seq, "refund_id": refund_id})
    return record


async def payouts(
    conn: aiosqlite.Connection, *, pending_only: bool = False
) -> list[dict[str, Any]]:
    """Bitcoin refunds (``payouts`` view), oldest first: every one, or those the merchant still
    has to pay."""
    return await refund_store.payouts(conn, pending_only=pending_only)
