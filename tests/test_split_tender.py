"""Split tender through the till's services against the simulators: the Stripe API over HTTP (a
card presented with Stripe's simulated-reader helper), Core Lightning's JSON-RPC on a unix socket,
the ESC/POS printer over TCP. Each part is its own payment; one ``sale`` record lists the parts
that took money; a restart loses no paid part and finishes no sale twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import STAFF, Statuses, bitcoin_shop, cart_of, payment_states, records
from card_helpers import DECLINED, VISA, card_shop

from appliance import bootstrap
from appliance.core.refund import LineChoice
from appliance.core.report import period_report
from appliance.core.sale import SaleError
from appliance.core.split import SplitSale
from appliance.payments.bitcoin import PaymentUnavailable
from appliance.payments.card import CardStatus
from appliance.services.refunds import (
    Approval,
    RefundError,
    mark_payout_paid,
    payouts,
)
from appliance.services.till import SaleResult, Till
from appliance.store import card as card_store
from appliance.store import journal
from appliance.store.export import verify_database
from appliance.wallet.lightning import sale_label
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)

MANAGER = Approval(pin="9999")


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


async def kinds(till: Till, kind: str) -> list[Record]:
    return [r async for r in journal.iterate(till.conn) if r.kind == kind]


async def test_declined_card_part_then_the_rest_in_cash(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as shop:
        split = await shop.split_of("mug", "cake")  # 12.00 + 4.20
        assert split.total == eur(1620)

        paid = await shop.card_part(split.sale_id, eur(1000))
        assert isinstance(paid, SplitSale) and paid.remaining == eur(620)
        declined = await shop.card_part(split.sale_id, eur(620), DECLINED)
        assert declined.status is CardStatus.DECLINED
        # The declined card took nothing: the paid part stands, the same amount is still due.
        again = await shop.till.split.get(split.sale_id)
        assert [p.method for p in again.parts] == ["card"] and again.remaining == eur(620)
        assert await kinds(shop.till, "sale") == []

        with pytest.raises(SaleError, match="more than"):
            await shop.till.split.start_card(split.sale_id, STAFF, eur(621))
        done = await shop.till.split.pay_cash(split.sale_id, STAFF, eur(2000))
        assert isinstance(done, SaleResult)
        assert done.change == eur(1380)

        (sale,) = await kinds(shop.till, "sale")
        good_pi = paid.parts[0].payment["payment_intent"]
        assert sale.body["payments"] == [
            {
                "method": "card",
                "amount": 1000,
                "tendered": None,
                "change": None,
                "brand": "visa",
                "last4": "4242",
                "payment_intent": good_pi,
                "charge": shop.sim.succeeded_charges(good_pi)[0]["id"],
                "capture": "automatic",
            },
            {"method": "cash", "amount": 620, "tendered": 2000, "change": 1380},
        ]
        attempts = await card_store.sale_attempts(shop.till.conn, split.sale_id)
        assert [a.state for a in attempts] == ["succeeded", "declined"]
        assert attempts[1].payment_intent not in str(sale.body)
        parts = [r.body for r in await kinds(shop.till, "payment")]
        assert [(b["state"], b["part"], b["payment"]["method"]) for b in parts] == [
            ("part_paid", 1, "card"),
            ("part_paid", 2, "cash"),
        ]
        # The drawer opens once, for the sale, after its record.
        (drawer,) = await kinds(shop.till, "drawer_open")
        assert drawer.body["sale_id"] == split.sale_id and drawer.seq > sale.seq
        receipt = (await shop.printer.wait_receipts(1))[0]
        assert "Card VISA •••• 4242" in receipt and "Cash" in receipt and "€20.00" in receipt
        # The day's totals count each part under its method.
        everything = [r async for r in journal.iterate(shop.till.conn)]
        assert verify_database(shop.settings.database_path).count == len(everything)
        report = period_report(everything, "EUR")
        assert report.by_method == {"card": 1000, "cash": 620}
        assert report.cash_taken == 620 and report.sales_gross == 1620


async def test_lightning_part_and_cash(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        till = shop.till
        cart = await cart_of(shop, "cake", 2)  # 8.40
        split = await till.split.begin(cart, STAFF)
        offer = await shop.payments.offer_part(split.sale_id, eur(500), STAFF)
        assert offer.total == eur(500) and offer.sale_id != split.sale_id
        statuses = Statuses()
        shop.till.watch_payment(offer.sale_id, statuses)
        await shop.lightning.pay(sale_label(offer.sale_id))
        paid = await statuses.until("paid")
        assert isinstance(paid.result, SplitSale) and paid.result.remaining == eur(340)
        part = paid.record
        assert part is not None and part.kind == "payment"
        assert part.body["state"] == "part_paid" and part.body["checkout"] == offer.sale_id
        assert part.body["payment"]["msat"] == offer.msat
        (offered,) = [r for r in await records(shop, "payment") if r.body["state"] == "offered"]
        assert offered.body["part_of"] == split.sale_id
        assert await records(shop, "sale") == []

        done = await till.split.pay_cash(split.sale_id, STAFF, eur(340))
        assert isinstance(done, SaleResult) and done.change == eur(0)
        (sale,) = await records(shop, "sale")
        assert [(p["method"], p["amount"]) for p in sale.body["payments"]] == [
            ("lightning", 500),
            ("cash", 340),
        ]
        assert done.receipt.payments == (("Lightning", "€5.00"), ("Cash", "€3.40"))


async def test_expired_bitcoin_part_leaves_the_paid_part(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        till = shop.till
        split = await till.split.begin(await cart_of(shop, "cake", 2), STAFF)
        cash = await till.split.pay_cash(split.sale_id, STAFF, eur(400))
        assert isinstance(cash, SplitSale) and cash.remaining == eur(440)
        with pytest.raises(PaymentUnavailable, match="more than"):
            await shop.payments.offer_part(split.sale_id, eur(441), STAFF)
        offer = await shop.payments.offer_part(split.sale_id, eur(440), STAFF)
        statuses = Statuses()
        shop.till.watch_payment(offer.sale_id, statuses)
        shop.clock.now = offer.expires_at + 1
        shop.payments.wake()
        await statuses.until("expired")
        after = await till.split.get(split.sale_id)
        assert after.is_open and [p.amount for p in after.parts] == [400]
        assert after.remaining == eur(440)


async def test_refund_one_line_of_a_split_sale(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as shop:
        split = await shop.split_of("mug", "cake")  # 16.20: 10.00 card + 6.20 cash
        await shop.card_part(split.sale_id, eur(1000))
        await shop.till.split.pay_cash(split.sale_id, STAFF, eur(620))
        (sale,) = await kinds(shop.till, "sale")

        service = shop.till.refunds
        result = await service.refund(
            STAFF, MANAGER, "chipped", sale_id=split.sale_id, lines=[LineChoice(0)]
        )
        body = result.record.body
        assert body["total"]["minor"] == 1200
        # 1200 over what was paid (1000 card, 620 cash) in proportion: 740.7 card, 459.3 cash;
        # rounded down, the remaining cent to cash.
        (refund,) = shop.sim.refunds.values()
        assert [(p["method"], p["amount"]) for p in body["payments"]] == [
            ("card", 740),
            ("cash", 460),
        ]
        card = body["payments"][0]
        assert card["payment_intent"] == sale.body["payments"][0]["payment_intent"]
        assert card["refund_id"] == refund["id"] and refund["amount"] == 740
        assert result.drawer is not None  # cash goes back from the drawer


async def test_paid_card_part_survives_a_restart_and_the_sale_is_finished_once(
    tmp_path: Path,
) -> None:
    async with card_shop(tmp_path) as shop:
        split = await shop.split_of("mug")
        await shop.card_part(split.sale_id, eur(500))

        assert await shop.restart() == []
        (back,) = await shop.till.split.unfinished()
        assert back.sale_id == split.sale_id and back.remaining == eur(700)
        assert [(p.method, p.amount) for p in back.parts] == [("card", 500)]

        done = await shop.till.split.pay_cash(split.sale_id, STAFF, eur(700))
        assert isinstance(done, SaleResult)
        assert await shop.till.split.unfinished() == []
        with pytest.raises(SaleError, match="recorded already|no more|still due|is finished"):
            await shop.till.split.finish(await shop.till.split.get(split.sale_id))
        with pytest.raises(SaleError):
            await shop.till.split.pay_cash(split.sale_id, STAFF, eur(100))
        (sale,) = await kinds(shop.till, "sale")
        assert [p["amount"] for p in sale.body["payments"]] == [500, 700]
        assert len(shop.sim.succeeded_charges()) == 1


async def test_card_attempts_open_at_a_restart_are_settled_at_boot(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as shop:
        # A split sale's card part: the till goes off while the reader waits; the customer's
        # card goes through meanwhile.
        split = await shop.split_of("mug")
        part = await shop.till.split.start_card(split.sale_id, STAFF, eur(1200))
        await shop.till.close()
        await shop.present(VISA)
        shop.till = await bootstrap.open_till(shop.settings)
        notes = await shop.till.recovery.recovered()
        assert any(split.sale_id[:8] in n and "the sale is recorded" in n for n in notes)
        (sale,) = await kinds(shop.till, "sale")
        assert sale.body["sale_id"] == split.sale_id
        assert sale.body["payments"][0]["payment_intent"] == part.payment_intent

        # A whole sale by card, and nobody presents a card before the till goes off: at boot
        # its PaymentIntent is cancelled and the attempt closed; nothing is recorded.
        products = {p.sku: p for p in await shop.till.sales.products()}
        cart = shop.till.sales.new_cart()
        cart.add(products["cake"])
        lost = await shop.till.sales.start_card(cart, STAFF, "whole-sale-1")
        assert await shop.restart() == []
        assert shop.sim.payment_intents[lost.payment_intent]["status"] == "canceled"
        row = await card_store.get_attempt(shop.till.conn, "whole-sale-1", 1)
        assert row is not None and row.state == "cancelled"

        # One whose card went through with the till off: the cart kept with the attempt
        # records its sale at boot.
        cart.clear()
        cart.add(products["espresso"])
        paid_late = await shop.till.sales.start_card(cart, STAFF, "whole-sale-2")
        await shop.till.close()
        await shop.present(VISA)
        shop.till = await bootstrap.open_till(shop.settings)
        notes = await shop.till.recovery.recovered()
        assert any("whole-sa" in n and "sale recorded" in n for n in notes), notes
        sales = await kinds(shop.till, "sale")
        assert [s.body["sale_id"] for s in sales] == [split.sale_id, "whole-sale-2"]
        assert sales[1].body["payments"][0]["payment_intent"] == paid_late.payment_intent
        assert sales[1].body["total"]["minor"] == 180
        assert await card_store.open_attempts(shop.till.conn) == []
        # Another boot finds nothing more to do: each sale is recorded once.
        assert await shop.restart() == []
        assert len(await kinds(shop.till, "sale")) == 2
        assert len(shop.sim.succeeded_charges()) == 2


async def test_giving_back_the_paid_parts(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as shop:
        split = await shop.split_of("mug", "cake")
        await shop.card_part(split.sale_id, eur(1000))
        await shop.till.split.pay_cash(split.sale_id, STAFF, eur(300))
        assert not await shop.till.split.cancel(split.sale_id)  # paid parts: not just dropped
        result = await shop.till.split.give_back(split.sale_id, STAFF, MANAGER, "customer left")
        body = result.record.body
        assert body["state"] == "given_back" and body["approved_by"]["id"] == "marco"
        (refund,) = shop.sim.refunds.values()
        assert [(p["part"], p["method"], p["amount"]) for p in body["payments"]] == [
            (1, "card", 1000),
            (2, "cash", 300),
        ]
        assert body["payments"][0]["refund_id"] == refund["id"] and refund["amount"] == 1000
        assert (await shop.till.split.get(split.sale_id)).state == "given_back"
        assert await shop.till.split.unfinished() == []
        assert await kinds(shop.till, "sale") == []


async def test_a_lightning_part_given_back_is_a_pending_payout(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        till = shop.till
        split = await till.split.begin(await cart_of(shop, "cake", 2), STAFF)
        offer = await shop.payments.offer_part(split.sale_id, eur(500), STAFF)
        statuses = Statuses()
        shop.till.watch_payment(offer.sale_id, statuses)
        await shop.lightning.pay(sale_label(offer.sale_id))
        await statuses.until("paid")
        with pytest.raises(RefundError, match="ask the customer where to send it"):
            await till.split.give_back(split.sale_id, STAFF, MANAGER, "customer left")
        assert (await till.split.get(split.sale_id)).is_open  # nothing was recorded
        # The part's invoice (its checkout's, not the sale's) tells the chain it was paid on.
        testnet_invoice = "lntb1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypq"
        with pytest.raises(RefundError, match="customer paid on mainnet"):
            await till.split.give_back(
                split.sale_id, STAFF, MANAGER, "customer left", destination=testnet_invoice
            )
        await till.split.give_back(
            split.sale_id, STAFF, MANAGER, "customer left", destination="alice@example.com"
        )
        (payout,) = await payouts(till.conn, pending_only=True)
        assert payout["sale_id"] == split.sale_id and payout["method"] == "lightning"
        assert payout["amount"] == 500 and payout["destination"] == "alice@example.com"
        # The merchant pays it and says so: a give-back is named by its sale id.
        await mark_payout_paid(
            till.conn, till.identity, split.sale_id, "lightning", "5f" * 32, None
        )
        assert await payouts(till.conn, pending_only=True) == []
        (paid,) = await payouts(till.conn)
        assert (paid["refund_id"], paid["status"]) == (split.sale_id, "paid")
        # A bitcoin offer for the given-back sale is no longer possible.
        with pytest.raises(PaymentUnavailable, match="given back"):
            await shop.payments.offer_part(split.sale_id, eur(100), STAFF)


async def test_a_lightning_part_paid_after_a_restart_finishes_the_sale(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        split = await shop.till.split.begin(await cart_of(shop, "cake", 2), STAFF)
        await shop.till.split.pay_cash(split.sale_id, STAFF, eur(340))
        offer = await shop.payments.offer_part(split.sale_id, eur(500), STAFF)
        await shop.close_till()
        await shop.lightning.pay(sale_label(offer.sale_id))  # paid while the till is off
        await shop.open_till()
        # Nobody watches the offer: the part is recorded and, as it covers the rest, the sale.
        done = await shop.background.until("paid")
        assert isinstance(done.result, SaleResult)
        (sale,) = await records(shop, "sale")
        assert sale.body["sale_id"] == split.sale_id
        assert [(p["method"], p["amount"]) for p in sale.body["payments"]] == [
            ("cash", 340),
            ("lightning", 500),
        ]
        assert await shop.till.split.unfinished() == []


async def test_an_open_part_offer_is_withdrawn_when_the_rest_is_paid_otherwise(
    tmp_path: Path,
) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        split = await shop.till.split.begin(await cart_of(shop, "cake", 2), STAFF)
        offer = await shop.payments.offer_part(split.sale_id, eur(500), STAFF)
        done = await shop.till.split.pay_cash(split.sale_id, STAFF, eur(1000))
        assert isinstance(done, SaleResult) and done.change == eur(160)
        assert await payment_states(shop, offer.sale_id) == ["offered", "cancelled"]
        assert sale_label(offer.sale_id) not in shop.lightning.invoices


async def test_stripe_out_of_reach_at_start_leaves_the_attempt_for_the_next_start(
    tmp_path: Path,
) -> None:
    async with card_shop(tmp_path) as shop:
        split = await shop.split_of("mug")
        attempt = await shop.till.split.start_card(split.sale_id, STAFF, eur(1200))
        await shop.till.close()
        await shop.present(VISA)
        retries = shop.settings.card.retries
        shop.sim.drop("GET", f"/v1/payment_intents/{attempt.payment_intent}", count=retries + 1)
        shop.till = await bootstrap.open_till(shop.settings)
        (note,) = await shop.till.recovery.recovered()
        assert "not settled" in note and "Stripe cannot be reached" in note
        assert [a.sale_id for a in await card_store.open_attempts(shop.till.conn)] == [
            split.sale_id
        ]
        assert (await shop.till.split.get(split.sale_id)).parts == ()

        notes = await shop.restart()  # Stripe answers again
        assert any("the sale is recorded" in n for n in notes), notes
        (sale,) = await kinds(shop.till, "sale")
        assert sale.body["payments"][0]["payment_intent"] == attempt.payment_intent
