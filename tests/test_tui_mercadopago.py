"""Paying with Mercado Pago at the kiosk, on the Point device and by QR: the whole sale by taps
through the real app, the real Till and the Mercado Pago simulator over HTTP (the customer is
played with Mercado Pago's test payer names), to the printer simulator and the journal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mercadopago_helpers import mercadopago_till
from tui_helpers import kiosk, open_terminal_payment, text

from appliance.services.till import Till
from appliance.tui.screens.pay_mercadopago import PayMercadoPagoScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.widgets.qr import QrCode
from bitagora_devtools.script import tap, wait_for_screen, wait_until
from bitagora_devtools.sim.mercadopago import MercadoPagoSim
from bitagora_devtools.sim.printer import PrinterSimulator

pytestmark = pytest.mark.timeout(60)

TOKEN = "APP_USR-" + "k10sk" * 8


@dataclass
class Rig:
    till: Till
    printer: PrinterSimulator
    sim: MercadoPagoSim


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with mercadopago_till(tmp_path, TOKEN, timeout_s="5") as (till, printer, sim):
        yield Rig(till, printer, sim)


async def open_payment(pilot, method: str) -> PayMercadoPagoScreen:  # noqa: ANN001
    """An espresso in the cart, the Mercado Pago button tapped: the screen once the order is."""
    return await open_terminal_payment(pilot, PayMercadoPagoScreen, method)


async def test_point_sale_by_taps(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        assert app.sell.query_one("#pay-card").display is False
        screen = await open_payment(pilot, "mercadopago_point")
        assert "Point device" in text(screen, "#mp-prompt")
        assert not screen.query_one("#mp-qr").display
        rig.sim.point("APRO")
        done = await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert done.result.method == "mercadopago_point"
        assert "Mercado Pago Point VISA •••• 3704" in text(done, "#done-summary")
        (order,) = rig.sim.processed()
        payment = done.result.record.body["payments"][0]
        reference = order["transactions"]["payments"][0]["reference_id"]
        assert payment["order_id"] == order["id"] and payment["payment_id"] == reference
        assert payment["auth_code"] == rig.sim.payments[reference]["authorization_code"]
        assert order["external_reference"] == done.result.sale_id
        assert set(payment) == {
            "method", "amount", "tendered", "change", "order_id", "payment_id", "brand",
            "last4", "auth_code",
        }  # fmt: skip
        receipt = (await rig.printer.wait_receipts(1))[0]
        assert "3704" in receipt and "450995" not in receipt


async def test_qr_sale_shows_the_code_and_a_countdown(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        screen = await open_payment(pilot, "mercadopago_qr")
        qr = screen.query_one("#mp-qr", QrCode)
        await wait_until(pilot, lambda: qr.shown == screen.attempt.qr_data, "the code drawn")  # type: ignore[union-attr]
        assert qr.display and "Pay within" in text(screen, "#mp-countdown")
        rig.sim.qr("APRO")
        done = await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        payment = done.result.record.body["payments"][0]
        assert payment["method"] == "mercadopago_qr" and "last4" not in payment


async def test_decline_in_words_then_cancel_back_to_the_cart(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        screen = await open_payment(pilot, "mercadopago_point")
        rig.sim.point("FUND")
        await wait_until(pilot, lambda: screen.ended, "the rejection")
        assert "insufficient funds" in text(screen, "#mp-message")
        await tap(pilot, "#mp-retry")
        await wait_until(
            pilot, lambda: screen.attempt is not None and screen.attempt.number == 2, "again"
        )
        await tap(pilot, "#mp-cancel")
        await wait_until(pilot, lambda: app.screen is app.sell, "back to the sale")
        assert not app.sell.cart.is_empty
        assert [o["status"] for o in rig.sim.orders.values()] == ["failed", "canceled"]
