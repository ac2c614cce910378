"""Split tender when parts overlap: a bitcoin part offer still open as the card is run, a card
charge that comes to more than is still due, two parts settling at once. A till with the Stripe
simulator (HTTP) and Core Lightning's JSON-RPC simulator (unix socket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from bitcoin_helpers import STAFF, BitcoinShop, bitcoin_shop, cart_of, payment_states
from card_helpers import SHOP_KEY, VISA
from http_helpers import serve

from appliance.core.sale import SaleError
from appliance.core.split import SplitSale
from appliance.payments.card import make_client
from appliance.services.refunds import Approval
from appliance.services.split import PartRefunded
from appliance.store import journal
from appliance.wallet.lightning import sale_label
from bitagora_devtools.sim.stripe import DEFAULT_READER, StripeSim
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)

MANAGER = Approval(pin="9999")


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


@asynccontextmanager
async def card_and_lightning(tmp_path: Path) -> AsyncIterator[tuple[BitcoinShop, StripeSim]]:
    sim = StripeSim(api_key=SHOP_KEY)
    async with serve(sim.app()) as url:
        env = {
            "BITAGORA_CARD_KIND": "stripe_terminal",
            "BITAGORA_CARD_API_KEY": SHOP_KEY,
            "BITAGORA_CARD_READER_ID": DEFAULT_READER,
            "BITAGORA_CARD_API_BASE": url,
            "BITAGORA_CARD_TIMEOUT_S": "2",
            "BITAGORA_CARD_POLL_S": "0.02",
        }
        async with bitcoin_shop(tmp_path, onchain=False, env=env) as shop:
            yield shop, sim


async def present(shop: BitcoinShop) -> None:
    async with httpx.AsyncClient(timeout=5.0) as http:
        client = make_client(shop.till.settings.card, http)
        await client.v1.test_helpers.terminal.readers.present_payment_method_async(
            DEFAULT_READER, {"type": "card_present", "card_present": {"number": VISA}}
        )


async def split_of_mug_and_cake(shop: BitcoinShop) -> SplitSale:
    cart = await cart_of(shop, "mug")
    products = {p.sku: p for p in await shop.till.sales.products()}
    cart.add(products["cake"])  # 12.00 + 4.20
    return await shop.till.split.begin(cart, STAFF)


async def test_an_open_bitcoin_part_is_withdrawn_before_the_card_runs(tmp_path: Path) -> None:
    async with card_and_lightning(tmp_path) as (shop, sim):
        split = await split_of_mug_and_cake(shop)
        offer = await shop.payments.offer_part(split.sale_id, eur(1620), STAFF)
        # The cashier turns to the card: the offer can no longer be paid.
        attempt = await shop.till.split.start_card(split.sale_id, STAFF, eur(1620))
        assert await payment_states(shop, offer.sale_id) == ["offered", "cancelled"]
        assert sale_label(offer.sale_id) not in shop.lightning.invoices
        await present(shop)
        assert shop.till.card is not None
        done = await shop.till.split.card_paid(
            split.sale_id, STAFF, await shop.till.card.wait(attempt)
        )
        assert [(p.method, p.amount) for p in (await shop.till.split.get(split.sale_id)).parts] == [
            ("card", 1620)
        ]
        assert not isinstance(done, SplitSale)  # the card covered it: the sale is recorded
        assert sim.refunds == {}


async def test_a_bitcoin_part_paid_as_the_card_starts_counts_first(tmp_path: Path) -> None:
    async with card_and_lightning(tmp_path) as (shop, sim):
        split = await split_of_mug_and_cake(shop)
        offer = await shop.payments.offer_part(split.sale_id, eur(1000), STAFF)
        await shop.lightning.pay(sale_label(offer.sale_id))  # the till has not heard yet
        # Withdrawing the offer finds it paid: that part is recorded, and the card asked for the
        # whole sale is refused before it is charged.
        with pytest.raises(SaleError, match="more than the €6.20 still due"):
            await shop.till.split.start_card(split.sale_id, STAFF, eur(1620))
        assert sim.payment_intents == {}
        after = await shop.till.split.get(split.sale_id)
        assert [(p.number, p.method, p.amount) for p in after.parts] == [(1, "lightning", 1000)]


async def test_a_card_charge_more_than_is_due_is_refunded_and_journalled(tmp_path: Path) -> None:
    async with card_and_lightning(tmp_path) as (shop, sim):
        split = await split_of_mug_and_cake(shop)
        attempt = await shop.till.split.start_card(split.sale_id, STAFF, eur(1620))
        # Meanwhile another part pays most of the sale.
        await shop.till.split.pay_cash(split.sale_id, STAFF, eur(1000))
        await present(shop)
        assert shop.till.card is not None
        outcome = await shop.till.card.wait(attempt)
        assert outcome.paid
        with pytest.raises(PartRefunded, match="€16.20 but only €6.20 was still due"):
            await shop.till.split.card_paid(split.sale_id, STAFF, outcome)
        (refund,) = sim.refunds.values()
        assert refund["payment_intent"] == attempt.payment_intent and refund["amount"] == 1620
        records = [r async for r in journal.iterate(shop.till.conn) if r.kind == "payment"]
        bodies = [r.body for r in records if r.body["sale_id"] == split.sale_id]
        assert [b["state"] for b in bodies] == ["part_paid", "part_refunded"]
        assert bodies[1]["payment"]["payment_intent"] == attempt.payment_intent
        assert bodies[1]["refund"]["id"] == refund["id"]
        assert bodies[1]["remaining"] == {"minor": 620, "currency": "EUR"}
        # The sale is as it was: one cash part, the rest still due; a restart finds nothing.
        assert (await shop.till.split.get(split.sale_id)).remaining == eur(620)
        await shop.close_till()
        await shop.open_till()
        assert await shop.till.recovery.recovered() == []
        assert len(sim.refunds) == 1


async def test_a_card_charge_after_the_sale_was_given_back_is_refunded(tmp_path: Path) -> None:
    async with card_and_lightning(tmp_path) as (shop, sim):
        split = await split_of_mug_and_cake(shop)
        await shop.till.split.pay_cash(split.sale_id, STAFF, eur(500))
        attempt = await shop.till.split.start_card(split.sale_id, STAFF, eur(1120))
        await shop.till.split.give_back(split.sale_id, STAFF, MANAGER, "customer left")
        await present(shop)
        assert shop.till.card is not None
        outcome = await shop.till.card.wait(attempt)
        with pytest.raises(PartRefunded, match="the sale is given back"):
            await shop.till.split.card_paid(split.sale_id, STAFF, outcome)
        (refund,) = sim.refunds.values()
        assert refund["payment_intent"] == attempt.payment_intent and refund["amount"] == 1120
        records = [r async for r in journal.iterate(shop.till.conn) if r.kind == "payment"]
        assert [r.body["state"] for r in records if r.body["sale_id"] == split.sale_id] == [
            "part_paid",
            "given_back",
            "part_refunded",
        ]


async def test_two_parts_settling_at_once_are_numbered_one_and_two(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        split = await split_of_mug_and_cake(shop)
        await asyncio.gather(
            shop.till.split.pay_cash(split.sale_id, STAFF, eur(500)),
            shop.till.split.pay_cash(split.sale_id, STAFF, eur(300)),
        )
        after = await shop.till.split.get(split.sale_id)
        assert sorted(p.number for p in after.parts) == [1, 2]
        assert after.remaining == eur(820)
