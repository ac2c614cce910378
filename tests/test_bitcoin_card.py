"""Bolt Card payments through the till's payment service: a tap hands the sale's invoice to a
local LNURL-withdraw service that pays it on the Lightning simulator, and the node's settlement
completes the sale like any other Lightning payment."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from bitcoin_helpers import BitcoinShop, bitcoin_shop, offered, payment_states, records
from lnurl_helpers import C, CardService, card_link, paying_on

from appliance.payments.bitcoin import PaymentUnavailable
from appliance.store import checkouts
from appliance.wallet.lightning import sale_label
from appliance.wallet.lnurl import LnurlAmountError, LnurlServiceError

ACCEPTED = "Card accepted: waiting for the payment…"


@asynccontextmanager
async def card_shop(
    tmp_path: Path, *, onchain: bool = True, lightning: bool = True
) -> AsyncIterator[tuple[BitcoinShop, CardService, str]]:
    async with bitcoin_shop(tmp_path, onchain=onchain, lightning=lightning) as shop:
        service = CardService(pay=paying_on(shop.lightning))
        shop.payments.lnurl_allow_insecure = True  # http to the local service
        async with card_link(service) as link:
            yield shop, service, link


async def still_open(shop: BitcoinShop, sale_id: str) -> bool:
    co = await checkouts.get(shop.till.conn, sale_id)
    assert co is not None
    return co.is_open and shop.lightning.invoices[sale_label(sale_id)].status == "unpaid"


async def test_a_tapped_card_pays_the_sale_by_lightning(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as (shop, service, link):
        offer, statuses = await offered(shop)
        await shop.payments.tap_card(offer.sale_id, link)
        paid = await statuses.until("paid")
        assert paid.record is not None and paid.record.kind == "sale"
        (payment,) = paid.record.body["payments"]
        assert payment["method"] == "lightning" and payment["received_msat"] == offer.msat
        assert paid.result.receipt.payments == (("Lightning", "€1.80"),)
        (callback,) = service.callbacks
        assert callback["pr"] == offer.bolt11 and callback["k1"].startswith("k1-")
        assert len(await records(shop, "sale")) == 1
        # Told while waiting (unless the sale was recorded first), never after it was paid.
        assert set(statuses.states[:-1]) <= {"offered"} and statuses.states[-1] == "paid"
        assert all(s.message == ACCEPTED for s in statuses.seen[:-1])


async def test_card_accepted_is_not_told_after_the_sale_is_paid(tmp_path: Path) -> None:
    """A service that answers OK only once the payment went through (as LNbits does): the sale
    may be recorded before the answer arrives, and "waiting for the payment" must not follow
    "Paid" on the screen."""
    async with card_shop(tmp_path) as (shop, service, link):
        offer, statuses = await offered(shop)
        pay = service.pay
        assert pay is not None

        async def pay_and_wait_for_the_sale(bolt11: str) -> None:
            await pay(bolt11)
            await statuses.until("paid")

        service.pay = pay_and_wait_for_the_sale
        await shop.payments.tap_card(offer.sale_id, link)
        assert statuses.states == ["paid"]


async def test_a_card_that_cannot_pay_that_much_leaves_the_offer_open(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as (shop, service, link):
        service.max_msat = 1_000_000
        offer, statuses = await offered(shop)
        with pytest.raises(LnurlAmountError, match="at most 1,000 sats now; the sale is 2,9"):
            await shop.payments.tap_card(offer.sale_id, link)
        assert service.callbacks == []  # the invoice was never handed over
        assert await still_open(shop, offer.sale_id)
        # Still payable by scanning the QR code.
        await shop.lightning.pay(sale_label(offer.sale_id))
        await statuses.until("paid")


@pytest.mark.parametrize(
    ("step", "words"),
    [
        ("card", "The card's service refused the card: card not recognised"),
        ("invoice", "The card's service refused the invoice: Daily limit exceeded"),
    ],
    ids=["card", "invoice"],
)
async def test_the_service_reason_is_shown_and_the_offer_stays_open(
    tmp_path: Path, step: str, words: str
) -> None:
    async with card_shop(tmp_path) as (shop, service, link):
        if step == "card":
            link = link.replace(C, "0000000000000000")  # a cloned card: its CMAC is wrong
        else:
            service.callback_answer = {"status": "ERROR", "reason": "Daily limit exceeded"}
        offer, statuses = await offered(shop)
        with pytest.raises(LnurlServiceError) as refused:
            await shop.payments.tap_card(offer.sale_id, link)
        assert str(refused.value) == words
        assert await still_open(shop, offer.sale_id)
        assert statuses.seen == [] and await payment_states(shop, offer.sale_id) == ["offered"]


async def test_no_card_payment_without_lightning(tmp_path: Path) -> None:
    async with card_shop(tmp_path, lightning=False) as (shop, service, link):
        offer, _ = await offered(shop)
        with pytest.raises(PaymentUnavailable, match="Lightning is not offered for this sale"):
            await shop.payments.tap_card(offer.sale_id, link)
        assert service.taps == []  # the card's service was not asked anything


@pytest.mark.parametrize("closed_by", ["cancel", "expiry"])
async def test_no_card_payment_once_the_offer_closed(tmp_path: Path, closed_by: str) -> None:
    async with card_shop(tmp_path) as (shop, service, link):
        offer, statuses = await offered(shop)
        if closed_by == "cancel":
            await shop.payments.cancel(offer.sale_id)
        else:
            shop.clock.now = offer.expires_at + 1
            shop.payments.wake()
            await statuses.until("expired")
        with pytest.raises(PaymentUnavailable, match="no longer open"):
            await shop.payments.tap_card(offer.sale_id, link)
        assert service.taps == []
