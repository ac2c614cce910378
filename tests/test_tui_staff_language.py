"""A staff member's own screen language (docs/TRANSLATING.md): the kiosk switches to it at their
login and back to the shop's at the lock, while the receipt of their sale stays in the shop's
language; a shop language central sets reaches the screens at the next login."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_print_queue import apply_central_settings
from test_tui_language import label
from textual.pilot import Pilot
from textual.widgets import Button, Static
from tui_helpers import kiosk, send_keys, text, till_with_printer

from appliance.services.staff import CLI
from appliance.tui.app import KioskApp
from appliance.tui.scan import StepClock
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.sell import SellScreen
from appliance.tui.widgets.cart_view import CartLineRow, CartView
from bitagora_devtools.script import tap, tap_product, wait_until


def cart_rows(sell: SellScreen) -> list[CartLineRow]:
    return sell.query_one(CartView).rows


async def unlock(pilot: Pilot[None], app: KioskApp, pin: str, language: str) -> None:
    """``pin`` typed on the lock screen; back once the sell screen speaks ``language``."""
    send_keys(pilot, [*pin, "enter"])
    await wait_until(
        pilot,
        lambda: app.screen is app.sell and app.sell_speaks[0] == language,
        f"the sell screen in {language}",
    )


async def test_a_spanish_cashier_sells_in_spanish_on_an_english_shop(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        await till.staff.add("Sofía", "cashier", "5678", CLI, staff_id="sofia", language="es")
        async with kiosk(till, StepClock(), pin=None) as (app, pilot):
            assert isinstance(app.screen, LockScreen)
            assert text(app.screen, "#lock-prompt") == "Enter your PIN"
            await unlock(pilot, app, "5678", "es")
            sell = app.sell
            assert label(sell, "#pay") == "Cobrar efectivo" and label(sell, "#lock") == "Bloquear"
            assert text(sell, "#staff-name").startswith("Sofía · ")
            products = {p.sku: p for p in await till.sales.products()}
            await tap_product(pilot, sell, products["espresso"])
            await tap(pilot, "#pay")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
                "pay",
            )
            assert label(app.screen, "#confirm") == "Confirmar"
            await tap(pilot, "#tender-0")  # exact: €1.80, as the shop writes it
            await tap(pilot, "#confirm")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
                "the sale",
            )
            assert text(app.screen, "#done-title") == "Venta completada"
            [receipt] = await sim.wait_receipts(1)
            await tap(pilot, "#next-customer")
            await wait_until(pilot, lambda: app.screen is sell, "the sell screen again")

            await tap(pilot, "#lock")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                "the lock",
            )
            assert text(app.screen, "#lock-prompt") == "Enter your PIN"
            # The demo cashier has no language of their own: the shop's, English.
            await unlock(pilot, app, "1234", "en")
            assert label(sell, "#pay") == "Pay cash" and label(sell, "#lock") == "Lock"
    words = [" ".join(line.split()) for line in receipt.splitlines()]
    assert any(line.startswith("Cash") and line.endswith("€1.80") for line in words), receipt
    assert "Efectivo" not in receipt and "Sofía" in receipt


async def test_a_shop_language_set_on_central_reaches_the_screens_at_the_next_login(
    tmp_path: Path,
) -> None:
    """Central's ``settings.language`` (docs/PROTOCOL.md 2.6) is the shop's from the next
    login: the sell screen, composed again around the sale in progress, then the lock screen;
    amounts as a Portuguese shop writes them."""
    async with till_with_printer(tmp_path) as (till, _sim):
        async with kiosk(till, StepClock()) as (app, pilot):
            sell = app.sell
            products = {p.sku: p for p in await till.sales.products()}
            await tap_product(pilot, sell, products["espresso"])
            assert label(sell, "#pay") == "Pay cash" and text(sell, "#subtotal") == "€1.64"
            receipt = {"header_lines": [], "footer_lines": []}
            await apply_central_settings(
                till,
                Ed25519PrivateKey.generate(),
                1,
                receipt=receipt,
                payment_methods=["cash"],
                language="pt_PT",
            )
            await tap(pilot, "#lock")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                "the lock",
            )
            await unlock(pilot, app, "1234", "pt_PT")
            assert label(sell, "#pay") == "Cobrar numerário"
            # The sale in progress is on the screen composed again, ready to pay.
            assert [line.product.sku for line in sell.cart.lines] == ["espresso"]
            assert [str(row.query_one(".name", Static).render()) for row in cart_rows(sell)] == [
                "Espresso"
            ]
            assert text(sell, "#subtotal") == "1,64\xa0€"
            assert not sell.query_one("#pay", Button).disabled
            await tap(pilot, "#lock")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                "the lock",
            )
            assert text(app.screen, "#lock-prompt") == "Introduza o seu PIN"
