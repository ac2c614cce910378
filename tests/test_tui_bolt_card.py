"""Paying by Bolt Card at the kiosk: the real app, the real PN532 driver polling the simulator on
a pty, the card's ``lnurlw://`` link read from its NDEF record, a local LNURL-withdraw service
over HTTP that pays on the Lightning simulator, and the node's settlement ending the sale."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from bitcoin_helpers import BitcoinShop, bitcoin_shop, payment_states, records
from lnurl_helpers import CardService, P, card_link, paying_on
from textual.pilot import Pilot
from tui_helpers import kiosk, open_bitcoin_payment, text

from appliance.drivers.ndef import uri_record
from appliance.tui.app import KioskApp
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.widgets.qr import QrCode
from appliance.wallet.lightning import sale_label
from bitagora_devtools.script import tap, wait_until
from bitagora_devtools.seed import DEMO_BADGES
from bitagora_devtools.sim.nfc import Pn532Simulator, SimCard

pytestmark = pytest.mark.timeout(60)

BOLT_CARD_UID = "04A1B2C3D4E580"
NOT_A_BOLT_CARD = "That card has no payment link: not a Bolt Card"
ACCEPTED = "Card accepted: waiting for the payment…"


@dataclass
class Counter:
    """A shop's counter: the till with its NFC reader, the kiosk on it, and the card service."""

    shop: BitcoinShop
    reader: Pn532Simulator
    service: CardService
    link: str  # what a tapped card's URI record says: lnurlw://127.0.0.1:PORT/ln?p=…&c=…
    app: KioskApp
    pilot: Pilot[None]

    def tap_card(self) -> None:
        self.reader.place_card(SimCard.ntag215(BOLT_CARD_UID, [uri_record(self.link)]))

    async def paying(self) -> PayBitcoinScreen:
        """An espresso in the cart and the bitcoin pay screen open, offering a card tap."""
        screen = await open_bitcoin_payment(self.pilot, self.app)
        assert text(screen, "#btc-rails") == "On-chain + Lightning · or tap a Bolt Card"
        return screen

    async def told(self, screen: PayBitcoinScreen, words: str) -> None:
        await wait_until(self.pilot, lambda: words in screen.message, f"{words!r} on screen")


@asynccontextmanager
async def counter(tmp_path: Path) -> AsyncIterator[Counter]:
    async with Pn532Simulator(link=tmp_path / "ttyNFC") as reader:
        env = {
            "BITAGORA_NFC_KIND": "pn532",
            "BITAGORA_NFC_PORT": reader.path,
            "BITAGORA_NFC_TIMEOUT_S": "0.5",
        }
        async with bitcoin_shop(tmp_path, env=env) as shop:
            shop.payments.lnurl_allow_insecure = True  # the local service speaks plain http
            service = CardService(pay=paying_on(shop.lightning))
            async with card_link(service) as url, kiosk(shop.till) as (app, pilot):
                assert url.startswith("http://127.0.0.1:")
                link = "lnurlw://" + url.removeprefix("http://")  # as a Bolt Card is written
                yield Counter(shop, reader, service, link, app, pilot)


async def test_a_bolt_card_tap_pays_the_sale(tmp_path: Path) -> None:
    async with counter(tmp_path) as c:
        screen = await c.paying()
        offer = screen.offer
        assert offer is not None
        c.tap_card()
        await wait_until(c.pilot, lambda: isinstance(c.app.screen, SaleDoneScreen), "done view")

        summary = text(c.app.screen, "#done-summary")
        assert "Total €1.80 · Lightning 2,940 sats · Journal #2" in summary
        (tapped,) = c.service.taps
        assert tapped["p"] == P  # the card's own p and c reached its service
        (callback,) = c.service.callbacks
        assert callback["pr"] == offer.bolt11  # the sale's invoice, the one in the QR
        assert c.app.sell.cart.is_empty
        (receipt,) = await c.shop.printer.wait_receipts(1)
        assert "Lightning" in receipt and "€1.80" in receipt
        (sale,) = await records(c.shop, "sale")
        assert sale.body["sale_id"] == offer.sale_id


async def test_a_card_that_cannot_pay_that_much_leaves_the_qr_to_pay_by(tmp_path: Path) -> None:
    async with counter(tmp_path) as c:
        c.service.max_msat = 1_000_000  # 1,000 sats left on the card
        screen = await c.paying()
        offer = screen.offer
        assert offer is not None
        c.tap_card()
        await c.told(screen, "Card not paid")
        assert screen.message == (
            "Card not paid: This card can pay at most 1,000 sats now; the sale is 2,940 sats. "
            "Use another payment."
        )
        assert c.service.callbacks == []  # the invoice was never handed over
        assert c.app.screen is screen and not screen.closed
        assert screen.query_one(QrCode).display
        assert text(screen, "#btc-countdown").startswith("Pay within")

        await c.shop.lightning.pay(sale_label(offer.sale_id))  # the customer scans instead
        await wait_until(c.pilot, lambda: isinstance(c.app.screen, SaleDoneScreen), "done view")
        await c.shop.printer.wait_receipts(1)


