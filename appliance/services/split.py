"""Split tender at the till: one sale paid in several parts (core/split.py has the rules).

``begin`` keeps the cart; each part then takes money its own way and is journalled as a
``part_paid`` record the moment it has (cash: at once; card: once the reader's payment succeeded;
bitcoin: when the checkout of ``BitcoinPayments.offer_part`` is paid, which calls back
``part_paid``). The part that covers the rest finishes the sale: one ``sale`` record listing
every part, then, if a part was cash, the drawer opens (once, as for a cash sale), then the
receipt. A part that failed leaves the others as they are; the cashier pays the rest another
way, or gives the paid parts back (``RefundService.give_back``, a manager's approval), or cancels
when nothing was paid. An unfinished split sale survives a restart (``unfinished``).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import aiosqlite

from appliance.core.cart import Cart
from appliance.core.roles import require
from appliance.core.sale import Payment, SaleError, cart_body
from appliance.core.split import SplitSale, cash_part, finished_body, refunded_body
from appliance.payments.card_types import CardAttempt, CardError, CardOutcome
from appliance.payments.mercadopago_types import (
    MercadoPagoError,
    MercadoPagoMethod,
    OrderAttempt,
    OrderOutcome,
    mercadopago_payment,
)
from appliance.services.access import AccessService
from appliance.services.drawer import DrawerService
from appliance.services.refunds import Approval, CardRefunder, RefundResult, RefundService
from appliance.services.sales import SaleResult, SalesService
from appliance.store import split as split_store
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.journal import Record, utc_now
from bitagora_protocol.money import Money

if TYPE_CHECKING:
    from appliance.payments.bitcoin import BitcoinPayments
    from appliance.payments.card import CardPayments

__all__ = ["PartRefunded", "PaymentHooks", "SplitTender"]

log = logging.getLogger(__name__)


class PartRefunded(SaleError):
    """A card charge could not be a part (more than was still due, or the sale no longer open)
    and went back to the card."""


class SplitTender:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        access: AccessService,
        sales: SalesService,
        drawer: DrawerService,
        refunds: RefundService,
        card: CardPayments | None = None,
    ) -> None:
        """``bitcoin`` (set once the bitcoin payments are built, which call back ``part_paid``):
        its offers of a part are withdrawn when another part takes money; ``usdt`` likewise
        (USDT on TRON, the same checkouts on another chain)."""
        self.conn = conn
        self.identity = identity
        self.access = access
        self.sales = sales
        self.drawer = drawer
        self.refunds = refunds
        self.card = card
        self.bitcoin: BitcoinPayments | None = None
        self.usdt: BitcoinPayments | None = None

    async def begin(self, cart: Cart, staff: Staff) -> SplitSale:
        """Start paying ``cart`` in parts (after the same role and lockout check as a sale)."""
        await self.access.authorize_sale(staff)
        sale_id = str(uuid.uuid4())
        body = cart_body(sale_id, cart, staff.id, staff.name)
        if self.access.training:
            body["training"] = True
        await split_store.begin(self.conn, body, utc_now())
        return await self.get(sale_id)

    async def get(self, sale_id: str) -> SplitSale:
        split = await split_store.get(self.conn, sale_id)
        if split is None:
            raise SaleError(f"no split sale {sale_id} on this till")
        return split

    async def unfinished(self) -> list[SplitSale]:
        return await split_store.unfinished(self.conn)

    async def pay_cash(self, sale_id: str, staff: Staff, tendered: Money) -> SplitSale | SaleResult:
        """A cash part: ``tendered`` counts up to what remains (change only then, and the cash
        rounding only then)."""
        await self.access.authorize_sale(staff)
        split = await self.get(sale_id)
        part = cash_part(split, tendered, await self.sales.cash_rounding())
        return await self._record_part(split, part, (staff.id, staff.name))

    async def start_card(self, sale_id: str, staff: Staff, amount: Money) -> CardAttempt:
        """Show ``amount`` (a part) on the reader: an attempt of the split sale's id, so Stripe's
        ``metadata.sale_id`` names the sale; the ``CardPayments`` rules hold unchanged."""
        await self.access.authorize_sale(staff)
        card = self.sales.card_for_sale()
        await self._withdraw_offers(sale_id)  # a bitcoin part paid meanwhile is a part first
        split = await self.get(sale_id)
        split.check_part(amount)
        return await card.start(sale_id, amount, self.sales.card_description())

    async def start_mercadopago(
        self, method: MercadoPagoMethod, sale_id: str, staff: Staff, amount: Money
    ) -> OrderAttempt:
        """A part of ``amount`` by Mercado Pago (Point or QR): an order of the split sale's id,
        as a card part is an attempt of it."""
        await self.access.authorize_sale(staff)
        payments = self.sales.mercadopago_for_sale()
        await self._withdraw_offers(sale_id)
        split = await self.get(sale_id)
        split.check_part(amount)
        return await payments.start(method, sale_id, amount, self.sales.card_description())

    async def mercadopago_paid(
        self, sale_id: str, staff: Staff, outcome: OrderOutcome
    ) -> SplitSale | SaleResult:
        """Journal the part a paid Mercado Pago order paid (the money is taken: role only)."""
        require(staff, "sell")
        split = await self.get(sale_id)
        return await self._record_taken(split, mercadopago_payment(outcome), (staff.id, staff.name))

    async def card_paid(
        self, sale_id: str, staff: Staff, outcome: CardOutcome
    ) -> SplitSale | SaleResult:
        """Journal the part a succeeded card attempt paid (the money is taken: role only)."""
        require(staff, "sell")
        return await self.record_card_part(await self.get(sale_id), outcome, (staff.id, staff.name))

    async def record_card_part(
        self, split: SplitSale, outcome: CardOutcome, staff: tuple[str, str]
    ) -> SplitSale | SaleResult:
        """Journal a succeeded card attempt as ``split``'s next part (also after a restart, in
        the name of whoever started the sale). A charge that came to more than is still due
        (another part paid meanwhile) or reached a sale no longer open is refunded at once and
        journalled (``PartRefunded``): the customer's money never goes unrecorded."""
        return await self._record_taken(split, self.sales.card_payment(outcome), staff)

    async def _record_taken(
        self, split: SplitSale, payment: Payment, staff: tuple[str, str]
    ) -> SplitSale | SaleResult:
        """Journal money already taken (a card, Mercado Pago) as ``split``'s next part, or give
        it back at once when it cannot be one (``record_card_part``)."""
        try:
            return await self._record_part(split, payment, staff)
        except (SaleError, aiosqlite.IntegrityError):  # more than due, or no longer open
            latest = await self.get(split.sale_id)
            if payment.amount <= latest.remaining and latest.is_open:
                raise
            raise await self._refund_part(latest, payment, staff) from None

    async def _refund_part(
        self, split: SplitSale, payment: Payment, staff: tuple[str, str]
    ) -> PartRefunded:
        """Give back (at Stripe, or Mercado Pago) money taken that cannot be a part of ``split``,
        and journal it.
        The refund's idempotency key comes from the payment intent: sent again (a retry, boot
        recovery), the card is refunded once."""
        refunder: CardRefunder | None
        if payment.method == "card":
            refunder, intent, where = self.card, str(payment.details["payment_intent"]), "Stripe"
        else:
            refunder, where = self.sales.mercadopago, "Mercado Pago"
            intent = str(payment.details["order_id"])
        refund_id = f"part-{split.sale_id}"
        due = f"charged {payment.amount} but only {split.remaining} was still due"
        if not split.is_open:
            due = f"charged {payment.amount} but the sale is {split.state.replace('_', ' ')}"
        if refunder is None:
            raise SaleError(f"The card was {due}: refund payment {intent} at {where}.")
        try:
            answer = await refunder.refund(refund_id, intent, payment.amount)
        except (CardError, MercadoPagoError) as err:
            raise SaleError(f"The card was {due}, and the refund failed: {err}") from err
        body = refunded_body(split, payment, staff, {"refund_id": refund_id, **answer})
        record = await split_store.append(self.conn, self.identity, "payment", body)
        log.warning(
            "card charge refunded: it could not be a part",
            extra={"sale_id": split.sale_id, "seq": record.seq},
        )
        return PartRefunded(f"The card was {due}: the {payment.amount} went back to the card.")

    async def _record_part(
        self, split: SplitSale, payment: Payment, staff: tuple[str, str]
    ) -> SplitSale | SaleResult:
        record = await split_store.append_part(
            self.conn, self.identity, split.sale_id, payment, staff
        )
        log.info(
            "split part paid",
            extra={"sale_id": split.sale_id, "part": record.body["part"], "method": payment.method},
        )
        return await self.part_paid(record)

    async def part_paid(self, record: Record) -> SplitSale | SaleResult:
        """After a part's record: finish the sale when the parts cover it."""
        split = await self.get(str(record.body["sale_id"]))
        if split.is_open and split.remaining.minor == 0:
            return await self.finish(split)
        return split

    async def finish(self, split: SplitSale) -> SaleResult:
        """Record the sale of a covered split sale, open the drawer for its cash, print. A sale
        that is recorded already is not recorded again (``sales`` refuses a second one)."""
        try:
            record = await split_store.append(
                self.conn, self.identity, "sale", finished_body(split)
            )
        except aiosqlite.IntegrityError:
            raise SaleError(f"sale {split.sale_id} is recorded already") from None
        log.info("split sale recorded", extra={"sale_id": split.sale_id, "seq": record.seq})
        await self._withdraw_offers(split.sale_id)  # a part offered but paid otherwise
        problems: tuple[str, ...] = ()
        if any(p.method == "cash" for p in split.parts) and "training" not in split.cart:
            staff = split.cart["staff"]
            problem = await self.drawer.open_for_sale(split.sale_id, staff["id"], staff["name"])
            problems = (problem,) if problem else ()
        return await self.sales.finish_sale(record, problems)

    async def cancel(self, sale_id: str) -> bool:
        """Give up a split sale on which nothing was paid; False if a part was paid (those go
        back through ``give_back``) or it is not open."""
        await self._withdraw_offers(sale_id)
        return await split_store.cancel_unpaid(self.conn, sale_id)

    async def give_back(
        self,
        sale_id: str,
        staff: Staff,
        approval: Approval,
        reason: str,
        *,
        destination: str | None = None,
    ) -> RefundResult:
        """Give the paid parts back (a manager approves): see ``RefundService.give_back``."""
        await self._withdraw_offers(sale_id)
        split = await self.get(sale_id)  # with a part paid as its offer was being withdrawn
        return await self.refunds.give_back(staff, approval, reason, split, destination=destination)

    async def _withdraw_offers(self, sale_id: str) -> None:
        """Cancel bitcoin offers of the sale's parts still open (after a restart, say): nothing
        may stay payable once the sale is given up or another part takes money."""
        for payments in (self.bitcoin, self.usdt):
            if payments is not None:
                await payments.withdraw_parts(sale_id)


class PaymentHooks:
    """What the bitcoin payments ask of the till (``payments.bitcoin.SaleHooks``): the role
    check, training mode, and the after-sale work of a sale or a split sale's part."""

    def __init__(self, access: AccessService, sales: SalesService, split: SplitTender) -> None:
        self.access = access
        self.sales = sales
        self.split = split

    @property
    def training(self) -> bool:
        return self.access.training

    async def authorize_sale(self, staff: Staff) -> None:
        await self.access.authorize_sale(staff)

    async def finish_sale(self, record: Record) -> SaleResult:
        return await self.sales.finish_sale(record)

    async def part_paid(self, record: Record) -> SplitSale | SaleResult:
        return await self.split.part_paid(record)
