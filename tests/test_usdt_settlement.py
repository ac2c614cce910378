"""USDT payments follow the on-chain settlement rules: a fresh TRON address per sale from the
store (gap limit as for bitcoin), what TronGrid reports for it judged by ``core.settlement.judge``
under the TRON policy (settled once solidified). Over the TronGrid simulator on real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import httpx
import pytest
from http_helpers import serve
from test_wallet_tron import FIRST_ADDRESS, account_xpub

from appliance.config import TronSettings
from appliance.core.settlement import Seen, State, Verdict, judge
from appliance.store import addresses, checkouts
from appliance.store.db import open_db
from appliance.wallet.tron import TronAccount, parse_tron_account
from appliance.wallet.trongrid import TronGridSource
from bitagora_devtools.sim.trongrid import OTHER_TOKEN, USDT_MAINNET, TronGridSim

PRICE = 12_340_000  # 12.34 USDT
EXPIRES_AT = 1_000.0


@dataclass
class Shop:
    sim: TronGridSim
    source: TronGridSource
    conn: aiosqlite.Connection
    account: TronAccount

    async def verdict(self, address: str, now: float) -> Verdict:
        """What the payment service decides at ``now``: first sightings kept in the store, the
        way the bitcoin monitor keeps them."""
        activity = await self.source.address_activity(address)
        first, _ = await checkouts.first_seen(self.conn, address, list(activity.txids), now)
        seen = [Seen(t.txid, t.sats, t.confirmations, t.rbf, first[t.txid]) for t in activity.txs]
        return judge(PRICE, EXPIRES_AT, seen, now, TronSettings().policy())


@pytest.fixture
async def shop(tmp_path: Path) -> AsyncIterator[Shop]:
    sim = TronGridSim()
    conn = await open_db(tmp_path / "db.sqlite3")
    try:
        async with serve(sim.app()) as url, httpx.AsyncClient(timeout=30) as http:
            source = TronGridSource(http, url, sim.api_key, USDT_MAINNET)
            yield Shop(sim, source, conn, parse_tron_account(account_xpub()))
    finally:
        await conn.close()


async def test_the_address_is_committed_before_it_is_shown_and_kept_per_sale(shop: Shop) -> None:
    first = await addresses.allocate(shop.conn, shop.account, "sale-1")
    assert first.address == FIRST_ADDRESS and first.index == 0
    assert (await addresses.allocate(shop.conn, shop.account, "sale-1")) == first
    assert await addresses.for_sale(shop.conn, "sale-1") == first
    second = await addresses.allocate(shop.conn, shop.account, "sale-2")
    assert second.address == shop.account.receive_address(1)


async def test_the_gap_limit_holds_for_tron_addresses(shop: Shop) -> None:
    for n in range(3):
        await addresses.allocate(shop.conn, shop.account, f"sale-{n}", gap_limit=3)
    with pytest.raises(addresses.GapLimitReached):
        await addresses.allocate(shop.conn, shop.account, "sale-3", gap_limit=3)


async def test_paid_only_once_solidified(shop: Shop) -> None:
    address = (await addresses.allocate(shop.conn, shop.account, "sale")).address
    assert (await shop.verdict(address, 10)).state is State.WAITING
    shop.sim.pay(address, PRICE)
    confirming = await shop.verdict(address, 20)
    assert confirming.state is State.CONFIRMING and confirming.needed_confirmations == 1
    shop.sim.solidify()
    assert await shop.verdict(address, 30) == Verdict(State.PAID, PRICE, 0, 1, 1)


async def test_underpaid_then_topped_up_and_overpaid(shop: Shop) -> None:
    address = (await addresses.allocate(shop.conn, shop.account, "sale")).address
    shop.sim.pay(address, 10_000_000, solid=True)
    part = await shop.verdict(address, 10)
    assert part.state is State.UNDERPAID and part.received_sats == 10_000_000
    shop.sim.pay(address, 3_000_000, solid=True)
    over = await shop.verdict(address, 20)
    assert over.state is State.OVERPAID and over.refund_sats == 660_000


async def test_a_failed_transaction_or_another_token_pays_nothing(shop: Shop) -> None:
    address = (await addresses.allocate(shop.conn, shop.account, "sale")).address
    shop.sim.pay(address, PRICE, failed=True, solid=True)
    shop.sim.pay(address, PRICE, token=OTHER_TOKEN, solid=True)
    assert (await shop.verdict(address, 10)).state is State.WAITING
    assert (await shop.verdict(address, EXPIRES_AT + 1)).state is State.EXPIRED


async def test_underpaid_at_expiry_is_marked_for_refund_and_late_money_is_late(shop: Shop) -> None:
    address = (await addresses.allocate(shop.conn, shop.account, "sale")).address
    shop.sim.pay(address, 2_000_000, solid=True)
    assert (await shop.verdict(address, 10)).state is State.UNDERPAID
    expired = await shop.verdict(address, EXPIRES_AT + 1)
    assert expired.state is State.EXPIRED_UNDERPAID and expired.refund_sats == 2_000_000

    other = (await addresses.allocate(shop.conn, shop.account, "other")).address
    shop.sim.pay(other, PRICE, solid=True)
    late = await shop.verdict(other, EXPIRES_AT + 5)  # first seen after expiry
    assert late.state is State.LATE and late.refund_sats == PRICE
