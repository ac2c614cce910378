"""Bitcoin payment: one QR for on-chain and Lightning, the amount in fiat and BTC, a countdown,
and every change of the payment as it happens; a Bolt Card tap pays it too. The same screen
takes USDT on TRON when given the USDT payments (``payments.method == "usdt_tron"``): the QR is
the plain ``T…`` address, the amount in USDT beside the fiat total, the address in words.

The offer is made by ``BitcoinPayments.offer`` in a worker as the screen opens (rate lock,
address, invoice); the service then tells this screen each status (``watch``; the app hands
them on from the event bus, ``payment_changed``), and the screen only shows them. Dismissed
with the ``SaleResult`` once the sale is recorded, or None when it ended without a sale
(cancelled, expired, no rate): the cart is then still there for another payment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.core.cart import Cart
from appliance.core.split import SplitSale
from appliance.i18n import _, money
from appliance.services.bitcoin import (
    BitcoinPayments,
    LnurlError,
    Offer,
    PaymentUnavailable,
    Status,
)
from appliance.services.till import SaleResult, Staff
from appliance.tui.widgets.basics import countdown_text, digits_text
from appliance.tui.widgets.qr import QrCode, qr_payload
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)


def qr_payloads(offer: Offer) -> tuple[str, tuple[str, ...]]:
    """The offer's code and its fallbacks: a unified code is too big for a small panel, where
    the Lightning invoice alone shows."""
    both = offer.address is not None and offer.bolt11 is not None
    fallbacks = (qr_payload(f"lightning:{offer.bolt11}"),) if both else ()
    return qr_payload(offer.uri), fallbacks


def grouped(address: str) -> str:
    """An address in groups of four characters, as wallets show one to read out or type: it
    wraps between groups, never mid-group."""
    return " ".join(address[i : i + 4] for i in range(0, len(address), 4))


class PayBitcoinScreen(ModalScreen[SaleResult | SplitSale | None]):
    CSS_PATH = "pay_bitcoin.tcss"
    AUTO_FOCUS = None

    message: reactive[str] = reactive("", init=False)
    offer: reactive[Offer | None] = reactive(None, init=False)
    closed: reactive[bool] = reactive(False, init=False)  # ended without a sale

    class Changed(Message):
        """The payment service has news about this sale's payment."""

        def __init__(self, status: Status) -> None:
            super().__init__()
            self.status = status

    def __init__(
        self,
        payments: BitcoinPayments,
        cart: Cart | None,
        staff: Staff,
        *,
        cards: bool = False,
        part: tuple[str, Money] | None = None,
    ) -> None:
        """``cards``: the till has an NFC reader, so a Bolt Card tap is offered. ``part``:
        (split sale id, amount) to pay one part of a split sale instead of the whole of
        ``cart``; dismissed then with the split sale as it stands, or the SaleResult when this
        part covered the rest."""
        super().__init__()
        self.payments = payments
        self.cards = cards
        self.cart = cart
        self.staff = staff
        self.part = part
        if part is not None:
            self.total = part[1]
        else:
            assert cart is not None
            self.total = cart.totals().total
        self._unwatch: Callable[[], None] = lambda: None
        self._finished = False
        self.usdt = payments.method == "usdt_tron"

    def compose(self) -> ComposeResult:
        with Horizontal(id="btc-dialog"):
            yield QrCode(id="btc-qr", error_correction="L")
            with Vertical(id="btc-side"):
                title = (
                    _("USDT (TRON) payment · served by {name}")
                    if self.usdt
                    else _("Bitcoin payment · served by {name}")
                )
                yield Static(
                    title.format(name=self.staff.name),
                    id="btc-title",
                    markup=False,
                )
                yield Static(_("TOTAL"), classes="amount-label")
                yield Digits(digits_text(money(self.total)), id="btc-total")
                yield Static("", id="btc-amount", markup=False)
                yield Static("", id="btc-rails", markup=False)
                yield Static("", id="btc-address", markup=False)
                yield Static("", id="btc-countdown", markup=False)
                yield Static("", id="btc-message", markup=False)
                yield TapButton("Cancel", "error", id="btc-cancel")

    def on_mount(self) -> None:
        self.query_one("#btc-qr").display = False
        self.message = _("Asking for the exchange rate…")
        self._make_offer()
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._unwatch()

    # -- the offer ---------------------------------------------------------------------------

    @work(exclusive=True, group="offer", exit_on_error=False)
    async def _make_offer(self) -> None:
        try:
            if self.part is not None:
                offer = await self.payments.offer_part(
                    *self.part, self.staff, drawing=self._draw_ahead
                )
            else:
                assert self.cart is not None
                offer = await self.payments.offer(self.cart, self.staff, drawing=self._draw_ahead)
        except PaymentUnavailable as err:
            self._close(str(err))
            return
        except Exception as err:
            log.exception("on-chain offer failed")
            words = _("USDT payment not possible: {error}") if self.usdt else None
            self._close((words or _("Bitcoin payment not possible: {error}")).format(error=err))
            return
        # From now on the app hands this sale's statuses here (tui/bridge.py, ``Changed``).
        self._unwatch = self.payments.watch(offer.sale_id)
        self.offer = offer

    async def _draw_ahead(self, offer: Offer) -> None:
        """The QR codes, drawn in a thread while the disk commits the offer (qrcode is pure
        Python: tens of ms that would otherwise come after the commit, on the event loop)."""
        payload, fallbacks = qr_payloads(offer)
        await asyncio.to_thread(self.query_one("#btc-qr", QrCode).prepare, (payload, *fallbacks))

    def payment_changed(self, status: Status) -> None:
        """A status from the bus (the app hands every watched sale's on): this screen's?"""
        if self.offer is not None and self.offer.sale_id == status.sale_id:
            self.post_message(self.Changed(status))

    def watch_offer(self, offer: Offer | None) -> None:
        if offer is None:
            return
        qr = self.query_one("#btc-qr", QrCode)
        payload, qr.fallbacks = qr_payloads(offer)
        qr.payload = payload
        qr.display = True
        self.query_one("#btc-amount", Static).update(offer.btc_text)
        self._show_rails(offer)
        scan = _("Scan with a TRON wallet: USDT (TRC-20) only") if self.usdt else None
        self.message = "\n".join((scan or _("Scan with a bitcoin wallet"), *offer.notes))
        self._tick()

    def _show_rails(self, offer: Offer) -> None:
        if self.usdt:  # one rail; the address beside the code, to check or type
            self.query_one("#btc-rails", Static).update(_("USDT (TRON)"))
            address = self.query_one("#btc-address", Static)
            address.update(grouped(offer.address or ""))
            address.display = True
            return
        qr = self.query_one("#btc-qr", QrCode)
        rails = [
            name
            for name, on in ((_("On-chain"), offer.address), ("Lightning", offer.bolt11))
            if on is not None
        ]
        lightning_only = qr.shown is not None and qr.shown != qr.payload
        if lightning_only:
            rails = ["Lightning"]  # the invoice alone: the unified code does not fit here
        tap = " · " + _("or tap a Bolt Card") if offer.bolt11 and self.cards else ""
        self.query_one("#btc-rails", Static).update(" + ".join(rails) + tap)
        # The address the code left out, in words, for a wallet without Lightning. Beside the
        # code rather than under it: on the short panel the code takes every row.
        address = self.query_one("#btc-address", Static)
        address.display = lightning_only and offer.address is not None
        on_chain = _("On-chain: {address}")
        address.update(on_chain.format(address=grouped(offer.address)) if offer.address else "")

    @on(QrCode.Shown)
    def _qr_shown(self) -> None:
        if self.offer is not None:
            self._show_rails(self.offer)

    def _tick(self) -> None:
        offer = self.offer
        if offer is None or self.closed:
            return
        left = offer.expires_at - self.payments.clock()
        self.query_one("#btc-countdown", Static).update(countdown_text(left))
        if left <= 0:
            self.payments.wake()  # the service expires it (its clock, its records)

    def watch_message(self, message: str) -> None:
        self.query_one("#btc-message", Static).update(message)

    def watch_closed(self, closed: bool) -> None:
        if closed:
            self.query_one("#btc-qr").display = False
            self.query_one("#btc-countdown", Static).update("")
            cancel = self.query_one("#btc-cancel", TapButton)
            cancel.label = _("Back to the sale")
            cancel.disabled = False

    def _close(self, message: str) -> None:
        self.message = message
        self.closed = True

    @on(Changed)
    def _changed(self, event: Changed) -> None:
        status = event.status
        if status.result is not None:
            self._finish(status.result)
            return
        self.message = status.message
        if status.uri is not None:  # a top-up: on-chain only, a short code
            qr = self.query_one("#btc-qr", QrCode)
            qr.fallbacks = ()
            qr.payload = qr_payload(status.uri)
        if status.final and status.state not in ("paid", "overpaid"):
            self._close(status.message)

    def _finish(self, result: SaleResult | SplitSale | None) -> None:
        if not self._finished:
            self._finished = True
            self.dismiss(result)

    # -- Bolt Card ---------------------------------------------------------------------------

    def card_tapped(self, link: str | None) -> None:
        """A card on the NFC reader (the app hands every tap here while this screen shows)."""
        offer = self.offer
        if offer is None or self.closed:
            return
        if link is None:
            self.message = _("That card has no payment link: not a Bolt Card")
            return
        self.message = _("Card read: asking the card's service to pay…")
        self._tap(offer.sale_id, link)

    @work(exclusive=True, group="card", exit_on_error=False)
    async def _tap(self, sale_id: str, link: str) -> None:
        try:
            await self.payments.tap_card(sale_id, link)
        except (LnurlError, PaymentUnavailable) as err:
            if not self.closed:  # the payment ended meanwhile (time up): its words stay
                self.message = _("Card not paid: {error}").format(error=err)

    # -- leaving -----------------------------------------------------------------------------

    @on(Button.Pressed, "#btc-cancel")
    def cancel(self) -> None:
        if self.closed or self.offer is None:
            if self.closed:
                self._finish(None)
            return
        self.query_one("#btc-cancel", TapButton).disabled = True
        self.message = _("Cancelling…")
        self._cancel(self.offer.sale_id)

    @work(exclusive=True, group="cancel", exit_on_error=False)
    async def _cancel(self, sale_id: str) -> None:
        try:
            status = await self.payments.cancel(sale_id)
        except Exception as err:
            log.exception("bitcoin cancel failed")
            self.message = _("Could not cancel: {error}").format(error=err)
            self.query_one("#btc-cancel", TapButton).disabled = False
            return
        if status.state in ("paid", "overpaid"):
            return  # paid as staff cancelled: the paid status (with the sale) ends the screen
        self._finish(None)

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.cancel()
        elif event.is_printable or event.key == "enter":
            event.stop()  # a scanner's burst must not reach the sale behind this screen
