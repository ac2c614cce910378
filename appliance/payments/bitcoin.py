"""Bitcoin checkout: one offer per sale (on-chain address, Lightning invoice, or both in one
unified QR) at one locked rate, watched until it settles, expires or is cancelled.

The life of an offer, each step a journal record (``payment``, or the ``sale`` that completes it;
docs/PROTOCOL.md 1.4) written in the transaction that moves the checkout row (store.checkouts):

- ``offer``: lock a rate (none → :class:`PaymentUnavailable`, never a made-up rate), derive a fresh
  address and/or ask the node for an invoice, journal ``offered`` with the rate lock.
- Lightning: the node's settlement (``InvoiceWatcher``, which also finds payments made while the
  till was off) completes the sale; more than asked is ``overpaid`` (excess recorded for refund).
  A node never accepts less than the invoice, so Lightning has no underpayment.
- On-chain: the chain source is asked every ``onchain.poll_s`` and ``core.settlement.judge``
  decides: ``underpaid`` (the customer may top up: the QR then asks for what is missing),
  ``confirming``, ``paid``/``overpaid``, and at expiry ``expired`` or ``expired_underpaid`` (the
  sale is cancelled and what arrived is marked for refund).
- Expiry and cancel delete the unpaid invoice first; if the node says it was paid meanwhile, that
  payment completes the sale instead.
- Late: money reaching a closed checkout (an address after expiry or cancel, for
  ``onchain.late_watch_h`` hours; an invoice paid as it was being cancelled) is journalled as
  ``late`` for the manager to refund or accept. It never completes a sale by itself.

USDT on TRON runs on the same machinery: a second instance with the ``USDT_TRON`` asset (a
TRON account for addresses, TronGrid for the chain, no Lightning) differs only in what
``ChainAsset`` names: the journalled method, the amount's unit and conversion, the QR text,
the settings section (timings and settlement policy) and the checkouts' ``chain``.

Payments that settle with nobody watching the screen (after a restart) still finish their sale
(the cart is kept with the checkout) and are reported through ``publish`` as unwatched.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import aiosqlite
import httpx

from appliance.config import Settings
from appliance.core.btc import bip21_uri, fiat_to_msat, fiat_to_sat, format_btc, format_sats
from appliance.core.cart import Cart
from appliance.core.sale import Payment, SaleError, cart_body, with_payments
from appliance.core.settlement import Policy, Seen, State, Verdict, judge
from appliance.core.usdt import fiat_to_usdt_units, format_usdt
from appliance.store import addresses, checkouts, outbox
from appliance.store import lightning as ln_store
from appliance.store import split as split_store
from appliance.store.checkouts import Checkout
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from appliance.wallet.chain import AddressActivity, ChainError, chain_from_settings
from appliance.wallet.lightning import LightningError, LightningNode, make_node
from appliance.wallet.ln_watch import InvoiceWatcher
from appliance.wallet.lnurl import withdraw
from appliance.wallet.rates import NoRate, RateService
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)

HOUR_S = 3600.0


class ActivitySource(Protocol):
    """What the checkouts ask a chain (``wallet.chain.ChainSource``, ``TronGridSource``)."""

    async def address_activity(self, address: str) -> AddressActivity: ...


class ChainSection(Protocol):
    """The settings of one chain's payments (``[onchain]``, ``[tron]``) that the checkout uses."""

    @property
    def expiry_s(self) -> int: ...
    @property
    def poll_s(self) -> float: ...
    @property
    def late_watch_h(self) -> int: ...
    def policy(self) -> Any: ...


def _bip21(address: str, amount: int, label: str) -> str:
    return bip21_uri(address, amount, label=label)


def _plain_address(address: str, amount: int, label: str) -> str:
    return address


@dataclass(frozen=True)
class ChainAsset:
    """What an on-chain checkout takes, and how it is named, priced and shown."""

    method: str  # the journalled payment method: "onchain", "usdt_tron"
    chain: str  # the checkouts' chain column: "bitcoin", "tron"
    unit: str  # the amount keys of the journal's details: sats, received_sats, refund_sats
    section: str  # the settings section with expiry_s, poll_s, late_watch_h, policy()
    to_units: Callable[[Money, Decimal], int]  # fiat at a rate → amount, rounded up
    format: Callable[[int], str]  # "2,940 sats", "1.96 USDT"
    qr: Callable[[str, int, str], str]  # (address, amount due, merchant) → the QR's text
    reports_problems: bool = True  # left where the heartbeat reads them (bitcoin's alone)

    def settings(self, settings: Settings) -> ChainSection:
        section: ChainSection = getattr(settings, self.section)
        return section


