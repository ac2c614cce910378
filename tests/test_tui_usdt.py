"""Paying in USDT on TRON through the kiosk app, against the TronGrid and rates simulators over
HTTP: the plain address as the QR, the amount in USDT and in fiat, settlement once solidified,
the sale journalled with its USDT payment and printed; part paid then expired takes no money; a
split cash + USDT sale; a refund of USDT money is a pending payout."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import STAFF, cart_of, records
from layout_helpers import CART, PANELS, cut_labels, hidden, layout_faults
from test_wallet_tron import FIRST_ADDRESS
from textual.widgets import Static
from tui_helpers import kiosk, text
from usdt_helpers import CUSTOMER, ESPRESSO_UNITS, usdt_shop

from appliance.core.refund import RefundError
from appliance.services.refunds import Approval, payouts
from appliance.tui.app import KioskApp
from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.widgets.qr import QrCode
from bitagora_devtools.script import tap, tap_product, wait_until
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(90)


async def open_usdt_payment(pilot, app: KioskApp, sku: str = "espresso") -> PayBitcoinScreen:  # noqa: ANN001
    sell = app.sell
    await tap_product(
        pilot, sell, next(p for p in await sell.till.sales.products() if p.sku == sku)
    )
    await tap(pilot, "#pay-usdt")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, PayBitcoinScreen) and app.screen.is_mounted,
        "the USDT screen",
    )
    screen = app.screen
    assert isinstance(screen, PayBitcoinScreen)
    await wait_until(pilot, lambda: screen.offer is not None, "the offer")
    return screen


async def test_usdt_sale_by_taps_shows_the_address_and_ends_paid(tmp_path: Path) -> None:
    async with usdt_shop(tmp_path) as s, kiosk(s.shop.till) as (app, pilot):
        assert app.sell.query_one("#pay-usdt").display
        screen = await open_usdt_payment(pilot, app)
        offer = screen.offer
        assert offer is not None and offer.address == FIRST_ADDRESS
        qr = screen.query_one(QrCode)
        assert qr.display and qr.fits and qr.payload == FIRST_ADDRESS  # the plain T… address
        assert text(screen, "#btc-amount") == "1.953761 USDT"
        assert text(screen, "#btc-rails") == "USDT (TRON)"
        assert text(screen, "#btc-address").replace(" ", "") == FIRST_ADDRESS
        assert text(screen, "#btc-countdown").startswith("Pay within 1")  # 900 s by default
        assert "TRON wallet" in screen.message
        assert str(screen.query_one("#btc-title", Static).render()).startswith("USDT (TRON)")

        txid = s.grid.pay(FIRST_ADDRESS, ESPRESSO_UNITS)
        s.usdt.wake()  # seen, not solidified: not paid yet
        await wait_until(pilot, lambda: "confirmation" in screen.message, "the transfer seen")
        assert isinstance(app.screen, PayBitcoinScreen)
        s.grid.solidify()
        s.usdt.wake()
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the done view",
        )
        summary = str(app.screen.query_one("#done-summary", Static).render())
        assert "USDT (TRON) 1.953761 USDT" in summary

        (sale,) = await records(s.shop, "sale")
        (payment,) = sale.body["payments"]
        assert payment["method"] == "usdt_tron" and payment["amount"] == 180
        assert payment["address"] == FIRST_ADDRESS and payment["txids"] == [txid]
        assert payment["units"] == payment["received_units"] == ESPRESSO_UNITS
        assert payment["refund_units"] == 0
        assert payment["rate"]["rate"] == "0.9213" and payment["rate"]["currency"] == "EUR"
        offered = [r for r in await records(s.shop, "payment") if r.body["state"] == "offered"]
        assert offered[0].body["method"] == "usdt_tron"
        assert offered[0].body["onchain"]["units"] == ESPRESSO_UNITS

        receipt = (await s.shop.printer.wait_receipts(1))[0]
        assert "USDT (TRON)" in receipt and "€1.80" in receipt


async def test_underpaid_then_expired_takes_no_money(tmp_path: Path) -> None:
    async with usdt_shop(tmp_path) as s, kiosk(s.shop.till) as (app, pilot):
        screen = await open_usdt_payment(pilot, app)
        offer = screen.offer
        assert offer is not None and offer.address is not None
        s.grid.pay(offer.address, 1_000_000, solid=True)
        s.usdt.wake()
        await wait_until(pilot, lambda: "still due" in screen.message, "the part paid")
        assert "Received 1.00 USDT of 1.953761 USDT: 0.953761 USDT still due" in screen.message
        assert screen.query_one(QrCode).payload == offer.address  # the same address again

        s.shop.clock.now = offer.expires_at + 1
        screen._tick()  # the countdown reaching zero wakes the service
        await wait_until(pilot, lambda: screen.closed, "the expiry")
        assert "Time is up with only part paid" in screen.message
        assert "1.00 USDT marked for refund" in screen.message
        await tap(pilot, "#btc-cancel")  # "Back to the sale"
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        assert not app.sell.cart.is_empty
        assert await records(s.shop, "sale") == []
        states = [r.body["state"] for r in await records(s.shop, "payment")]
        assert states == ["offered", "underpaid", "expired_underpaid"]


async def test_split_cash_and_usdt(tmp_path: Path) -> None:
    async with usdt_shop(tmp_path) as s:
        till = s.shop.till
        split = await till.split.begin(await cart_of(s.shop, "mug", 1), STAFF)  # 12.00
        await till.split.pay_cash(split.sale_id, STAFF, Money(1000, "EUR"))
        offer = await s.usdt.offer_part(split.sale_id, Money(200, "EUR"), STAFF)
        assert offer.address is not None and offer.sats is not None
        s.grid.pay(offer.address, offer.sats, solid=True)
        await s.usdt.check()  # one look at TronGrid: solidified, the part paid, the sale done
        (sale,) = await records(s.shop, "sale")
        methods = [(p["method"], p["amount"]) for p in sale.body["payments"]]
        assert methods == [("cash", 1000), ("usdt_tron", 200)]
        usdt = sale.body["payments"][1]
        assert usdt["address"] == offer.address and usdt["received_units"] == offer.sats


async def test_usdt_refund_is_a_pending_payout(tmp_path: Path) -> None:
    async with usdt_shop(tmp_path) as s:
        till = s.shop.till
        offer = await s.usdt.offer(await cart_of(s.shop), STAFF)
        assert offer.address is not None and offer.sats is not None
        s.grid.pay(offer.address, offer.sats, solid=True)
        await s.usdt.check()
        (sale,) = await records(s.shop, "sale")
        manager = Approval(pin="9999")
        with pytest.raises(RefundError, match="TRON address"):
            await till.refunds.refund(
                STAFF, manager, "changed mind", original_seq=sale.seq, destination="bc1qnot-tron"
            )
        result = await till.refunds.refund(
            STAFF, manager, "changed mind", original_seq=sale.seq, destination=CUSTOMER
        )
        (entry,) = result.record.body["payments"]
        assert entry["method"] == "usdt_tron" and entry["amount"] == 180
        assert entry["payout"] == {
            "kind": "tron_address",
            "destination": CUSTOMER,
            "status": "pending",
        }
        pending = await payouts(till.conn, pending_only=True)
        assert [(p["method"], p["amount"]) for p in pending] == [("usdt_tron", 180)]


@pytest.mark.parametrize("language", ["en", "es"])
async def test_usdt_fits_the_smallest_panel(tmp_path: Path, language: str) -> None:
    """At 800x480, with every pay button the till can show (cash, bitcoin, USDT, split), each
    is a finger's size and shows its whole label; the USDT pay screen shows what a sale needs."""
    env = {"BITAGORA_DEVICE_LANGUAGE": language}
    async with usdt_shop(tmp_path, env) as s:
        async with kiosk(s.shop.till, size=PANELS["800x480"]) as (app, pilot):
            products = {p.sku: p for p in await app.till.sales.products()}
            for sku in CART:
                await tap_product(pilot, app.sell, products[sku])
            assert layout_faults(app.sell) == [] and cut_labels(app.sell) == []
            assert hidden(app.sell, "#pay", "#pay-bitcoin", "#pay-usdt", "#pay-split") == []
            await tap(pilot, "#pay-usdt")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, PayBitcoinScreen) and app.screen.is_mounted,
                "USDT",
            )
            screen = app.screen
            assert isinstance(screen, PayBitcoinScreen)
            await wait_until(pilot, lambda: screen.offer is not None, "the offer")
            assert layout_faults(screen) == [] and cut_labels(screen) == []
            needed = ("#btc-qr", "#btc-total", "#btc-amount", "#btc-countdown", "#btc-cancel")
            assert hidden(screen, *needed, "#btc-address") == []


async def test_a_usdt_payment_made_while_the_till_was_off_completes_its_sale(
    tmp_path: Path,
) -> None:
    async with usdt_shop(tmp_path) as s:
        offer = await s.usdt.offer(await cart_of(s.shop), STAFF)
        assert offer.address is not None and offer.sats is not None
        await s.shop.close_till()  # switched off with the QR on screen
        s.grid.pay(offer.address, offer.sats, solid=True)  # paid and solidified while off
        await s.shop.open_till(listen=False)  # the kiosk app hears what the till finds
        async with kiosk(s.shop.till, pin=None) as (app, pilot):
            await wait_until(pilot, lambda: "arrived" in app.sell.notice, "the notice")
            (sale,) = await records(s.shop, "sale")
            assert sale.body["sale_id"] == offer.sale_id
            assert sale.body["payments"][0]["method"] == "usdt_tron"
            assert app.sell.notice == (
                f"USDT payment for sale {offer.sale_id[:8]} arrived: Paid, "
                f"sale recorded (journal #{sale.seq})"
            )
