"""Training mode: practice sales marked TRAINING in the journal, on the receipt and on screen,
no drawer, no bitcoin, never in central's totals; switched by a manager and kept across a
restart because the journal says so."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import STAFF, bitcoin_shop, cart_of
from tui_helpers import kiosk, till_with_printer

from appliance import bootstrap
from appliance.config import load_settings
from appliance.core.roles import NotAuthorized
from appliance.payments.bitcoin import PaymentUnavailable
from appliance.services.till import Staff, Till
from appliance.store import journal
from bitagora_devtools.script import tap, wait_until
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money
from central.ingest import sale_total

pytestmark = pytest.mark.timeout(60)

MARCO = Staff("marco", "Marco", "manager")
ANA = Staff("ana", "Ana", "cashier")


async def espresso_cart(till: Till):  # noqa: ANN201
    cart = till.sales.new_cart()
    cart.add(next(p for p in await till.sales.products() if p.sku == "espresso"))
    return cart


async def test_a_training_sale_is_marked_everywhere_and_moves_no_money(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, printer):
        switched = await till.access.set_training(MARCO, True)
        assert switched is not None and switched.kind == "config"
        assert switched.body == {
            "setting": "training",
            "value": True,
            "staff": {"id": "marco", "name": "Marco"},
        }
        assert await till.access.set_training(MARCO, True) is None  # already on: nothing journalled

        result = await till.sales.pay_cash(await espresso_cart(till), ANA, Money(200, "EUR"))
        assert result.record.body["training"] is True
        receipt = (await printer.wait_receipts(1))[0]
        assert receipt.count("** TRAINING **") == 2 and "Not a sale: no money was taken" in receipt
        assert printer.drawer_kicks() == []  # the drawer stays shut
        assert sale_total(result.record) is None  # central counts it nowhere

        await till.access.set_training(MARCO, False)
        real = await till.sales.pay_cash(await espresso_cart(till), ANA, Money(200, "EUR"))
        assert "training" not in real.record.body
        assert sale_total(real.record) == ("EUR", 180)
        kinds = [r.kind for r in await journal.read_range(till.conn, 1, 100)]
        assert kinds == ["config", "sale", "config", "sale", "drawer_open"]


async def test_refunds_are_never_practised_and_a_practice_sale_has_none(tmp_path: Path) -> None:
    from appliance.services.refunds import Approval, RefundError

    async with till_with_printer(tmp_path) as (till, _printer):
        real = await till.sales.pay_cash(await espresso_cart(till), ANA, Money(200, "EUR"))
        await till.access.set_training(MARCO, True)
        practice = await till.sales.pay_cash(await espresso_cart(till), ANA, Money(200, "EUR"))
        service = till.refunds
        with pytest.raises(RefundError, match="training mode: a refund gives real money back"):
            await service.refund(ANA, Approval(pin="9999"), "x", original_seq=real.record.seq)
        await till.access.set_training(MARCO, False)
        with pytest.raises(RefundError, match="was a training sale: it took no money"):
            await service.refund(ANA, Approval(pin="9999"), "x", original_seq=practice.record.seq)
        kinds = [r.kind for r in await journal.read_range(till.conn, 1, 100)]
        assert "refund" not in kinds
        assert kinds.count("drawer_open") == 1  # the real sale's; no refund opened it


async def test_only_a_manager_or_technician_switches_it(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _printer):
        with pytest.raises(NotAuthorized, match="Ana is a cashier"):
            await till.access.set_training(ANA, True)
        assert not till.training
        assert await journal.read_range(till.conn, 1, 10) == []


async def test_the_mode_survives_a_restart(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, printer):
        await till.access.set_training(MARCO, True)
        settings = load_settings(
            tmp_path / "device", env={"BITAGORA_PRINTER_PORT": str(printer.port)}
        )
        again = await bootstrap.open_till(settings, print_worker=False)
        try:
            assert again.training
        finally:
            await again.close()


async def test_no_bitcoin_offer_in_training(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        await shop.till.access.set_training(MARCO, True)
        with pytest.raises(PaymentUnavailable, match="Training mode: take cash only"):
            await shop.payments.offer(await cart_of(shop), STAFF)
        records: list[Record] = await journal.read_range(shop.till.conn, 1, 10)
        assert [r.kind for r in records] == ["config"]
        assert shop.lightning.invoices == {}


async def test_the_kiosk_shows_it_and_a_cashier_cannot_switch_it(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _printer), kiosk(till) as (app, pilot):
        sell = app.sell
        assert not sell.has_class("-training")
        await tap(pilot, "#training")  # Ana, a cashier, is logged in
        await wait_until(pilot, lambda: "a manager or technician" in sell.notice, "the refusal")
        assert not till.training and not sell.has_class("-training")

        app.lock()
        await pilot.press(*"9999", "enter")  # Marco, a manager
        await wait_until(
            pilot, lambda: sell.staff is not None and sell.staff.id == "marco", "Marco"
        )
        await tap(pilot, "#training")
        await wait_until(pilot, lambda: sell.has_class("-training"), "the training banner")
        assert till.training and sell.query_one("#training-banner").display
