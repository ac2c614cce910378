"""Bitcoin checkout when something is in the way: the chain source down (Esplora answering 503)
and the wallet's gap limit reached (20 on-chain offers waiting). The till says what is wrong and
what still works, never records a sale it has not seen paid, and never loses one it has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bitcoin_helpers import (
    STAFF,
    BitcoinShop,
    bitcoin_shop,
    cart_of,
    offered,
    payment_states,
    records,
)

from appliance.payments.bitcoin import Offer, PaymentUnavailable
from appliance.store import checkouts, outbox
from appliance.wallet.lightning import sale_label

GAP_WORDS = "On-chain not offered: 20 on-chain sales in a row are still waiting for payment"


async def test_chain_outage_keeps_the_checkout_open_until_the_payment_is_seen(
    tmp_path: Path,
) -> None:
    async with bitcoin_shop(tmp_path, lightning=False) as shop:
        offer, statuses = await offered(shop)
        assert offer.address is not None and offer.sats is not None
        shop.esplora.failing = 503
        txid = shop.esplora.pay(offer.address, offer.sats)  # paid during the outage
        shop.payments.wake()
        down = await statuses.saying("Cannot ask the chain")
        assert down.state == "offered" and down.record is None and "retrying" in down.message
        assert "HTTP 503" in down.message
        await shop.payments.check()  # the look in progress is over (and one more, still down)
        assert shop.payments.chain_problem == down.message
        assert await _reported(shop) == {"rates": None, "chain": down.message}
        co = await checkouts.get(shop.till.conn, offer.sale_id)
        assert co is not None and co.is_open
        assert await payment_states(shop, offer.sale_id) == ["offered"]

        shop.esplora.failing = 0
        shop.payments.wake()
        paid = await statuses.until("paid")
        assert paid.record is not None
        assert paid.record.body["payments"][0]["txids"] == [txid]
        await shop.payments.check()
        assert shop.payments.chain_problem is None
        assert await _reported(shop) == {"rates": None, "chain": None}


async def _reported(shop: BitcoinShop) -> object:
    """The services' problems as the uplink's heartbeat will read them."""
    return json.loads(await outbox.get_state(shop.till.conn, outbox.PAYMENT_STATUS) or "null")


async def test_chain_outage_does_not_stop_lightning(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        shop.esplora.failing = 503
        offer, statuses = await offered(shop)
        shop.payments.wake()
        await statuses.saying("Cannot ask the chain")
        await shop.lightning.pay(sale_label(offer.sale_id))
        paid = await statuses.until("paid")
        assert paid.record is not None and paid.record.body["payments"][0]["method"] == "lightning"


async def twenty_waiting(shop: BitcoinShop) -> list[Offer]:
    """Fill the gap limit: 20 on-chain offers, none paid, none closed."""
    cart = await cart_of(shop)
    offers = [await shop.payments.offer(cart, STAFF) for _ in range(20)]
    assert len({o.address for o in offers}) == 20 and None not in {o.address for o in offers}
    return offers


async def test_gap_limit_reached_offers_lightning_only_and_says_why(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        await twenty_waiting(shop)
        offer, statuses = await offered(shop)
        assert offer.address is None and offer.sats is None
        assert offer.bolt11 is not None and offer.uri == f"lightning:{offer.bolt11}"
        (note,) = offer.notes
        assert note.startswith(GAP_WORDS) and "finish or cancel one" in note
        (record,) = [r for r in await records(shop) if r.body["sale_id"] == offer.sale_id]
        assert record.body["onchain"] is None and record.body["lightning"]["msat"] == offer.msat
        await shop.lightning.pay(sale_label(offer.sale_id))
        await statuses.until("paid")


async def test_gap_limit_reached_without_lightning_refuses_until_one_is_closed(
    tmp_path: Path,
) -> None:
    async with bitcoin_shop(tmp_path, lightning=False) as shop:
        offers = await twenty_waiting(shop)
        with pytest.raises(PaymentUnavailable) as refused:
            await shop.payments.offer(await cart_of(shop), STAFF)
        assert str(refused.value).startswith(GAP_WORDS)
        assert len(await records(shop, "payment")) == 20  # nothing journalled for the refusal
        # Cancelling a waiting sale frees its (unpaid) address for the next one.
        await shop.payments.cancel(offers[0].sale_id)
        again = await shop.payments.offer(await cart_of(shop), STAFF)
        assert again.address == offers[0].address and again.notes == ()
