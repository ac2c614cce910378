"""Paying by card at the kiosk: the whole sale by taps through the real app, the real Till and
the Stripe simulator over HTTP (the card is presented with Stripe's simulated-reader test helper
and Stripe's test card numbers), to the printer simulator and the journal."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tui_helpers import PROVIDER_POLL_S, kiosk, open_terminal_payment, text, till_with_printer

from appliance.payments.card import CardUnavailable, make_client
from appliance.services.till import Staff, Till
from appliance.store import journal
from appliance.tui.screens.pay_card import PayCardScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from bitagora_devtools.script import tap, tap_product, wait_for_screen, wait_until
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_devtools.sim.stripe import DEFAULT_READER, StripeSim
from bitagora_protocol.journal import Record
from tests.http_helpers import serve

pytestmark = pytest.mark.timeout(60)

KEY = "sk_test_" + "k10sk" * 5
VISA = "4242424242424242"
DECLINED = "4000000000000002"


@dataclass
class Rig:
    till: Till
    printer: PrinterSimulator
    sim: StripeSim
    http: httpx.AsyncClient

    async def present(self, number: str = VISA) -> None:
        """The customer presents a card on the (simulated) reader."""
        client = make_client(self.till.settings.card, self.http)
        await client.v1.test_helpers.terminal.readers.present_payment_method_async(
            DEFAULT_READER, {"type": "card_present", "card_present": {"number": number}}
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sim = StripeSim(api_key=KEY)
    async with serve(sim.app()) as url, httpx.AsyncClient(timeout=5.0) as http:
        env = {
            "BITAGORA_CARD_KIND": "stripe_terminal",
            "BITAGORA_CARD_API_KEY": KEY,
            "BITAGORA_CARD_READER_ID": DEFAULT_READER,
            "BITAGORA_CARD_API_BASE": url,
            "BITAGORA_CARD_TIMEOUT_S": "2",
            "BITAGORA_CARD_POLL_S": str(PROVIDER_POLL_S),
        }
        async with till_with_printer(tmp_path, env) as (till, printer):
            yield Rig(till, printer, sim, http)


async def sale_records(till: Till) -> list[Record]:
    return [r async for r in journal.iterate(till.conn) if r.kind == "sale"]


async def open_card_payment(pilot, sku: str = "espresso") -> PayCardScreen:  # noqa: ANN001
    """One ``sku`` in the cart, Pay card tapped: the card screen once the reader waits."""
    return await open_terminal_payment(pilot, PayCardScreen, "card", sku)


async def test_card_sale_by_taps(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        assert app.sell.query_one("#pay-card").display
        screen = await open_card_payment(pilot)
        assert "Present card on the reader" in text(screen, "#card-prompt")
        assert text(screen, "#card-message") == "Waiting for the card…"
        await rig.present(VISA)
        done = await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert done.result.method == "card"
        assert "PAID" in text(done, "#done-change-label")
        assert "Card VISA •••• 4242" in text(done, "#done-summary")
        assert app.sell.cart.is_empty
        receipt = (await rig.printer.wait_receipts(1))[0]
        assert "Card" in receipt and "4242" in receipt and VISA not in receipt
        (charge,) = rig.sim.succeeded_charges()
        payment = done.result.record.body["payments"][0]
        assert payment["charge"] == charge["id"]
        assert payment["payment_intent"] == screen.attempt.payment_intent  # type: ignore[union-attr]
        meta = rig.sim.payment_intents[payment["payment_intent"]]["metadata"]
        assert meta["sale_id"] == done.result.sale_id  # Stripe and the journal name one sale


async def test_decline_in_words_then_try_again(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        screen = await open_card_payment(pilot)
        first = screen.attempt
        await rig.present(DECLINED)
        await wait_until(pilot, lambda: screen.ended, "the decline")
        message = text(screen, "#card-message")
        assert "The card was declined." in message
        assert screen.query_one("#card-retry").display and screen.query_one("#card-back").display

        await tap(pilot, "#card-retry")
        await wait_until(
            pilot,
            lambda: screen.attempt is not None and screen.attempt is not first,
            "the second attempt",
        )
        assert screen.attempt is not None and first is not None
        assert screen.attempt.number == 2 and screen.attempt.sale_id == first.sale_id
        await rig.present(VISA)
        await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert len(rig.sim.succeeded_charges()) == 1


async def test_back_to_the_sale_after_a_decline_keeps_the_cart(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        screen = await open_card_payment(pilot)
        await rig.present(DECLINED)
        await wait_until(pilot, lambda: screen.ended, "the decline")
        await tap(pilot, "#card-back")
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        assert not app.sell.cart.is_empty
        assert rig.sim.succeeded_charges() == []


async def test_cancel_from_the_kiosk_returns_to_the_cart(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        screen = await open_card_payment(pilot)
        attempt = screen.attempt
        assert attempt is not None
        await tap(pilot, "#card-cancel")
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        assert not app.sell.cart.is_empty  # the same cart, for another way to pay
        pi = rig.sim.payment_intents[attempt.payment_intent]
        assert pi["status"] == "canceled"
        assert rig.sim.readers[DEFAULT_READER]["action"] is None
        assert rig.sim.succeeded_charges() == []
        assert await sale_records(rig.till) == []


async def test_a_cancel_that_comes_too_late_records_the_sale(rig: Rig) -> None:
    async with kiosk(rig.till) as (app, pilot):
        screen = await open_card_payment(pilot)
        card = rig.till.card
        assert card is not None
        await rig.present(VISA)  # the card went through just as staff tapped Cancel
        screen.cancel()
        await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert len(rig.sim.succeeded_charges()) == 1


async def test_network_error_mid_payment_still_one_charge(rig: Rig) -> None:
    # The create and the reader call reach Stripe but their answers are lost; then a poll.
    rig.sim.drop("POST", "/v1/payment_intents", when="after")
    rig.sim.drop("POST", f"/v1/terminal/readers/{DEFAULT_READER}/process_payment_intent")
    async with kiosk(rig.till) as (app, pilot):
        screen = await open_card_payment(pilot)
        assert screen.attempt is not None
        rig.sim.drop("GET", f"/v1/payment_intents/{screen.attempt.payment_intent}", count=2)
        await rig.present(VISA)
        await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert len(rig.sim.payment_intents) == 1
        assert len(rig.sim.succeeded_charges()) == 1 == len(rig.sim.charges)
        (sale,) = await sale_records(rig.till)  # one charge, one sale
        assert sale.body["payments"][0]["method"] == "card"


async def test_cashier_card_sale_in_the_journal_without_the_card_number(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with kiosk(rig.till, pin="1234") as (app, pilot):  # Ana, a cashier
        screen = await open_card_payment(pilot)
        await rig.present(VISA)
        done = await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert screen.staff.role == "cashier"
    seq = done.result.record.seq
    record = await journal.get(rig.till.conn, seq)
    assert record is not None and record.kind == "sale"
    (payment,) = record.body["payments"]
    assert payment["method"] == "card" and payment["amount"] == record.body["total"]["minor"]
    assert (payment["brand"], payment["last4"], payment["capture"]) == ("visa", "4242", "automatic")
    assert payment["payment_intent"].startswith("pi_") and payment["charge"].startswith("ch_")
    async with rig.till.conn.execute("SELECT * FROM journal") as cursor:
        rows = "\n".join(repr(tuple(row)) for row in await cursor.fetchall())
    assert VISA not in rows and "424242424242" not in rows
    assert VISA not in caplog.text and KEY not in caplog.text


async def test_a_start_the_network_cut_off_can_be_tried_again(rig: Rig) -> None:
    # Every try of the create reaches Stripe and loses its answer: the screen says so.
    retries = rig.till.settings.card.retries
    rig.sim.drop("POST", "/v1/payment_intents", count=retries + 1)
    async with kiosk(rig.till) as (app, pilot):
        sell = app.sell
        await tap_product(
            pilot, sell, next(p for p in await sell.till.sales.products() if p.sku == "espresso")
        )
        await tap(pilot, "#pay-card")
        screen = await wait_for_screen(pilot, PayCardScreen, "the card screen")
        await wait_until(pilot, lambda: screen.ended, "the network error")
        assert "Try again" in text(screen, "#card-message")
        (lost,) = rig.sim.payment_intents  # Stripe made one

        await tap(pilot, "#card-retry")  # the lost one is found by its key and cancelled
        await wait_until(pilot, lambda: screen.attempt is not None, "the reader")
        assert rig.sim.payment_intents[lost]["status"] == "canceled"
        await rig.present(VISA)
        await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert len(rig.sim.succeeded_charges()) == 1


async def test_no_card_button_without_a_reader(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _), kiosk(till) as (app, _pilot):
        assert till.card is None
        assert not app.sell.query_one("#pay-card").display


async def test_no_card_payment_in_training(rig: Rig) -> None:
    till = rig.till
    await till.access.set_training(Staff("marco", "Marco", "manager"), True)
    cart = till.sales.new_cart()
    cart.add(next(p for p in await till.sales.products() if p.sku == "espresso"))
    with pytest.raises(CardUnavailable, match="Training mode: take cash only"):
        await till.sales.start_card(cart, Staff("ana", "Ana", "cashier"), "sale-1")
    assert rig.sim.payment_intents == {}
