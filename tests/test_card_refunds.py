"""Card refunds through the official stripe library against the Stripe simulator over HTTP:
one refund at Stripe even when the connection drops after Stripe did it, and a refused refund
records nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from card_helpers import sim_card_settings
from refund_helpers import refunds_with
from tui_helpers import till_with_printer

from appliance.config import CardSettings
from appliance.core.refund import LineChoice
from appliance.core.sale import Payment, sale_body
from appliance.payments.card import CardError, CardPayments, make_client
from appliance.services.refunds import Approval, CardRefundFailed
from appliance.services.till import Staff, Till
from appliance.store import journal, sales
from bitagora_devtools.sim.stripe import DEFAULT_READER, StripeSim
from bitagora_protocol.money import Money
from tests.http_helpers import serve

pytestmark = pytest.mark.timeout(60)

KEY = "sk_test_" + "r3f" * 8
ANA = Staff("ana", "Ana", "cashier")
MANAGER = Approval(pin="9999")


async def card_sale(
    till: Till, card: CardPayments, settings: CardSettings, http: Any, *parts: int
) -> Any:
    """A sale paid by card on the simulated reader, then recorded as the till records it;
    ``parts``: the minor units of the first card parts of a split sale (the last pays the rest)."""
    cart = till.sales.new_cart()
    products = {p.sku: p for p in await till.sales.products()}
    cart.add(products["mug"])
    cart.add(products["cake"])
    total = cart.totals().total
    sale_id = str(uuid.uuid4())
    client = make_client(settings, http)
    payments = []
    for amount in [*(Money(n, "EUR") for n in parts), total - Money(sum(parts), "EUR")]:
        attempt = await card.start(sale_id, amount, "Sale")
        await client.v1.test_helpers.terminal.readers.present_payment_method_async(
            DEFAULT_READER, {"type": "card_present", "card_present": {"number": "4242424242424242"}}
        )
        outcome = await card.wait(attempt)
        assert outcome.paid
        payments.append(Payment("card", amount, details={"payment_intent": attempt.payment_intent}))
    body = sale_body(sale_id, cart, "ana", "Ana", payments)
    return await sales.record_sale(till.conn, till.identity, body)


async def test_card_refund_once_despite_a_network_drop(tmp_path: Path) -> None:
    sim = StripeSim(api_key=KEY)
    async with (
        serve(sim.app()) as url,
        httpx.AsyncClient(timeout=2.0) as http,
        till_with_printer(tmp_path) as (till, printer),
    ):
        settings = sim_card_settings(url, KEY)
        card = CardPayments(settings, till.conn, http=http)
        sale = await card_sale(till, card, settings, http)
        service = refunds_with(till, card)

        sim.drop("POST", "/v1/refunds", when="after")  # Stripe refunds, the answer is lost
        result = await service.refund(
            ANA, MANAGER, "broken", original_seq=sale.seq, lines=[LineChoice(0)]
        )
        assert [r for r in sim.requests if r == ("POST", "/v1/refunds")] == [
            ("POST", "/v1/refunds")
        ] * 2
        (refund,) = sim.refunds.values()  # sent twice, done once
        (payment,) = result.record.body["payments"]
        assert payment == {
            "method": "card",
            "amount": 1200,
            "payment_intent": sale.body["payments"][0]["payment_intent"],
            "refund_id": refund["id"],
        }
        assert refund["amount"] == 1200
        assert refund["metadata"] == {"refund_id": result.record.body["refund_id"]}
        assert result.drawer is None  # no cash, no drawer
        assert "REFUND" in (await printer.wait_receipts(2))[1]

        # The same refund retried whole (same refund id) is not refunded again at Stripe.
        again = await card.refund(
            result.record.body["refund_id"], payment["payment_intent"], Money(1200, "EUR")
        )
        assert again["id"] == refund["id"] and len(sim.refunds) == 1

        # Stripe out of reach for longer than the retries: nothing recorded; the retry with the
        # same refund id finishes it, and the card is refunded once.
        for _ in range(4):
            sim.drop("POST", "/v1/refunds", when="after")
        with pytest.raises(CardRefundFailed, match="Nothing was recorded") as failed:
            await service.refund(
                ANA, MANAGER, "broken", original_seq=sale.seq, lines=[LineChoice(1)]
            )
        assert len(sim.refunds) == 2
        assert not [r async for r in journal.iterate(till.conn) if r.kind == "refund"][1:]
        retried = await service.refund(
            ANA,
            MANAGER,
            "broken",
            original_seq=sale.seq,
            lines=[LineChoice(1)],
            refund_id=failed.value.refund_id,
        )
        assert len(sim.refunds) == 2
        assert retried.record.body["payments"][0]["refund_id"] in sim.refunds

        # Everything went back: Stripe has nothing left and refuses in words.
        before = [r async for r in journal.iterate(till.conn)]
        with pytest.raises(CardError, match="already been refunded"):
            await card.refund(str(uuid.uuid4()), payment["payment_intent"], Money(1, "EUR"))
        assert [r async for r in journal.iterate(till.conn)] == before
        charge = sim.charges[refund["charge"]]
        assert charge["refunded"] and charge["amount_refunded"] == sale.body["total"]["minor"]


async def test_split_card_sale_refunded_in_pieces_and_after_a_half_failure(tmp_path: Path) -> None:
    sim = StripeSim(api_key=KEY)
    async with (
        serve(sim.app()) as url,
        httpx.AsyncClient(timeout=2.0) as http,
        till_with_printer(tmp_path) as (till, _printer),
    ):
        settings = sim_card_settings(url, KEY)
        card = CardPayments(settings, till.conn, http=http)
        service = refunds_with(till, card)

        def left(pi: str) -> int:
            (charge,) = sim.succeeded_charges(pi)
            return int(charge["amount_captured"] - charge["amount_refunded"])

        # Two refunds of a sale paid by two cards: each goes to what each card has left, so the
        # second one is not refused by Stripe and the whole sale goes back.
        sale = await card_sale(till, card, settings, http, 300)
        intents = [p["payment_intent"] for p in sale.body["payments"]]
        await service.refund(ANA, MANAGER, "broken", original_seq=sale.seq, lines=[LineChoice(0)])
        await service.refund(ANA, MANAGER, "broken", original_seq=sale.seq)
        assert [left(pi) for pi in intents] == [0, 0]

        # The second card refused after the first was refunded: the error says so, nothing is
        # journalled, and the refund tried again (no id given, as from a reopened screen) does
        # not refund the first card twice.
        sale = await card_sale(till, card, settings, http, 300)
        first, second = [p["payment_intent"] for p in sale.body["payments"]]
        charge = sim.payment_intents[second]["latest_charge"]
        sim.payment_intents[second]["latest_charge"] = None  # Stripe finds nothing to refund
        with pytest.raises(CardRefundFailed, match=f"Already refunded at Stripe: €3.00 to {first}"):
            await service.refund(ANA, MANAGER, "broken", original_seq=sale.seq)
        assert left(first) == 0
        assert not await service.previous_refunds(sale.seq)
        sim.payment_intents[second]["latest_charge"] = charge
        result = await service.refund(ANA, MANAGER, "broken", original_seq=sale.seq)
        assert [(p["payment_intent"], p["amount"]) for p in result.record.body["payments"]] == [
            (first, 300),
            (second, sale.body["total"]["minor"] - 300),
        ]
        assert [left(pi) for pi in (first, second)] == [0, 0]
        assert len([r for r in sim.refunds.values() if r["payment_intent"] == first]) == 1
