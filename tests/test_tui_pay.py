"""Paying cash: a whole sale by taps through to the printer simulator and the store, the
tendered/Confirm rules, a printer that is down, and the sale-done view."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import cart_summary, digits, kiosk, scanner_burst, till_with_printer

from appliance.core.catalog import Product, TaxRate
from appliance.core.tender import quick_tenders
from appliance.services.till import Till
from appliance.store import catalog, journal, outbox, sales
from appliance.tui.scan import StepClock
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.sell import SellScreen
from bitagora_devtools.script import tap, tap_product, unlock, wait_until
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Till, PrinterSimulator]]:
    async with till_with_printer(tmp_path) as rig:
        yield rig


async def find(sell: SellScreen, sku: str):  # noqa: ANN201
    return next(p for p in await sell.till.sales.products() if p.sku == sku)


async def open_payment(pilot, app, skus: list[str]) -> PayCashScreen:  # noqa: ANN001
    for sku in skus:
        await tap_product(pilot, app.sell, await find(app.sell, sku))
    await tap(pilot, "#pay")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
        "the payment",
    )
    return app.screen


async def test_full_cash_sale_by_taps(rig: tuple[Till, PrinterSimulator]) -> None:
    till, sim = rig
    async with kiosk(till, StepClock(), pin=None) as (app, pilot):
        await unlock(pilot, "1234")  # on the on-screen keypad
        sell = app.sell
        await tap_product(pilot, sell, await find(sell, "croissant"))
        await tap_product(pilot, sell, await find(sell, "mug"))
        await tap(pilot, sell.query_one("CartView").rows[0])
        await tap(pilot, "#qty-plus")
        assert cart_summary(sell) == [(2, "croissant"), (1, "mug")]
        totals = sell.cart.totals()
        assert totals.total == Money(1620, "EUR")

        await tap(pilot, "#pay")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
            "the payment",
        )
        pay = app.screen
        assert digits(app, "#pay-total") == "€16.20"
        tenders = quick_tenders(totals.total)
        assert tenders[0] == totals.total and Money(2000, "EUR") in tenders
        await tap(pilot, f"#tender-{tenders.index(Money(2000, 'EUR'))}")
        assert digits(app, "#pay-change") == "€3.80"  # live, before Confirm
        await tap(pilot, "#confirm")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the sale",
        )

        done = app.screen
        assert isinstance(done, SaleDoneScreen) and pay is not done
        assert digits(app, "#done-change") == "€3.80"
        assert not done.query("#done-problems")
        assert done.result.change == Money(380, "EUR") and done.result.problems == ()
        assert sell.cart.is_empty  # the sell screen behind is ready for the next customer

        receipt = (await sim.wait_receipts(1))[0]
        assert "2 x Croissant @ €2.10" in receipt and "BitAgora mug" in receipt
        assert "TOTAL" in receipt and "€16.20" in receipt
        assert "A VAT 21% on €12.00:" in receipt and "B VAT 10% on €4.20:" in receipt
        assert "Change" in receipt and "€3.80" in receipt
        assert len(await sim.wait_drawer_kicks(1)) == 1

        assert await sales.sale_count(till.conn) == 1
        records = await journal.read_range(till.conn, 1, 10)
        assert [r.kind for r in records] == ["sale", "drawer_open"]
        assert records[0].body["sale_id"] == done.result.sale_id
        assert records[1].body["reason"] == "sale"
        assert records[1].body["sale_id"] == done.result.sale_id

        await tap(pilot, "#next-customer")
        await wait_until(pilot, lambda: app.screen is sell, "the sell screen")
        assert sell.cart.is_empty and sell.query_one("#pay").disabled


async def test_confirm_needs_enough_cash_and_cancel_keeps_the_cart(
    rig: tuple[Till, PrinterSimulator],
) -> None:
    till, _sim = rig
    async with kiosk(till, StepClock()) as (app, pilot):
        pay = await open_payment(pilot, app, ["cake", "juice"])  # €7.70
        confirm = pay.query_one("#confirm")
        assert confirm.disabled
        for key in ("key-5", "key-dot", "key-5"):
            await tap(pilot, f"#{key}")
        assert pay.entry == "5.5" and pay.tendered == Money(550, "EUR")
        assert confirm.disabled
        assert str(pay.query_one("#change-label", Static).content) == "STILL DUE"
        assert digits(app, "#pay-change") == "€2.20"
        await tap(pilot, "#key-back")
        await tap(pilot, "#key-back")
        await tap(pilot, "#key-0")  # "50"
        assert pay.tendered == Money(5000, "EUR") and not confirm.disabled
        assert digits(app, "#pay-change") == "€42.30"
        await tap(pilot, "#key-clear")
        await pilot.press("7", "full_stop", "7")  # typed on a keyboard: exactly the total
        assert pay.tendered == Money(770, "EUR") and not confirm.disabled

        await tap(pilot, "#cancel")
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        assert cart_summary(app.sell) == [(1, "cake"), (1, "juice")]
        assert await sales.sale_count(till.conn) == 0


async def test_scanner_burst_never_pays(rig: tuple[Till, PrinterSimulator]) -> None:
    till, _sim = rig
    async with kiosk(till, StepClock()) as (app, pilot):
        pay = await open_payment(pilot, app, ["espresso"])
        await tap(pilot, "#tender-1")
        before = pay.entry
        await scanner_burst(pilot, "4006381333931")
        assert app.screen is pay and pay.entry == before
        assert "barcode" in pay.message
        assert await sales.sale_count(till.conn) == 0


async def test_printer_down_still_commits_and_warns(rig: tuple[Till, PrinterSimulator]) -> None:
    till, sim = rig
    async with kiosk(till, StepClock()) as (app, pilot):
        pay = await open_payment(pilot, app, ["sandwich"])
        await sim.stop()
        await tap(pilot, "#tender-0")  # exact
        await pilot.press("enter")  # Confirm from the keyboard
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the sale",
        )
        done = app.screen
        assert isinstance(done, SaleDoneScreen) and done is not pay
        banner = str(done.query_one("#done-problems", Static).content)
        assert "Receipt not printed:" in banner and "Drawer did not open:" in banner
        assert digits(app, "#done-change") == "€0.00"
        assert await sales.sale_count(till.conn) == 1
        assert sim.receipts() == []


async def test_sale_done_view_closes_by_itself(rig: tuple[Till, PrinterSimulator]) -> None:
    till, _sim = rig
    async with kiosk(till, StepClock(), next_customer_after_s=0.05) as (app, pilot):
        await open_payment(pilot, app, ["water"])
        await tap(pilot, "#tender-0")
        await tap(pilot, "#confirm")
        await wait_until(pilot, lambda: app.screen is app.sell, "the timer", timeout=10)
        assert app.sell.cart.is_empty
        assert await sales.sale_count(till.conn) == 1


async def test_the_till_is_busy_from_the_first_item_to_the_sale_done(
    rig: tuple[Till, PrinterSimulator],
) -> None:
    """What the update installer reads (another process): the store's till_state."""
    till, _ = rig

    async def till_state() -> str | None:
        return await outbox.get_state(till.conn, outbox.TILL_STATE)

    async with kiosk(till, StepClock()) as (app, pilot):
        await app.workers.wait_for_complete()
        assert await till_state() == "idle"
        pay = await open_payment(pilot, app, ["croissant"])
        await app.workers.wait_for_complete()
        assert await till_state() == "busy"
        await tap(pilot, pay.query_one("#tender-0"))
        await tap(pilot, "#confirm")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the sale",
        )
        await app.workers.wait_for_complete()
        assert await till_state() == "idle"