BITCOIN = ChainAsset("onchain", "bitcoin", "sats", "onchain", fiat_to_sat, format_sats, _bip21)
# A plain ``T…`` address: what TronLink and Trust Wallet scan reliably (there is no URI scheme
# they agree on); the amount is on the screen beside it.
USDT_TRON = ChainAsset(
    "usdt_tron",
    "tron",
    "units",
    "tron",
    fiat_to_usdt_units,
    format_usdt,
    _plain_address,
    reports_problems=False,
)


class PaymentUnavailable(RuntimeError):
    """No bitcoin offer can be made now; the message says why, for the screen."""


@dataclass(frozen=True)
class Offer:
    """What the pay screen shows: the amounts, the QR text and when it stops being payable."""

    sale_id: str
    total: Money
    rate: str  # the locked rate, fiat per BTC, as journalled
    sats: int | None  # on-chain amount (None: no on-chain offer)
    address: str | None
    msat: int | None  # Lightning amount (None: no invoice)
    bolt11: str | None
    uri: str  # one QR for both: BIP21 with lightning=, or lightning:<invoice>
    expires_at: float  # unix seconds, device clock
    notes: tuple[str, ...] = ()  # a rail that could not be offered, in words

    method: str = "onchain"  # the on-chain rail's method: "onchain" or "usdt_tron"

    @property
    def btc_text(self) -> str:
        """The amount as the customer's wallet will ask for it."""
        if self.method == USDT_TRON.method:
            return format_usdt(self.sats or 0)
        sats = self.sats if self.sats is not None else -(-(self.msat or 0) // 1000)
        return f"{format_btc(sats)} · {format_sats(sats)}"


# Started with an offer before its commit, awaited with it (``BitcoinPayments.offer``).
Drawing = Callable[[Offer], Awaitable[None]]


@dataclass(frozen=True)
class Status:
    """One change of an offer, for the screen (and, unwatched, for staff after a restart)."""

    sale_id: str
    state: str  # offered, underpaid, confirming, paid, overpaid, expired, ... (module doc)
    message: str
    uri: str | None = None  # a new QR to show (a top-up), or None to keep the current one
    record: Record | None = None  # the journal record of this change
    result: Any = None  # the till's SaleResult once the sale is recorded

    @property
    def final(self) -> bool:
        return self.state not in checkouts.OPEN_STATES


# Where statuses go: ``publish(status, watched)``; ``watched`` when a screen watches the sale.
Publish = Callable[[Status, bool], None]


class SaleHooks(Protocol):
    """What the payment service asks of the till (``services.split.PaymentHooks``)."""

    @property
    def training(self) -> bool:
        """Practice sales only: no real money may be asked for."""

    async def authorize_sale(self, staff: Staff) -> None:
        """Raise if ``staff`` may not take payment (role, lockout)."""

    async def finish_sale(self, record: Record) -> Any:
        """After-sale work on a committed sale (receipt); returns the till's SaleResult."""

    async def part_paid(self, record: Record) -> Any:
        """A split sale's part was journalled (``record``); finish the sale if it is covered.
        Returns the till's SaleResult then, else the split sale as it stands."""


@dataclass
class _Rails:
    wallet: addresses.AddressSource | None = None
    chain: ActivitySource | None = None
    watcher: InvoiceWatcher | None = None
    node: LightningNode | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class BitcoinPayments:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        settings: Settings,
        rates: RateService,
        http: httpx.AsyncClient,
        till: SaleHooks,
        *,
        wallet: addresses.AddressSource | None = None,
        chain: ActivitySource | None = None,
        node: LightningNode | None = None,
        clock: Callable[[], float] = time.time,
        publish: Publish | None = None,
        asset: ChainAsset = BITCOIN,
    ) -> None:
        """``publish(status, watched)`` hears every status of a watched sale (``watch``) and
        every final status of one nobody watches (settled after a restart, late)."""
        self.conn, self.identity, self.settings = conn, identity, settings
        self.rates, self.http, self.till = rates, http, till
        self.clock = clock
        self.asset = asset
        self.onchain: ChainSection = asset.settings(settings)  # the on-chain rail's timings
        self.policy: Policy = self.onchain.policy()
        self._rails = _Rails(wallet, chain if wallet else None, node=node)
        if node is not None:
            self._rails.watcher = InvoiceWatcher(
                node,
                conn,
                self._lightning_paid,
                wait_s=settings.lightning.wait_chunk_s,
                on_status=lambda _: self._wake.set(),  # the monitor reports the change
            )
        self._watched: dict[str, int] = {}
        self.publish: Publish = publish or (lambda status, watched: None)
        self.chain_problem: str | None = None
        self.rate_problem: str | None = None
        self._reported: dict[str, str | None] | None = None  # services' problems, as stored
        self.lnurl_allow_insecure = False  # tests and regtest only: no setting turns it on
        self._wake = asyncio.Event()
        self._checking = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        settings: Settings,
        till: SaleHooks,
        publish: Publish | None = None,
    ) -> BitcoinPayments | None:
        """The till's bitcoin payments, or None when neither rail is configured."""
        onchain = settings.onchain
        node = make_node(settings.lightning)
        if not onchain.enabled and node is None:
            return None
        http = httpx.AsyncClient(timeout=settings.rates.timeout_s, follow_redirects=False)
        wallet = onchain.watch_only() if onchain.enabled else None
        return cls(
            conn,
            identity,
            settings,
            RateService.from_settings(settings, http),
            http,
            till,
            wallet=wallet,
            chain=chain_from_settings(onchain, http) if wallet else None,
            node=node,
            publish=publish,
        )

    @classmethod
    def usdt_from_settings(
        cls,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        settings: Settings,
        till: SaleHooks,
        publish: Publish | None = None,
    ) -> BitcoinPayments | None:
        """The till's USDT-on-TRON payments, or None when ``[tron]`` has no account."""
        from appliance.wallet.trongrid import TronGridSource

        tron = settings.tron
        if not tron.enabled:
            return None
        http = httpx.AsyncClient(timeout=settings.rates.timeout_s, follow_redirects=False)
        return cls(
            conn,
            identity,
            settings,
            RateService.from_settings(settings, http, asset="USDT"),
            http,
            till,
            wallet=tron.account(),
            chain=TronGridSource(http, tron.trongrid_url, tron.api_key, tron.contract),
            publish=publish,
            asset=USDT_TRON,
        )

    @property
    def method(self) -> str:
        """The on-chain rail's payment method: "onchain" (bitcoin) or "usdt_tron"."""
        return self.asset.method

    @property
    def rails(self) -> tuple[str, ...]:
        return tuple(
            name
            for name, on in (("onchain", self._rails.wallet), ("lightning", self._rails.node))
            if on is not None
        )

    @property
    def lightning_problem(self) -> str | None:
        watcher = self._rails.watcher
        return watcher.last_error if watcher else None

    def problems(self) -> dict[str, str | None]:
        """What is wrong with each service the rails need (None: nothing known wrong)."""
        found: dict[str, str | None] = {"rates": self.rate_problem}
        if self._rails.node is not None:
            found["lightning"] = self.lightning_problem
        if self._rails.chain is not None:
            found["chain"] = self.chain_problem
        return found

    async def _report_problems(self) -> None:
        """Leave the services' problems where the uplink's heartbeat reads them, when they
        changed (central raises a ``payments`` alert from them)."""
        problems = self.problems()
        if self.asset.reports_problems and problems != self._reported:
            await outbox.set_state(self.conn, outbox.PAYMENT_STATUS, json.dumps(problems))
            self._reported = problems

    async def start(self) -> None:
        """Watch the node and the chain until ``close`` (open checkouts from before a restart
        are watched too)."""
        if self._rails.watcher is not None:
            self._rails.tasks.append(asyncio.create_task(self._rails.watcher.run(), name="ln"))
        monitor = asyncio.create_task(self._monitor(), name=f"{self.asset.chain} monitor")
        self._rails.tasks.append(monitor)

    async def close(self) -> None:
        for task in self._rails.tasks:
            task.cancel()
        await asyncio.gather(*self._rails.tasks, return_exceptions=True)
        self._rails.tasks.clear()
        if self._rails.node is not None:
            await self._rails.node.aclose()
        await self.http.aclose()

    def wake(self) -> None:
        """Look at the chain and the expiries now instead of at the next poll."""
        self._wake.set()

    def watch(self, sale_id: str) -> Callable[[], None]:
        """A screen shows the sale's offer: its statuses are published as watched from now on;
        returns the function that ends the watch."""
        self._watched[sale_id] = self._watched.get(sale_id, 0) + 1

        def unwatch() -> None:
            count = self._watched.get(sale_id, 0) - 1
            if count > 0:
                self._watched[sale_id] = count
            else:
                self._watched.pop(sale_id, None)

        return unwatch

    def _tell(self, status: Status) -> None:
        watched = status.sale_id in self._watched
        if not watched and not status.final:
            return
        try:
            self.publish(status, watched)
        except Exception:
            log.exception("a bitcoin status could not be published")

    # -- making the offer ----------------------------------------------------------------------

    async def offer(self, cart: Cart, staff: Staff, *, drawing: Drawing | None = None) -> Offer:
        """An offer for the whole of ``cart``: paid, it records the sale.

        ``drawing(offer)`` is started as soon as the offer is known and before its commit, and
        awaited with it: the pay screen draws the QR code while the disk writes the offer."""
        await self._may_offer(staff)
        sale_id = str(uuid.uuid4())
        return await self._offer(cart_body(sale_id, cart, staff.id, staff.name), drawing)

    async def offer_part(
        self, split_id: str, amount: Money, staff: Staff, *, drawing: Drawing | None = None
    ) -> Offer:
        """An offer for one part (``amount``) of the split sale ``split_id`` (core/split.py):
        paid, it journals the part (a ``part_paid`` record), and the sale once the parts cover
        it. The checkout has its own id; its records name the split sale as ``part_of``."""
        await self._may_offer(staff)
        await self.withdraw_parts(split_id)  # one part offered at a time: see withdraw_parts
        split = await split_store.get(self.conn, split_id)
        if split is None:
            raise PaymentUnavailable(f"No split sale {split_id} on this till")
        try:
            split.check_part(amount)
        except SaleError as err:
            raise PaymentUnavailable(str(err)) from None
        checkout_id = str(uuid.uuid4())
        part = {
            "sale_id": checkout_id,
            "currency": amount.currency,
            "staff": {"id": staff.id, "name": staff.name},
            "total": {"minor": amount.minor, "currency": amount.currency},
            "part_of": split_id,
        }
        return await self._offer(part, drawing)

    async def withdraw_parts(self, split_id: str) -> None:
        """Cancel the open offers of the split sale's parts before another part takes money
        (or the sale is given up): an offer paid meanwhile is journalled as its part by the
        cancel, so what is still due is known before the next part is asked for."""
        for checkout_id in await checkouts.open_parts_of(self.conn, split_id, self.asset.chain):
            await self.cancel(checkout_id)

    async def _may_offer(self, staff: Staff) -> None:
        if not self.rails:
            raise PaymentUnavailable("Bitcoin payments are not set up on this till")
        await self.till.authorize_sale(staff)
        if self.till.training:
            raise PaymentUnavailable(
                "Training mode: take cash only (a bitcoin payment would be real money)"
            )

    async def _offer(self, cart_part: dict[str, Any], drawing: Drawing | None) -> Offer:
        """Offer ``cart_part`` (a sale body without payments, or a part's stand-in for one)."""
        try:
            rate = await self.rates.current()
        except NoRate as err:
            self.rate_problem = str(err)
            self._wake.set()
            raise PaymentUnavailable(f"{err}. Take another payment.") from None
        if self.rate_problem is not None:
            self.rate_problem = None
            self._wake.set()
        sale_id = str(cart_part["sale_id"])
        total = Money(cart_part["total"]["minor"], cart_part["currency"])
        onchain, lightning = self.onchain, self.settings.lightning
        expiry_s = min(
            s
            for s, on in (
                (onchain.expiry_s, self._rails.wallet),
                (lightning.expiry_s, self._rails.node),
            )
            if on
        )
        # The node is asked first, outside any transaction (it may be slow); then the address,
        # the invoice's row and the offer's record are one transaction: one commit (fsync)
        # before the QR, instead of one each. Nothing is payable before that commit: nobody
        # has seen the address or the invoice yet.
        onchain_note = lightning_note = None
        sats = address = msat = bolt11 = payment_hash = None
        invoice = allocation = None
        drawn: asyncio.Future[None] | None = None
        if self._rails.watcher is not None:
            msat = fiat_to_msat(total, rate.rate)
            description = f"{self.settings.device.merchant_name} sale {sale_id[:8]}"
            try:
                invoice = await self._rails.watcher.ask(sale_id, msat, description, expiry_s)
                bolt11, payment_hash = invoice.bolt11, invoice.payment_hash
            except LightningError as err:
                msat = None
                lightning_note = f"Lightning not offered: {err}"
        expires_at = self.clock() + expiry_s
        try:
            async with transaction(self.conn):
                if self._rails.wallet is not None:
                    try:
                        allocation = await addresses.allocate(
                            self.conn, self._rails.wallet, sale_id
                        )
                        sats, address = self.asset.to_units(total, rate.rate), allocation.address
                    except addresses.AddressError as err:
                        onchain_note = f"On-chain not offered: {err}"
                notes = [n for n in (onchain_note, lightning_note) if n is not None]
                if address is None and bolt11 is None:
                    raise PaymentUnavailable("; ".join(notes) or "no bitcoin rail answered")
                if invoice is not None and self._rails.watcher is not None:
                    assert msat is not None
                    await self._rails.watcher.record(sale_id, invoice, msat)
                checkout = Checkout(
                    sale_id,
                    cart_part,
                    rate.body(),
                    total.minor,
                    sats,
                    address,
                    msat,
                    bolt11,
                    expires_at,
                    "offered",
                    None,
                    0,
                    self.asset.chain,
                )
                body = {
                    "sale_id": sale_id,
                    "state": "offered",
                    "total": cart_part["total"],
                    "staff": cart_part["staff"],
                    "rate": rate.body(),
                    "expires_at": _utc(expires_at),
                    "onchain": None
                    if allocation is None
                    else {
                        "address": address,
                        self.asset.unit: sats,
                        "wallet_id": allocation.wallet_id,
                        "index": allocation.index,
                    },
                    "lightning": None
                    if bolt11 is None
                    else {"msat": msat, "payment_hash": payment_hash},
                    **({"part_of": cart_part["part_of"]} if "part_of" in cart_part else {}),
                    **({"method": self.asset.method} if self.asset is not BITCOIN else {}),
                }
                offer = Offer(
                    sale_id,
                    total,
                    rate.body()["rate"],
                    sats,
                    address,
                    msat,
                    bolt11,
                    self._uri(address, sats, bolt11),
                    expires_at,
                    tuple(notes),
                    self.asset.method,
                )
                if drawing is not None:
                    drawn = asyncio.ensure_future(drawing(offer))
                await checkouts.open_checkout(self.conn, self.identity, checkout, body)
        except BaseException:
            if drawn is not None:
                drawn.cancel()
                await asyncio.gather(drawn, return_exceptions=True)
            await self._withdraw(sale_id, bolt11)
            raise
        self.wake()
        if drawn is not None:  # the offer stands whatever became of its drawing
            (problem,) = await asyncio.gather(drawn, return_exceptions=True)
            if isinstance(problem, Exception):
                log.warning("the offer's QR code could not be drawn ahead: %s", problem)
        return offer

    async def _withdraw(self, sale_id: str, bolt11: str | None) -> None:
        """Undo an offer that could not be recorded: its transaction rolled back the address
        and the invoice's row, so only the node's invoice is left to delete (a failure is
        logged with its reason; nobody has seen that invoice). The caller raises the original
        error."""
        if bolt11 is not None and self._rails.watcher is not None:
            try:
                await self._rails.watcher.cancel(sale_id)
            except Exception as err:
                log.warning(
                    "withdrawing an unrecorded offer: its invoice could not be cancelled: %s",
                    err,
                    extra={"sale_id": sale_id, "error": repr(err)},
                )

    def _uri(self, address: str | None, sats: int | None, bolt11: str | None) -> str:
        if address is None:
            return f"lightning:{bolt11}"
        if self.asset is not BITCOIN:
            return self.asset.qr(address, sats or 0, self.settings.device.merchant_name)
        return bip21_uri(address, sats, label=self.settings.device.merchant_name, lightning=bolt11)

    # -- cancel, Bolt Card -----------------------------------------------------------------

    async def cancel(self, sale_id: str) -> Status:
        """Staff gave up on the offer (another payment, the customer left). If it turns out to
        be paid meanwhile, the returned status says so and the sale is recorded."""
        co = await checkouts.get(self.conn, sale_id)
        if co is None:
            raise KeyError(sale_id)
        if co.is_open and not await self._invoice_withdrawn(co):
            co = await checkouts.get(self.conn, sale_id)  # paid meanwhile: the sale is recorded
            assert co is not None
        if not co.is_open:
            return Status(sale_id, co.state, self._words(co.state), record=None)
        received, unit = co.received_sats, self.asset.unit
        body = {"sale_id": sale_id, "state": "cancelled", f"received_{unit}": received}
        if received:
            body[f"refund_{unit}"] = received
        record = await checkouts.move(
            self.conn, self.identity, sale_id, "cancelled", body, late_until=self._late_until(co)
        )
        if record is None:  # settled in between
            again = await checkouts.get(self.conn, sale_id)
            assert again is not None
            return Status(sale_id, again.state, self._words(again.state))
        if co.address is not None and not received:
            await addresses.release(self.conn, sale_id)
        words = self._words("cancelled", refund=received)
        status = Status(sale_id, "cancelled", words, record=record)
        self._tell(status)
        return status

    async def tap_card(self, sale_id: str, link: str) -> None:
        """A Bolt Card was tapped: have its service pay the sale's invoice (LNURL-withdraw).
        Returns once the service accepted; the payment then arrives like any other. Raises
        ``LnurlError`` (a message for the screen) or PaymentUnavailable."""
        co = await checkouts.get(self.conn, sale_id)
        if co is None or not co.is_open:
            raise PaymentUnavailable("This payment is no longer open")
        if co.bolt11 is None or co.msat is None:
            raise PaymentUnavailable("Lightning is not offered for this sale: no card payments")
        bolt11 = co.bolt11

        async def existing_invoice(_msat: int) -> str:
            return bolt11

        await withdraw(
            self.http, link, co.msat, existing_invoice, allow_insecure=self.lnurl_allow_insecure
        )
        # A service may answer only once it has paid: the sale can be recorded by then, and
        # "waiting" must not follow "paid" on the screen.
        latest = await checkouts.get(self.conn, sale_id)
        if latest is not None and latest.is_open:
            self._tell(Status(sale_id, latest.state, "Card accepted: waiting for the payment…"))

    # -- Lightning settlement --------------------------------------------------------------

    async def _lightning_paid(self, invoice: ln_store.LnInvoice) -> None:
        sale_id, received = invoice.sale_id, invoice.amount_received_msat or 0
        co = await checkouts.get(self.conn, sale_id)
        if co is None or co.msat is None:
            log.error("lightning payment for an unknown checkout sale_id=%s", sale_id)
            return
        if not co.is_open:
            await self._late(
                co,
                {
                    "rail": "lightning",
                    "received_msat": received,
                    "refund_msat": received,
                    "payment_hash": invoice.payment_hash,
                },
            )
            return
        refund = max(0, received - co.msat)
        state = "overpaid" if refund else "paid"
        details = {
            "rate": co.rate,
            "msat": co.msat,
            "received_msat": received,
            "refund_msat": refund,
            "payment_hash": invoice.payment_hash,
        }
        await self._complete(
            co, "lightning", state, details, self._words(state, refund_msat=refund)
        )

    async def _complete(
        self, co: Checkout, rail: str, state: str, details: dict[str, Any], message: str
    ) -> None:
        payment = Payment(rail, Money(co.total_minor, co.cart["currency"]), details=details)
        split_id = co.cart.get("part_of")
        body: dict[str, Any] | Callable[[], Awaitable[dict[str, Any]]]
        if split_id is None:
            kind, body = "sale", with_payments(co.cart, [payment])
        else:
            staff = (co.cart["staff"]["id"], co.cart["staff"]["name"])
            kind, body = (
                "payment",
                functools.partial(
                    split_store.part_record,
                    self.conn,
                    split_id,
                    payment,
                    staff,
                    checkout=co.sale_id,
                ),
            )
        # A Lightning sale's address stays watched for money the customer sent there anyway.
        late_until = self._late_until(co) if rail == "lightning" else None
        # Paid by Lightning, on-chain money that came before (a partial payment) is owed back:
        # nothing at the address counts as accounted for, so the late watch journals it.
        try:
            record = await checkouts.complete(
                self.conn,
                self.identity,
                co.sale_id,
                state,
                body,
                kind=kind,
                late_until=late_until,
                received_sats=0 if rail == "lightning" else None,
            )
        except (aiosqlite.IntegrityError, SaleError):  # the split sale moved on: money owed back
            unit = self.asset.unit
            await self._late(
                co, _unaccounted(rail, details, unit), received_sats=details.get(f"received_{unit}")
            )
            return
        if record is None:
            return  # the other rail or a cancel got there first
        log.info("%s paid sale_id=%s rail=%s seq=%d", kind, co.sale_id, rail, record.seq)
        if rail == "lightning" and co.address is not None and not co.received_sats:
            await addresses.release(self.conn, co.sale_id)
        if rail != "lightning" and co.bolt11 is not None and self._rails.watcher is not None:
            with contextlib.suppress(LightningError):
                await self._rails.watcher.cancel(co.sale_id)  # a payment there is then late
        if kind == "sale":
            result = await self.till.finish_sale(record)
        else:
            result = await self.till.part_paid(record)
        self._tell(Status(co.sale_id, state, message, record=record, result=result))

    async def _late(
        self, co: Checkout, details: dict[str, Any], *, received_sats: int | None = None
    ) -> None:
        """Journal money that reached a closed checkout (``details``: the rail, what arrived,
        ``refund_sats``/``refund_msat`` newly owed). The address stays watched: more may come."""
        body = {"sale_id": co.sale_id, "state": "late", "was": co.state, **details}
        late_until = co.late_until if co.late_until is not None else self._late_until(co)
        record = await checkouts.move(
            self.conn,
            self.identity,
            co.sale_id,
            "late",
            body,
            from_states=(co.state,),
            late_until=late_until,
            received_sats=received_sats,
        )
        if record is not None:
            log.warning("late bitcoin payment sale_id=%s %s", co.sale_id, details)
            words = _late_words(co, details, self.asset)
            self._tell(Status(co.sale_id, "late", words, record=record))

    # -- the chain and the clock ------------------------------------------------------------

    async def _monitor(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.check()
            except (aiosqlite.Error, OSError):
                log.exception("bitcoin monitor: store error")
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that meets
            # a wake, and close() would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.onchain.poll_s):
                    await self._wake.wait()

    async def check(self) -> None:
        """One look at every open checkout (chain, expiry) and every address watched for late
        money, then the services' problems reported if they changed. The monitor calls it each
        poll; ``wake`` makes it come sooner."""
        async with self._checking:
            await self._check()
            await self._report_problems()

    async def _check(self) -> None:
        problem = None
        for co in await checkouts.open_checkouts(self.conn, self.asset.chain):
            try:
                await self._check_open(co)
            except ChainError as err:
                problem = f"Cannot ask the chain ({err}); retrying"
                self._tell(Status(co.sale_id, co.state, problem))
        if self._rails.chain is not None:
            for co in await checkouts.watched_for_late(self.conn, self.clock(), self.asset.chain):
                try:
                    await self._check_late(co)
                except ChainError as err:
                    problem = f"Cannot ask the chain ({err}); retrying"
        self.chain_problem = problem

    async def _seen(self, co: Checkout) -> list[Seen]:
        assert self._rails.chain is not None and co.address is not None
        activity = await self._rails.chain.address_activity(co.address)
        if not activity.txs:
            return []
        first, new = await checkouts.first_seen(
            self.conn, co.address, [tx.txid for tx in activity.txs], self.clock()
        )
        if new:  # money arrived: the address is never offered again
            await addresses.mark_used(self.conn, co.address)
        return [
            Seen(tx.txid, tx.sats, tx.confirmations, tx.rbf, first[tx.txid]) for tx in activity.txs
        ]

    async def _check_open(self, co: Checkout) -> None:
        now = self.clock()
        if co.address is None or self._rails.chain is None:
            if now > co.expires_at:
                await self._expire(co, Verdict(State.EXPIRED, 0), [])
            return
        seen = await self._seen(co)
        assert co.sats is not None
        verdict = judge(co.sats, co.expires_at, seen, now, self.policy)
        state = verdict.state
        if state in (State.EXPIRED, State.EXPIRED_UNDERPAID):
            await self._expire(co, verdict, seen)
        elif state is State.LATE:  # expired unnoticed (the till was off), then paid
            if await self._invoice_withdrawn(co):
                details = {"rail": self.asset.method, **self._details(verdict, seen)}
                await self._late(co, details, received_sats=verdict.received_sats)
        elif state.completes_sale:
            details = {
                "rate": co.rate,
                self.asset.unit: co.sats,
                "address": co.address,
                **self._details(verdict, seen),
            }
            await self._complete(
                co,
                self.asset.method,
                state.value,
                details,
                self._words(state.value, refund=verdict.refund_sats),
            )
        elif state in (State.UNDERPAID, State.CONFIRMING) and (
            state.value != co.state or verdict.received_sats != co.received_sats
        ):
            await self._progress(co, verdict, seen)

    async def _progress(self, co: Checkout, verdict: Verdict, seen: list[Seen]) -> None:
        assert co.sats is not None and co.address is not None
        state = verdict.state.value
        body = {
            "sale_id": co.sale_id,
            "state": state,
            "rail": self.asset.method,
            **self._details(verdict, seen),
        }
        record = await checkouts.move(
            self.conn,
            self.identity,
            co.sale_id,
            state,
            body,
            received_sats=verdict.received_sats,
        )
        if record is None:
            return
        uri = None
        if verdict.state is State.UNDERPAID:
            due = co.sats - verdict.received_sats
            uri = self.asset.qr(co.address, due, self.settings.device.merchant_name)
            fmt = self.asset.format
            message = (
                f"Received {fmt(verdict.received_sats)} of {fmt(co.sats)}: "
                f"{fmt(due)} still due. Scan again to pay the rest."
            )
        else:
            message = (
                f"Payment seen: waiting for {verdict.needed_confirmations} confirmation"
                f"{'' if verdict.needed_confirmations == 1 else 's'} "
                f"({verdict.confirmations}/{verdict.needed_confirmations})"
            )
        self._tell(Status(co.sale_id, state, message, uri=uri, record=record))

    async def _invoice_withdrawn(self, co: Checkout) -> bool:
        """Delete the checkout's unpaid invoice; False if it was paid just in time (that
        payment then completed the sale). A node that cannot be reached does not keep the
        checkout open: the invoice may then still be paid, which is journalled as late."""
        if co.bolt11 is None or self._rails.watcher is None:
            return True
        try:
            return await self._rails.watcher.cancel(co.sale_id)
        except LightningError as err:
            log.warning("invoice not deleted sale_id=%s: %s", co.sale_id, err)
            return True

    async def _expire(self, co: Checkout, verdict: Verdict, seen: list[Seen]) -> None:
        if not await self._invoice_withdrawn(co):
            return
        state = verdict.state.value
        body: dict[str, Any] = {"sale_id": co.sale_id, "state": state}
        if co.address is not None:
            body.update(rail=self.asset.method, **self._details(verdict, seen))
        record = await checkouts.move(
            self.conn,
            self.identity,
            co.sale_id,
            state,
            body,
            late_until=self._late_until(co),
            received_sats=verdict.received_sats,
        )
        if record is None:
            return
        if co.address is not None and not verdict.received_sats:
            await addresses.release(self.conn, co.sale_id)
        self._tell(
            Status(co.sale_id, state, self._words(state, refund=verdict.refund_sats), record=record)
        )

    async def _check_late(self, co: Checkout) -> None:
        """A closed checkout's address: money beyond what is accounted for (counted in its sale
        or already marked for refund: ``received_sats``) is late. Unless the address has been
        offered to a newer sale since, which then owns it."""
        assert co.address is not None
        owners = await addresses.sales_for_address(self.conn, co.address)
        if owners and owners[-1] != co.sale_id:
            await checkouts.stop_late_watch(self.conn, co.sale_id)
            return
        seen = await self._seen(co)
        received = sum(s.sats for s in seen)
        if received > co.received_sats:
            unit = self.asset.unit
            details = {
                "rail": self.asset.method,
                f"received_{unit}": received,
                f"refund_{unit}": received - co.received_sats,
                "txids": sorted(s.txid for s in seen),
            }
            await self._late(co, details, received_sats=received)

    def _late_until(self, co: Checkout) -> float | None:
        if co.address is None or not self.onchain.late_watch_h:
            return None
        return self.clock() + self.onchain.late_watch_h * HOUR_S

    def _details(self, verdict: Verdict, seen: list[Seen]) -> dict[str, Any]:
        return _onchain_details(verdict, seen, self.asset.unit)

    def _words(self, state: str, *, refund: int = 0, refund_msat: int = 0) -> str:
        return _words(state, refund=refund, refund_msat=refund_msat, fmt=self.asset.format)


def _unaccounted(rail: str, details: dict[str, Any], unit: str = "sats") -> dict[str, Any]:
    """The ``late`` details of a part's payment that no open split sale could take: all of it
    is owed back."""
    if rail == "lightning":
        received = details["received_msat"]
        return {
            "rail": rail,
            "received_msat": received,
            "refund_msat": received,
            "payment_hash": details["payment_hash"],
        }
    received = details[f"received_{unit}"]
    return {
        "rail": rail,
        f"received_{unit}": received,
        f"refund_{unit}": received,
        "txids": details["txids"],
    }


def _onchain_details(verdict: Verdict, seen: list[Seen], unit: str = "sats") -> dict[str, Any]:
    return {
        f"received_{unit}": verdict.received_sats,
        f"refund_{unit}": verdict.refund_sats,
        "confirmations": verdict.confirmations,
        "needed_confirmations": verdict.needed_confirmations,
        "txids": sorted(s.txid for s in seen),
    }


def _utc(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _words(
    state: str, *, refund: int = 0, refund_msat: int = 0, fmt: Callable[[int], str] = format_sats
) -> str:
    if state == "paid":
        return "Paid"
    if state == "overpaid":
        extra = fmt(refund) if refund else f"{refund_msat:,} msat"
        return f"Paid, {extra} too much: recorded for refund"
    if state == "expired":
        return "Time is up: nothing was paid. Take another payment."
    if state == "expired_underpaid":
        return f"Time is up with only part paid: sale cancelled, {fmt(refund)} marked for refund."
    if state == "cancelled":
        return "Cancelled" + (f": {fmt(refund)} received, marked for refund" if refund else "")
    return state


def _late_words(co: Checkout, details: dict[str, Any], asset: ChainAsset = BITCOIN) -> str:
    received = f"received_{asset.unit}"
    amount = (
        asset.format(details[received])
        if received in details
        else f"{details.get('received_msat', 0):,} msat"
    )
    return (
        f"Late payment of {amount} for the {co.state} sale {co.sale_id[:8]}: "
        "flagged for the manager (refund or accept)"
    )
