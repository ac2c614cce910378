"""The kiosk in the shop's language: a cash sale by taps in Spanish, with the keypad's decimal
key, the amounts and the receipt as a Spanish shop writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.screen import Screen
from textual.widgets import Button
from tui_helpers import digits, kiosk, text, till_with_printer

from appliance.tui.scan import StepClock
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from bitagora_devtools.script import tap, tap_product, wait_until


def label(screen: Screen[Any], selector: str) -> str:
    return str(screen.query_one(selector, Button).label)


async def test_a_cash_sale_in_spanish(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path, {"BITAGORA_DEVICE_LANGUAGE": "es"}) as (till, sim):
        async with kiosk(till, StepClock()) as (app, pilot):
            sell = app.sell
            assert label(sell, "#pay") == "Cobrar efectivo" and label(sell, "#lock") == "Bloquear"
            products = {p.sku: p for p in await till.sales.products()}
            await tap_product(pilot, sell, products["sandwich"])  # €6.50
            await tap(pilot, "#pay")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
                "pay",
            )
            pay = app.screen
            assert label(pay, "#key-dot") == ","  # the keypad types as Spain writes
            assert label(pay, "#tender-0") == "Justo 6,50\u00a0€"
            for key in ("1", "0", "dot", "5"):
                await tap(pilot, f"#key-{key}")
            assert digits(app, "#pay-tendered") == "10,50 €"
            assert text(pay, "#change-label") == "CAMBIO" and digits(app, "#pay-change") == "4,00 €"
            await tap(pilot, "#confirm")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
                "the sale",
            )
            done = app.screen
            assert text(done, "#done-change-label") == "CAMBIO A DEVOLVER"
            assert "Efectivo 10,50\u00a0€" in text(done, "#done-summary")
            [receipt] = await sim.wait_receipts(1)
    words = [" ".join(line.split()) for line in receipt.splitlines()]
    assert any(line.startswith("Efectivo") and line.endswith("10,50 €") for line in words)
    assert any(line.startswith("Cambio") and line.endswith("4,00 €") for line in words)