async def test_the_card_service_refusing_shows_its_reason(tmp_path: Path) -> None:
    async with counter(tmp_path) as c:
        c.service.callback_answer = {"status": "ERROR", "reason": "Daily limit exceeded"}
        screen = await c.paying()
        offer = screen.offer
        assert offer is not None
        c.tap_card()
        await c.told(screen, "Card not paid")
        assert screen.message == (
            "Card not paid: The card's service refused the invoice: Daily limit exceeded"
        )
        assert c.app.screen is screen and screen.query_one(QrCode).display
        assert await payment_states(c.shop, offer.sale_id) == ["offered"]
        assert c.shop.lightning.invoices[sale_label(offer.sale_id)].status == "unpaid"


async def test_a_staff_badge_on_the_pay_screen_is_not_a_bolt_card(tmp_path: Path) -> None:
    async with counter(tmp_path) as c:
        screen = await c.paying()
        # Marco's badge: a plain NTAG without NDEF. On the lock screen it would switch staff.
        c.reader.place_card(SimCard.ntag215(dict(DEMO_BADGES)["marco"]))
        await c.told(screen, NOT_A_BOLT_CARD)
        assert c.app.screen is screen and screen.query_one(QrCode).display
        assert not any(isinstance(s, LockScreen) for s in c.app.screen_stack)
        assert c.app.sell.staff is not None and c.app.sell.staff.name == "Ana"
        assert c.service.taps == []

        # The customer's Bolt Card after it still pays, and the sale is Ana's.
        c.tap_card()
        await wait_until(c.pilot, lambda: isinstance(c.app.screen, SaleDoneScreen), "done view")
        (sale,) = await records(c.shop, "sale")
        assert sale.body["staff"]["name"] == "Ana"


async def test_a_card_accepted_but_never_paid_ends_at_expiry(tmp_path: Path) -> None:
    async with counter(tmp_path) as c:
        c.service.pay = None  # says OK to the invoice, then never pays it
        screen = await c.paying()
        offer = screen.offer
        assert offer is not None
        c.tap_card()
        await c.told(screen, ACCEPTED)
        (callback,) = c.service.callbacks
        assert callback["pr"] == offer.bolt11
        assert screen.query_one(QrCode).display and not screen.closed

        c.shop.clock.now = offer.expires_at + 1  # the countdown's next tick finds it over
        await wait_until(c.pilot, lambda: screen.closed, "the expiry")
        assert screen.message.startswith("Time is up")
        assert not screen.query_one(QrCode).display
        # The invoice is deleted: the card's service cannot pay it any more.
        assert sale_label(offer.sale_id) not in c.shop.lightning.invoices
        assert await payment_states(c.shop, offer.sale_id) == ["offered", "expired"]

        await tap(c.pilot, "#btc-cancel")  # "Back to the sale"
        await wait_until(c.pilot, lambda: c.app.screen is c.app.sell, "the sell screen")
        assert not c.app.sell.cart.is_empty  # another payment can be taken
        assert await records(c.shop, "sale") == []


async def test_a_card_answer_after_the_time_ran_out_leaves_time_is_up(tmp_path: Path) -> None:
    async with counter(tmp_path) as c:
        c.service.first = "hold"  # the card's service is slow to answer the tap
        screen = await c.paying()
        offer = screen.offer
        assert offer is not None
        c.tap_card()
        await c.told(screen, "Card read: asking the card's service to pay")
        (tapping,) = [w for w in c.app.workers if w.node is screen and w.group == "card"]
        await wait_until(c.pilot, lambda: len(c.service.taps) == 1, "the service asked")

        c.shop.clock.now = offer.expires_at + 1
        await wait_until(c.pilot, lambda: screen.closed, "the expiry")
        assert screen.message.startswith("Time is up")
        c.service.hold.set()  # its answer comes now (a refusal)
        await wait_until(c.pilot, lambda: tapping.is_finished, "the card's worker to end")
        assert tapping.error is None
        assert screen.message.startswith("Time is up")  # the words staff must act on stay
        assert c.service.callbacks == []
        assert await payment_states(c.shop, offer.sale_id) == ["offered", "expired"]
