"""Bitcoin checkout through the till's payment service, against the simulators (Esplora over
HTTP, Core Lightning JSON-RPC on a unix socket, exchange tickers over HTTP): every path from the
offer to paid, overpaid, underpaid, expired, cancelled and late, each journalled."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bitcoin_helpers import (
    RATE,
    STAFF,
    bitcoin_shop,
    cart_of,
    offered,
    payment_states,
    records,
)

from appliance.core.btc import fiat_to_msat, fiat_to_sat
from appliance.core.roles import NotAuthorized
from appliance.payments.bitcoin import PaymentUnavailable
from appliance.services.till import Staff
from appliance.store import addresses
from appliance.store.export import verify_database
from appliance.wallet.lightning import sale_label
from bitagora_protocol.money import Money


async def test_unified_offer_locks_the_rate_and_journals_it(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, _ = await offered(shop)
        total = Money(180, "EUR")
        assert offer.total == total and offer.rate == RATE
        assert offer.sats == fiat_to_sat(total, shop.payments.rates.usable().rate)  # type: ignore[union-attr]
        assert offer.msat == fiat_to_msat(total, shop.payments.rates.usable().rate)  # type: ignore[union-attr]
        assert offer.address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
        assert offer.uri.startswith(f"bitcoin:{offer.address}?amount=0.0000294&")
        assert offer.uri.endswith(f"&lightning={offer.bolt11}")
        (record,) = await records(shop, "payment")
        body = record.body
        assert body["state"] == "offered" and body["sale_id"] == offer.sale_id
        assert body["rate"]["rate"] == RATE and len(body["rate"]["sources"]) == 4
        assert body["onchain"] == {
            "address": offer.address,
            "sats": offer.sats,
            "wallet_id": body["onchain"]["wallet_id"],
            "index": 0,
        }
        assert body["lightning"]["msat"] == offer.msat
        assert shop.lightning.invoices[sale_label(offer.sale_id)].amount_msat == offer.msat


async def test_no_rate_refuses_the_payment_and_offers_nothing(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        shop.rates.answer(kraken=500, bitstamp=500, coinbase=500, coingecko=500)
        with pytest.raises(PaymentUnavailable, match="No exchange rate"):
            await shop.payments.offer(await cart_of(shop), STAFF)
        assert await records(shop) == [] and shop.lightning.invoices == {}


async def test_paid_by_lightning_records_the_sale_and_prints(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        await shop.lightning.pay(sale_label(offer.sale_id))
        paid = await statuses.until("paid")
        sale = paid.record
        assert sale is not None and sale.kind == "sale"
        (payment,) = sale.body["payments"]
        assert payment["method"] == "lightning" and payment["amount"] == 180
        assert payment["msat"] == payment["received_msat"] == offer.msat
        assert payment["refund_msat"] == 0 and payment["rate"]["rate"] == RATE
        assert paid.result.receipt.payments == (("Lightning", "€1.80"),)
        # The address was not needed: it may be offered again within the gap limit.
        assert await addresses.unused_in_a_row(shop.till.conn, shop.payments._rails.wallet) == 1  # type: ignore[arg-type]
        assert verify_database(shop.till.settings.database_path).count == 2


async def test_lightning_overpayment_is_recorded_for_refund(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        offer, statuses = await offered(shop)
        assert offer.address is None and offer.uri == f"lightning:{offer.bolt11}"
        assert offer.msat is not None
        await shop.lightning.pay(sale_label(offer.sale_id), offer.msat + 5_000)
        status = await statuses.until("overpaid")
        assert "5,000 msat too much" in status.message
        payment = status.record.body["payments"][0]  # type: ignore[union-attr]
        assert payment["refund_msat"] == 5_000


async def test_small_onchain_payment_settles_unconfirmed(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, lightning=False) as shop:
        offer, statuses = await offered(shop)
        assert offer.sats == 2940 and offer.bolt11 is None
        txid = shop.esplora.pay(offer.address, offer.sats)  # type: ignore[arg-type]
        shop.payments.wake()
        paid = await statuses.until("paid")
        payment = paid.record.body["payments"][0]  # type: ignore[union-attr]
        assert payment["method"] == "onchain" and payment["txids"] == [txid]
        assert payment["received_sats"] == 2940 and payment["confirmations"] == 0


async def test_rbf_payment_waits_for_a_confirmation(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        shop.esplora.pay(offer.address, offer.sats, rbf=True)  # type: ignore[arg-type]
        shop.payments.wake()
        confirming = await statuses.until("confirming")
        assert "waiting for 1 confirmation (0/1)" in confirming.message
        shop.esplora.mine(1)
        shop.payments.wake()
        await statuses.until("paid")
        assert await payment_states(shop, offer.sale_id) == ["offered", "confirming"]
        # Paid on-chain: the invoice is gone from the node, nobody can pay it twice.
        assert sale_label(offer.sale_id) not in shop.lightning.invoices


async def test_large_onchain_payment_needs_more_confirmations(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, lightning=False) as shop:
        # 350 espressos: 630 EUR, over 1,000,000 sats: 3 confirmations (tiers "0:1|1000000:3").
        offer, statuses = await offered(shop, await cart_of(shop, quantity=350))
        assert offer.sats is not None and offer.sats > 1_000_000
        shop.esplora.pay(offer.address, offer.sats)  # type: ignore[arg-type]
        shop.payments.wake()
        assert "(0/3)" in (await statuses.until("confirming")).message
        shop.esplora.mine(2)
        shop.payments.wake()
        await shop.payments.check()
        assert "paid" not in statuses.states
        shop.esplora.mine(1)
        shop.payments.wake()
        await statuses.until("paid")


async def test_underpaid_then_topped_up(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        shop.esplora.pay(offer.address, 2000)  # type: ignore[arg-type]
        shop.payments.wake()
        short = await statuses.until("underpaid")
        assert "Received 2,000 sats of 2,940 sats: 940 sats still due" in short.message
        assert short.uri == f"bitcoin:{offer.address}?amount=0.0000094&label=BitAgora%20Demo%20Shop"
        shop.esplora.pay(offer.address, 940)  # type: ignore[arg-type]
        shop.payments.wake()
        paid = await statuses.until("paid")
        assert len(paid.record.body["payments"][0]["txids"]) == 2  # type: ignore[union-attr]


async def test_underpaid_at_expiry_cancels_the_sale_for_refund(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        shop.esplora.pay(offer.address, 1000)  # type: ignore[arg-type]
        shop.payments.wake()
        await statuses.until("underpaid")
        shop.clock.now = offer.expires_at + 1
        shop.payments.wake()
        expired = await statuses.until("expired_underpaid")
        assert "1,000 sats marked for refund" in expired.message
        assert expired.record.body["refund_sats"] == 1000  # type: ignore[union-attr]
        assert await records(shop, "sale") == []
        assert sale_label(offer.sale_id) not in shop.lightning.invoices


async def test_each_late_record_owes_only_what_is_new(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        address = offer.address
        assert address is not None
        shop.esplora.pay(address, 1000)
        shop.payments.wake()
        await statuses.until("underpaid")
        shop.clock.now = offer.expires_at + 1
        shop.payments.wake()
        await statuses.until("expired_underpaid")
        for sats in (500, 200):  # the customer keeps sending after the sale was given up
            shop.clock.now += 60
            shop.esplora.pay(address, sats)
            shop.payments.wake()
            await statuses.first(
                lambda s, owed=sats: s.state == "late" and s.record.body["refund_sats"] == owed  # type: ignore[union-attr]
            )
        owed = [r.body.get("refund_sats", 0) for r in await records(shop, "payment")]
        assert sum(owed) == 1700  # everything that reached the address, each sat owed once
        late = (await records(shop, "payment"))[-1].body
        assert late["rail"] == "onchain" and late["received_sats"] == 1700


async def test_onchain_part_before_a_lightning_payment_is_owed_back(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        assert offer.address is not None
        shop.esplora.pay(offer.address, 1000)
        shop.payments.wake()
        await statuses.until("underpaid")
        await shop.lightning.pay(sale_label(offer.sale_id))
        await statuses.until("paid")
        shop.payments.wake()
        late = await statuses.until("late")
        assert late.record.body["refund_sats"] == 1000  # type: ignore[union-attr]
        assert late.record.body["was"] == "paid"  # type: ignore[union-attr]


async def test_expired_unpaid_then_paid_late(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        shop.clock.now = offer.expires_at + 1
        shop.payments.wake()
        await statuses.until("expired")
        # The customer pays anyway, after the screen said time was up.
        shop.clock.now += 60
        shop.esplora.pay(offer.address, offer.sats)  # type: ignore[arg-type]
        shop.payments.wake()
        late = await statuses.until("late")
        assert (
            "Late payment of 2,940 sats" in late.message
            and "flagged for the manager" in late.message
        )
        assert late.record.body["refund_sats"] == 2940  # type: ignore[union-attr]
        assert await payment_states(shop, offer.sale_id) == ["offered", "expired", "late"]
        assert await records(shop, "sale") == []


async def test_onchain_overpayment_completes_and_records_the_excess(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        shop.esplora.pay(offer.address, 5000)  # type: ignore[arg-type]
        shop.payments.wake()
        status = await statuses.until("overpaid")
        assert "2,060 sats too much" in status.message
        assert status.record.body["payments"][0]["refund_sats"] == 2060  # type: ignore[union-attr]


async def test_cancel_deletes_the_invoice_and_releases_the_address(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, _ = await offered(shop)
        status = await shop.payments.cancel(offer.sale_id)
        assert status.state == "cancelled"
        assert sale_label(offer.sale_id) not in shop.lightning.invoices
        assert await addresses.for_sale(shop.till.conn, offer.sale_id) is not None
        assert (await records(shop, "payment"))[-1].body == {
            "sale_id": offer.sale_id,
            "state": "cancelled",
            "received_sats": 0,
        }


async def test_an_offer_that_cannot_be_recorded_leaves_nothing_payable_or_reserved(
    tmp_path: Path,
) -> None:
    """The address, the invoice's row and the offer's record are one transaction: when the
    record cannot be written, none of them stays, the node's invoice is deleted, and the next
    offer gets the same address (nobody saw it)."""
    async with bitcoin_shop(tmp_path) as shop:
        conn = shop.till.conn
        await conn.execute(
            "CREATE TEMP TRIGGER refuse_checkout BEFORE INSERT ON btc_checkout "
            "BEGIN SELECT RAISE(ABORT, 'the disk refuses btc_checkout'); END"
        )
        with pytest.raises(sqlite3.IntegrityError, match="the disk refuses btc_checkout"):
            await shop.payments.offer(await cart_of(shop), STAFF)
        for table in ("wallet_address_sales", "wallet_addresses", "ln_invoice"):
            assert await conn.execute_fetchall(f"SELECT * FROM {table}") == [], table
        assert await records(shop, "payment") == []
        assert shop.lightning.invoices == {}
        await conn.execute("DROP TRIGGER refuse_checkout")
        offer, _ = await offered(shop)
        assert offer.address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # index 0 again


async def test_invoice_paid_while_the_node_could_not_be_told_to_delete_it_is_late(
    tmp_path: Path,
) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        offer, statuses = await offered(shop)
        await shop.lightning.set_reachable(False)
        status = await shop.payments.cancel(offer.sale_id)
        assert status.state == "cancelled"
        await shop.lightning.set_reachable(True)
        await shop.lightning.pay(sale_label(offer.sale_id))
        late = await statuses.until("late")
        assert late.record.body["refund_msat"] == offer.msat  # type: ignore[union-attr]
        assert await records(shop, "sale") == []


async def test_paid_as_it_is_cancelled_completes_the_sale(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        # Paid at the node just as staff cancel: whichever of the watcher and the cancel
        # learns it first, the sale is recorded once and the cancel says so.
        await shop.lightning.pay(sale_label(offer.sale_id))
        status = await shop.payments.cancel(offer.sale_id)
        assert status.state == "paid"
        assert [r.kind for r in await records(shop)] == ["payment", "sale"]


async def test_a_technician_cannot_take_a_bitcoin_payment(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        technician = Staff("tess", "Tess", "technician")
        with pytest.raises(NotAuthorized, match="Tess is a technician"):
            await shop.payments.offer(await cart_of(shop), technician)
        assert await records(shop) == [] and shop.lightning.invoices == {}
