"""Selling: the catalog as the till sells it, carts, cash sales, card sales and what every
finished sale does after its commit (drawer, receipt). Card money is taken by
payments/card.py; this service checks the role first and records the sale it paid."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiosqlite

from appliance.config import DeviceSettings
from appliance.core.cart import Cart
from appliance.core.catalog import CatalogRef, Product
from appliance.core.receipt import Receipt
from appliance.core.roles import require
from appliance.core.sale import Payment, cart_body, sale_body, with_payments
from appliance.core.tender import cash_payment
from appliance.payments.card_types import CardAttempt, CardOutcome, CardUnavailable
from appliance.payments.mercadopago_types import (
    MercadoPagoMethod,
    MercadoPagoUnavailable,
    OrderAttempt,
    OrderOutcome,
    mercadopago_payment,
)
from appliance.services.access import AccessService
from appliance.services.background import Background
from appliance.services.checkpoints import Checkpoints
from appliance.services.drawer import DrawerService
from appliance.services.printing import receipt_from_record, with_shop_settings
from appliance.services.receipts import ReceiptService
from appliance.store import catalog, catalog_history, catalog_versions, journal, sales
from appliance.store.catalog import PAGE_SIZE, PageKey
from appliance.store.catalog_history import VersionNotKept
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol import barcode
from bitagora_protocol.barcode import BarcodeError
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

if TYPE_CHECKING:
    from appliance.payments.card import CardPayments
    from appliance.payments.mercadopago import MercadoPagoPayments

__all__ = [
    "BarcodeError",
    "CardUnavailable",
    "CatalogRef",
    "NotInSaleCatalog",
    "PageKey",
    "SaleResult",
    "SalesService",
]

log = logging.getLogger(__name__)


class NotInSaleCatalog(LookupError):
    """A product the catalog version a sale is priced from did not sell: an import brought it
    while the sale was open (or, after more imports than are kept, that version's prices are no
    longer known). The sale names one version and every line is priced from it (docs/CATALOG.md),
    so the product waits for the next sale; the message says so."""


TOO_MANY_IMPORTS = (
    "The catalog changed several times during this sale: finish it, then sell the rest in a new one"
)


def _new_in_catalog(product: Product) -> str:
    return (
        f"{product.name} is new in the catalog: finish this sale first, then sell it in a new one"
    )


def _version(cart: Cart | None) -> int | None:
    """The catalog version a cart is priced from (None: the version in force)."""
    return cart.catalog.version if cart is not None and cart.catalog is not None else None


@dataclass(frozen=True)
class SaleResult:
    sale_id: str
    record: Record
    total: Money
    change: Money
    receipt: Receipt
    # What went wrong after the sale was committed (printer, drawer): shown, never fatal.
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def method(self) -> str:
        """How the sale was paid ("cash", "card", "lightning", "onchain"; "split" for a sale
        paid in parts)."""
        payments = self.record.body["payments"]
        return str(payments[0]["method"]) if len(payments) == 1 else "split"


class SalesService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        device: DeviceSettings,
        access: AccessService,
        drawer: DrawerService,
        receipts: ReceiptService,
        background: Background,
        checkpoints: Checkpoints,
        card: CardPayments | None = None,
        card_capture: str = "automatic",
    ) -> None:
        """``card``: the card payments when a reader is configured; ``card_capture`` the
        ``[card] capture`` a card payment's record carries."""
        self.conn = conn
        self.identity = identity
        self.device = device
        self.access = access
        self.drawer = drawer
        self.receipts = receipts
        self.background = background
        self.checkpoints = checkpoints
        self.card = card
        self.card_capture = card_capture
        self.mercadopago: MercadoPagoPayments | None = None  # set by bootstrap when configured

    @property
    def currency(self) -> str:
        return self.device.currency

    # -- the catalog and carts -------------------------------------------------------------------

    async def products(self) -> list[Product]:
        """Every product for sale: the whole catalog, for small catalogs and tools (the demo);
        the sell screen reads ``categories``, ``page`` and ``search``."""
        return [p for p in await catalog.products(self.conn) if p.price.currency == self.currency]

    async def categories(self) -> dict[str, int]:
        """Each category with products for sale and how many, in display order."""
        return await catalog.categories(self.conn)

    async def page(
        self, category: str, after: PageKey | None = None, limit: int = PAGE_SIZE
    ) -> tuple[list[Product], PageKey | None]:
        """The next ``limit`` products of ``category`` after ``after`` (from the first with
        None), and the key of the page after (None at the end): by index, never the whole
        category."""
        return await catalog.page_after(self.conn, category, after, limit)

    async def search(self, query: str, offset: int = 0, limit: int = PAGE_SIZE) -> list[Product]:
        """Products whose name contains ``query`` (case and accents ignored), a page at a time."""
        return await catalog.search(self.conn, query, offset, limit)

    async def product_for_barcode(self, code: str, cart: Cart | None = None) -> Product | None:
        """The product a scanned or typed code names, as the catalog version ``cart`` is priced
        from sold it (the version in force without a cart or a recorded version), or None if
        that catalog has none: so a sale keeps the prices it started with when a catalog import
        lands meanwhile, for products it already holds and for those it takes after.

        Raises ``BarcodeError`` for a GTIN-shaped code whose check digit is wrong (a misread or a
        typo): that is "not a valid barcode", which staff handle differently from "unknown
        product" (scan again rather than set the item aside). Raises ``NotInSaleCatalog`` for a
        product the import brought that the cart's version did not sell."""
        keys = barcode.parse(code).lookup_keys
        version = _version(cart)
        try:
            product = await catalog_history.product_by_barcode(self.conn, keys, version)
        except VersionNotKept:
            raise NotInSaleCatalog(TOO_MANY_IMPORTS) from None
        if product is None and version is not None:
            newer = await catalog_history.product_by_barcode(self.conn, keys, None)
            if newer is not None:
                raise NotInSaleCatalog(_new_in_catalog(newer))
        return product

    async def priced_for(self, product: Product, cart: Cart) -> Product:
        """``product`` (tapped on the grid, which may have read it from a newer catalog) as the
        catalog version ``cart`` is priced from sold it. Raises ``NotInSaleCatalog`` when that
        version did not sell it."""
        version = _version(cart)
        if version is None:
            return product  # no recorded version to keep to
        try:
            priced = await catalog_history.product_by_sku(self.conn, product.sku, version)
        except VersionNotKept:
            raise NotInSaleCatalog(TOO_MANY_IMPORTS) from None
        if priced is None:
            raise NotInSaleCatalog(_new_in_catalog(product))
        return priced

    # -- catalog versions ------------------------------------------------------------------------

    async def catalog_version(self) -> CatalogRef | None:
        """The catalog version sales are priced from now, None while none is recorded (or the
        tables were written outside an import since, until ``record_catalog``)."""
        state = await catalog_versions.current_version(self.conn)
        if state.version == 0 or not state.recorded or state.sha256 is None:
            return None
        return CatalogRef(state.version, state.sha256)

    async def record_catalog(self) -> CatalogRef | None:
        """Record the catalog the tables hold as a version if it is not yet (start-up, after any
        seeding, before the first sale): so every sale can name its price list."""
        await catalog_versions.ensure_recorded(self.conn, self.identity, self.currency)
        return await self.catalog_version()

    def new_cart(self, catalog: CatalogRef | None = None) -> Cart:
        """An empty cart priced from ``catalog`` (``start_cart`` takes the version in force)."""
        return Cart(self.currency, catalog=catalog)

    async def start_cart(self, cart: Cart | None = None) -> Cart:
        """A cart started now: it names the catalog version in force, and keeps it (and its
        lines' prices) when an import lands before it is paid. An empty ``cart`` is restarted."""
        if cart is None:
            return self.new_cart(await self.catalog_version())
        if cart.is_empty:
            cart.catalog = await self.catalog_version()
        return cart

    # -- cash ------------------------------------------------------------------------------------

    async def cash_rounding(self) -> int:
        """The cash rounding increment in minor units (core/tender.py): central's shop setting
        (its newest ``cash_rounding`` ``config`` record, docs/PROTOCOL.md 2.6), else the
        settings file's ``[device] cash_rounding``."""
        record = await journal.last_config(self.conn, "cash_rounding")
        value = record.body.get("value") if record is not None else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        return self.device.cash_rounding

    async def pay_cash(self, cart: Cart, staff: Staff, tendered: Money) -> SaleResult:
        """Commit a cash sale with its drawer opening, then open the drawer and print; device
        trouble is reported."""
        record, opening = await self.commit_cash(cart, staff, tendered)
        drawer_problem = None if opening is None else await self.drawer.pulse_for_sale(opening)
        cart.clear()
        return await self.finish_sale(record, (drawer_problem,) if drawer_problem else ())

    async def commit_cash(
        self, cart: Cart, staff: Staff, tendered: Money
    ) -> tuple[Record, dict[str, Any] | None]:
        """The durable half of a cash sale (what bench/sale_finish.py times): the role and
        lockout check, then one commit of the sale, its drawer's record and (triggers of
        migrations 0001 and 0002) the outbox row and the receipt's print job. Returns the sale's
        record and the drawer opening to pulse (None: practice sale or no drawer)."""
        await self.access.authorize_sale(staff)
        payment = cash_payment(cart.totals().total, tendered, await self.cash_rounding())
        sale_id = str(uuid.uuid4())
        body = sale_body(
            sale_id, cart, staff.id, staff.name, [payment], training=self.access.training
        )
        # Practice sales move no money: the drawer stays shut.
        opening = (
            None
            if self.access.training
            else self.drawer.opening_for_sale(sale_id, staff.id, staff.name)
        )
        return await sales.record_sale(self.conn, self.identity, body, opening), opening

    # -- card (payments/card.py; the screen drives the attempt) ---------------------------------

    def card_for_sale(self) -> CardPayments:
        """The card payments, when a card may be taken now (CardUnavailable in words if not)."""
        if self.card is None:
            raise CardUnavailable("Card payments are not set up on this till ([card] kind).")
        if self.access.training:
            raise CardUnavailable("Training mode: take cash only (a card payment is real money)")
        return self.card

    def card_description(self) -> str:
        return f"Sale at {self.device.merchant_name}"

    async def start_card(self, cart: Cart, staff: Staff, sale_id: str) -> CardAttempt:
        """Show the cart's total on the reader for ``sale_id`` (a new attempt each call): after
        the same role and lockout check as cash, before anything can be charged. The attempt
        keeps the cart, so a card found paid after a restart still records this sale."""
        await self.access.authorize_sale(staff)
        card = self.card_for_sale()
        kept = json.dumps(cart_body(sale_id, cart, staff.id, staff.name))
        return await card.start(sale_id, cart.totals().total, self.card_description(), cart=kept)

    def card_payment(self, outcome: CardOutcome) -> Payment:
        """The ``payments`` entry of a succeeded card attempt. The journal keeps the brand and
        last four digits for the receipt (PCI DSS allows them to be shown; docs/PROTOCOL.md
        1.4), never more of the card."""
        if not outcome.paid or outcome.amount is None:
            raise ValueError(f"a card payment needs a succeeded attempt, not {outcome.status}")
        details = {
            "brand": outcome.brand,
            "last4": outcome.last4,
            "payment_intent": outcome.payment_intent,
            "charge": outcome.charge,
            "capture": self.card_capture,
        }
        return Payment("card", outcome.amount, details=details)

    async def pay_card(
        self, cart: Cart, staff: Staff, sale_id: str, outcome: CardOutcome
    ) -> SaleResult:
        """Commit the sale a succeeded card attempt paid. The money is taken by now, so only the
        role is checked (a lockout that started while the customer paid must not lose the
        sale)."""
        require(staff, "sell")
        result = await self.record_card_sale(
            cart_body(sale_id, cart, staff.id, staff.name), outcome
        )
        cart.clear()
        return result

    async def record_card_sale(self, cart_part: dict[str, Any], outcome: CardOutcome) -> SaleResult:
        """Record the sale (``cart_part``: its body without payments) a card paid in full."""
        return await self.record_paid_sale(cart_part, self.card_payment(outcome))

    async def record_paid_sale(self, cart_part: dict[str, Any], payment: Payment) -> SaleResult:
        """Record the sale (``cart_part``: its body without payments) that one payment, already
        taken (a card, Mercado Pago), paid in full."""
        total = Money(cart_part["total"]["minor"], cart_part["currency"])
        if payment.amount != total:
            raise ValueError(f"the {payment.method} payment was {payment.amount}, the sale {total}")
        record = await sales.record_sale(
            self.conn, self.identity, with_payments(cart_part, [payment])
        )
        log.info(
            "paid sale recorded",
            extra={"sale_id": cart_part["sale_id"], "seq": record.seq, "method": payment.method},
        )
        return await self.finish_sale(record)

    # -- Mercado Pago (payments/mercadopago.py; the screen drives the attempt) -------------------

    def mercadopago_for_sale(self) -> MercadoPagoPayments:
        """Mercado Pago, when it may be used now (MercadoPagoUnavailable in words if not)."""
        if self.mercadopago is None:
            raise MercadoPagoUnavailable("Mercado Pago is not set up on this till.")
        if self.access.training:
            raise MercadoPagoUnavailable(
                "Training mode: take cash only (Mercado Pago is real money)"
            )
        return self.mercadopago

    async def start_mercadopago(
        self, method: MercadoPagoMethod, cart: Cart, staff: Staff, sale_id: str
    ) -> OrderAttempt:
        """Create the Mercado Pago order for the cart's total (``sale_id``: one per sale, for
        every attempt), after the same role and lockout check as cash."""
        await self.access.authorize_sale(staff)
        payments = self.mercadopago_for_sale()
        return await payments.start(method, sale_id, cart.totals().total, self.card_description())

    async def pay_mercadopago(
        self, cart: Cart, staff: Staff, sale_id: str, outcome: OrderOutcome
    ) -> SaleResult:
        """Commit the sale a paid Mercado Pago order paid (the money is taken: role only)."""
        require(staff, "sell")
        result = await self.record_paid_sale(
            cart_body(sale_id, cart, staff.id, staff.name), mercadopago_payment(outcome)
        )
        cart.clear()
        return result

    # -- after the commit ------------------------------------------------------------------------

    async def finish_sale(self, record: Record, problems: tuple[str, ...] = ()) -> SaleResult:
        """After a sale's commit (its receipt is queued by then): wait a little for the receipt
        and say what went wrong with it, without ever undoing the sale. Once its outcome is
        known, noted as told: a restart before this point has the till tell staff what became
        of the sale (``Recovery.untold_sale``)."""
        problem = await self.receipts.outcome(record.seq)
        await self._outcome_told(record)
        self.checkpoints.sale_committed()
        currency = record.body["currency"]
        change = sum(p["change"] or 0 for p in record.body["payments"])
        return SaleResult(
            record.body["sale_id"],
            record,
            Money(record.body["total"]["minor"], currency),
            Money(change, currency),
            receipt_from_record(record, await with_shop_settings(self.conn, self.device)),
            problems + ((problem,) if problem else ()),
        )

    async def _outcome_told(self, record: Record) -> None:
        try:
            await sales.mark_outcome_told(self.conn, record.seq)
        except (aiosqlite.Error, OSError) as err:  # the sale stands; a restart would retell it
            log.warning("sale's outcome not noted as told", extra={"error": str(err)})
