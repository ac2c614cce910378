"""Paying in bitcoin through the kiosk app: the QR on screen, settlement by the Lightning and
Esplora simulators, top-up, expiry and cancel, a payment made while the kiosk was off, each ending
on the screen staff expect."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import bitcoin_shop, records
from textual.widgets import Static
from tui_helpers import kiosk, open_bitcoin_payment, send_keys, text, till_with_printer
from uplink_helpers import wait_until as wait_for

from appliance.store import journal, print_queue
from appliance.store import lightning as ln_store
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.widgets.basics import countdown_text
from appliance.tui.widgets.qr import QrCode, qr_payload
from appliance.wallet.lightning import sale_label
from bitagora_devtools.script import tap, tap_product, wait_until

pytestmark = pytest.mark.timeout(60)


async def test_lightning_sale_by_taps_shows_the_qr_and_ends_paid(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop, kiosk(shop.till) as (app, pilot):
        screen = await open_bitcoin_payment(pilot, app)
        offer = screen.offer
        assert offer is not None
        qr = screen.query_one(QrCode)
        assert qr.display and qr.fits and qr.payload == qr_payload(offer.uri)
        assert qr.payload.startswith("BITCOIN:BC1Q") and "&lightning=LNBC" in qr.payload
        assert "0.00002940 BTC · 2,940 sats" in text(screen, "#btc-amount")
        assert text(screen, "#btc-rails") == "On-chain + Lightning"
        assert text(screen, "#btc-countdown").startswith("Pay within 1")  # 600 s by default

        await shop.lightning.pay(sale_label(offer.sale_id))
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the done view",
        )
        done = app.screen
        summary = str(done.query_one("#done-summary", Static).render())
        assert "Total €1.80 · Lightning 2,940 sats · Journal #2" in summary
        assert str(done.query_one("#done-change-label", Static).render()) == "PAID"
        assert app.sell.cart.is_empty
        receipt = (await shop.printer.wait_receipts(1))[0]
        assert "Lightning" in receipt and "€1.80" in receipt


async def test_onchain_underpaid_then_topped_up_shows_the_new_qr(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, lightning=False) as shop, kiosk(shop.till) as (app, pilot):
        screen = await open_bitcoin_payment(pilot, app)
        offer = screen.offer
        assert offer is not None and offer.address is not None
        assert text(screen, "#btc-rails") == "On-chain"
        shop.esplora.pay(offer.address, 2000)
        shop.payments.wake()
        await wait_until(pilot, lambda: "940 sats still due" in screen.message, "the top-up ask")
        qr = screen.query_one(QrCode)
        assert qr.payload == qr_payload(
            f"bitcoin:{offer.address}?amount=0.0000094&label=BitAgora%20Demo%20Shop"
        )
        shop.esplora.pay(offer.address, 940)
        shop.payments.wake()
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the done view",
        )


async def test_expiry_goes_back_to_the_same_cart(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop, kiosk(shop.till) as (app, pilot):
        screen = await open_bitcoin_payment(pilot, app)
        offer = screen.offer
        assert offer is not None
        shop.clock.now = offer.expires_at + 1
        screen._tick()  # the countdown reaching zero wakes the service
        await wait_until(pilot, lambda: screen.closed, "the expiry")
        assert "Time is up" in screen.message
        assert not screen.query_one(QrCode).display
        await tap(pilot, "#btc-cancel")  # now "Back to the sale"
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        assert not app.sell.cart.is_empty  # the customer can pay another way
        kinds = [r.kind for r in await journal.read_range(shop.till.conn, 1, 100)]
        assert kinds == ["payment", "payment"]


async def test_cancel_returns_to_the_cart_and_deletes_the_invoice(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop, kiosk(shop.till) as (app, pilot):
        screen = await open_bitcoin_payment(pilot, app)
        offer = screen.offer
        assert offer is not None
        await tap(pilot, "#btc-cancel")
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        assert sale_label(offer.sale_id) not in shop.lightning.invoices
        assert not app.sell.cart.is_empty


async def test_no_rate_says_so_and_offers_nothing(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop, kiosk(shop.till) as (app, pilot):
        shop.rates.answer(kraken=500, bitstamp=500, coinbase=500, coingecko=500)
        sell = app.sell
        await tap_product(
            pilot, sell, next(p for p in await sell.till.sales.products() if p.sku == "espresso")
        )
        await tap(pilot, "#pay-bitcoin")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, PayBitcoinScreen) and app.screen.is_mounted,
            "the screen",
        )
        screen = app.screen
        assert isinstance(screen, PayBitcoinScreen)
        await wait_until(pilot, lambda: screen.closed, "the refusal")
        assert "No exchange rate" in screen.message and screen.offer is None
        assert shop.lightning.invoices == {}


def test_countdown_words() -> None:
    assert countdown_text(599.7) == "Pay within 9:59"
    assert countdown_text(61) == "Pay within 1:01"
    assert countdown_text(0) == "Time is up"


async def test_pay_bitcoin_is_hidden_without_a_wallet_or_node(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _), kiosk(till) as (app, _pilot):
        assert till.bitcoin is None
        assert not app.sell.query_one("#pay-bitcoin").display


async def test_late_payment_after_expiry_is_told_on_the_sell_screen(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop, kiosk(shop.till) as (app, pilot):
        screen = await open_bitcoin_payment(pilot, app)
        offer = screen.offer
        assert offer is not None and offer.address is not None and offer.sats is not None
        shop.clock.now = offer.expires_at + 1
        shop.payments.wake()
        await wait_until(pilot, lambda: screen.closed, "the expiry")
        await tap(pilot, "#btc-cancel")
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        shop.esplora.pay(offer.address, offer.sats)
        shop.payments.wake()
        await wait_until(pilot, lambda: "Late payment" in app.sell.notice, "the late notice")
        assert "2,940 sats" in app.sell.notice and "flagged for the manager" in app.sell.notice
        assert app.sell.notice_is_error


async def test_large_onchain_payment_shows_the_confirmations_it_waits_for(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, lightning=False) as shop, kiosk(shop.till) as (app, pilot):
        sell = app.sell
        espresso = next(p for p in await sell.till.sales.products() if p.sku == "espresso")
        sell.cart.add(espresso, 350)  # 630 EUR: over 1,000,000 sats, 3 confirmations
        screen = await open_bitcoin_payment(pilot, app)
        offer = screen.offer
        assert offer is not None and offer.address is not None and offer.sats is not None
        shop.esplora.pay(offer.address, offer.sats)
        shop.payments.wake()
        await wait_until(pilot, lambda: "(0/3)" in screen.message, "the confirmations")
        shop.esplora.mine(3)
        shop.payments.wake()
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the done view",
        )


async def test_lightning_overpayment_shows_what_is_owed_back(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop, kiosk(shop.till) as (app, pilot):
        screen = await open_bitcoin_payment(pilot, app)
        offer = screen.offer
        assert offer is not None and offer.msat is not None
        assert text(screen, "#btc-rails") == "Lightning"
        await shop.lightning.pay(sale_label(offer.sale_id), offer.msat + 1_000_000)
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the done view",
        )
        summary = str(app.screen.query_one("#done-summary", Static).render())
        assert "Lightning 3,940 sats (1,000 sats to refund)" in summary


async def test_a_payment_made_while_the_kiosk_was_off_is_told_after_the_restart(
    tmp_path: Path,
) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        async with kiosk(shop.till) as (app, pilot):
            screen = await open_bitcoin_payment(pilot, app)
            offer = screen.offer
            assert offer is not None
        await shop.close_till()  # switched off with the QR on screen
        invoice = await shop.lightning.pay(sale_label(offer.sale_id))  # paid while off
        assert invoice.pay_index is not None

        await shop.open_till(listen=False)  # the kiosk app hears what the till finds at boot
        async with kiosk(shop.till, pin=None) as (app, pilot):
            # Found at boot while the till is still locked ...
            await wait_until(pilot, lambda: "arrived" in app.sell.notice, "the payment's notice")
            assert isinstance(app.screen, LockScreen)
            (sale,) = await records(shop, "sale")
            assert sale.body["sale_id"] == offer.sale_id
            notice = (
                f"Bitcoin payment for sale {offer.sale_id[:8]} arrived: Paid, "
                f"sale recorded (journal #{sale.seq})"
            )
            assert app.sell.notice == notice and not app.sell.notice_is_error
            # ... and still there for whoever unlocks: that is who needs to know.
            send_keys(pilot, [*"1234", "enter"])
            await wait_until(pilot, lambda: app.screen is app.sell, "the unlocked sell screen")
            assert app.sell.notice == notice
            assert str(app.sell.query_one("#notice", Static).render()) == notice

            (receipt,) = await shop.printer.wait_receipts(1)
            assert "Lightning" in receipt and "€1.80" in receipt

            # The watcher also takes the payment from the node's stream (the boot's catch-up
            # found it by label): that second report must record and print nothing more.
            async def cursor_moved() -> bool:
                return await ln_store.last_pay_index(shop.till.conn) >= invoice.pay_index

            await wait_for(cursor_moved, 10.0, "the settlement cursor")
            assert len(await records(shop, "sale")) == 1
            assert await print_queue.waiting_before(shop.till.conn, sale.seq + 1) == 0
            assert len(shop.printer.receipts()) == 1
            assert app.sell.notice == notice  # told once