async def test_cash_rounded_to_five_cents_by_taps(tmp_path: Path) -> None:
    """With ``cash_rounding = 5`` a sale of €1.02 asks €1.00 in cash; the record and the
    receipt say the rounding."""
    env = {"BITAGORA_DEVICE_CASH_ROUNDING": "5"}
    async with till_with_printer(tmp_path, env) as (till, sim):
        sweet = Product("sweet", "Sweet", Money(102, "EUR"), TaxRate("B", 1000), "Food")
        await catalog.save_products(till.conn, [sweet])
        async with kiosk(till, StepClock()) as (app, pilot):
            pay = await open_payment(pilot, app, ["sweet"])
            assert pay.due == Money(100, "EUR")
            assert digits(app, "#pay-total") == "€1.00"
            rounding = str(pay.query_one("#pay-rounding", Static).content)
            assert rounding == "Total €1.02, rounded for cash by -€0.02"
            await tap(pilot, "#tender-0")  # exact: €1.00
            await tap(pilot, "#confirm")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
                "the sale",
            )

        receipt = (await sim.wait_receipts(1))[0]
        assert "TOTAL" in receipt and "€1.02" in receipt
        assert any(
            line.startswith("Rounding") and line.endswith("-€0.02") for line in receipt.splitlines()
        )
        assert any(
            line.startswith("Cash") and line.endswith("€1.00") for line in receipt.splitlines()
        )
        sale = (await journal.read_range(till.conn, 1, 1))[0]
        assert sale.body["total"]["minor"] == 102 and sale.body["rounding"] == -2
        assert sale.body["payments"] == [
            {"method": "cash", "amount": 100, "tendered": 100, "change": 0, "rounding": -2}
        ]
