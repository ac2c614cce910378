"""Bitcoin payments made while the till was switched off: the next boot finds them (the Lightning
watcher's catch-up, the chain monitor's first look), records each sale once, prints its receipt
and publishes it as ``UnwatchedPayment``, as nobody is watching the sale any more."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import BitcoinShop, bitcoin_shop, offered, payment_states, records
from uplink_helpers import wait_until

from appliance.store import checkouts, print_queue
from appliance.store import lightning as ln_store
from appliance.wallet.lightning import sale_label


async def reported_again(shop: BitcoinShop, pay_index: int) -> None:
    """Wait until the watcher has also taken the payment from ``waitanyinvoice``. The first look
    at boot (the catch-up, or deleting the expired invoice) found it by label and did not move
    the stored cursor, so the node reports it once more from there."""

    async def cursor_moved() -> bool:
        return await ln_store.last_pay_index(shop.till.conn) >= pay_index

    await wait_until(cursor_moved, 10.0, f"the settlement cursor to reach {pay_index}")


async def assert_one_sale_printed(shop: BitcoinShop, sale_id: str) -> None:
    (sale,) = await records(shop, "sale")
    assert sale.body["sale_id"] == sale_id
    await shop.printer.wait_receipts(1)
    await shop.payments.check()  # one more look at the chain: nothing new either
    assert len(await records(shop, "sale")) == 1
    assert await print_queue.waiting_before(shop.till.conn, sale.seq + 1) == 0
    assert len(shop.printer.receipts()) == 1


@pytest.mark.parametrize("after_expiry", [False, True], ids=["in-time", "back-after-expiry"])
async def test_lightning_paid_while_the_till_was_off(tmp_path: Path, after_expiry: bool) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, _ = await offered(shop)
        await shop.close_till()
        invoice = await shop.lightning.pay(sale_label(offer.sale_id))
        if after_expiry:  # the invoice was paid in time; the till comes back after it expired
            shop.clock.now = offer.expires_at + 60
        await shop.open_till()

        paid = await shop.background.until("paid")
        assert paid.record is not None and paid.record.kind == "sale"
        (payment,) = paid.record.body["payments"]
        assert payment["method"] == "lightning" and payment["received_msat"] == offer.msat
        assert paid.result.receipt.payments == (("Lightning", "€1.80"),)

        assert invoice.pay_index is not None
        await reported_again(shop, invoice.pay_index)
        await assert_one_sale_printed(shop, offer.sale_id)
        assert shop.background.states == ["paid"]
        assert await payment_states(shop, offer.sale_id) == ["offered"]


async def test_onchain_paid_while_the_till_was_off(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, _ = await offered(shop)
        await shop.close_till()
        assert offer.address is not None and offer.sats is not None
        txid = shop.esplora.pay(offer.address, offer.sats)
        await shop.open_till()  # no wake: the monitor looks at open checkouts as it starts

        paid = await shop.background.until("paid")
        assert paid.record is not None
        (payment,) = paid.record.body["payments"]
        assert payment["method"] == "onchain" and payment["txids"] == [txid]
        assert paid.result.receipt.payments == (("Bitcoin", "€1.80"),)
        await assert_one_sale_printed(shop, offer.sale_id)
        assert shop.background.states == ["paid"]
        # Paid on-chain: the invoice is gone from the node, nobody can pay it as well.
        assert sale_label(offer.sale_id) not in shop.lightning.invoices


async def test_expired_while_off_then_paid_onchain_is_late(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, _ = await offered(shop)
        await shop.close_till()
        shop.clock.now = offer.expires_at + 60
        assert offer.address is not None and offer.sats is not None
        shop.esplora.pay(offer.address, offer.sats)
        await shop.open_till()

        late = await shop.background.until("late")
        assert "Late payment of 2,940 sats" in late.message
        assert late.record is not None and late.record.body["refund_sats"] == 2940
        assert await payment_states(shop, offer.sale_id) == ["offered", "late"]
        assert await records(shop, "sale") == []
        co = await checkouts.get(shop.till.conn, offer.sale_id)
        assert co is not None and co.state == "late"
        # The invoice of the closed checkout is gone: it cannot complete the sale now.
        assert sale_label(offer.sale_id) not in shop.lightning.invoices
        assert shop.background.states == ["late"]
