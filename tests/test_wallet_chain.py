"""The Esplora chain source against the Esplora simulator, over real HTTP on a local port."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from http_helpers import closed_port, serve

from appliance.sim.esplora import EsploraSim
from appliance.store import addresses
from appliance.store.db import open_db
from appliance.wallet.chain import (
    BitcoinCoreSource,
    ChainRejected,
    ChainUnavailable,
    EsploraSource,
)
from appliance.wallet.descriptors import parse_wallet

ADDRESS = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # BIP84 m/84'/0'/0'/0/0
OTHER = "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
# BIP173's testnet P2WPKH vector and BIP49's testnet receive address 0 (P2SH).
TESTNET_ADDRESSES = (
    "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx",
    "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2",
)
BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf3"
    "1mGDtKsAYz2oz2AGutZYs"
)


@dataclass
class Chain:
    sim: EsploraSim
    source: EsploraSource
    url: str
    http: httpx.AsyncClient


@pytest.fixture
async def chain() -> AsyncIterator[Chain]:
    sim = EsploraSim(tip=800_000)
    async with serve(sim.app()) as url, httpx.AsyncClient(timeout=5) as http:
        yield Chain(sim, EsploraSource(http, url), url, http)


async def test_nothing_arrived_yet(chain: Chain) -> None:
    activity = await chain.source.address_activity(ADDRESS)
    assert activity.txs == () and activity.received_sats == 0 and activity.confirmations == 0
    assert await chain.source.tip_height() == 800_000


async def test_mempool_payment_then_confirmations(chain: Chain) -> None:
    txid = chain.sim.pay(ADDRESS, 25_000, rbf=True)
    chain.sim.pay(OTHER, 99_999)  # someone else's payment is not ours
    seen = await chain.source.address_activity(ADDRESS)
    assert (seen.received_sats, seen.confirmed_sats, seen.confirmations) == (25_000, 0, 0)
    assert seen.txids == (txid,) and seen.rbf and seen.unconfirmed_rbf
    assert await chain.source.tx_confirmations(txid) == 0
    chain.sim.mine()
    chain.sim.mine(2)
    seen = await chain.source.address_activity(ADDRESS)
    assert (seen.confirmed_sats, seen.confirmations) == (25_000, 3)
    assert seen.rbf and not seen.unconfirmed_rbf
    assert await chain.source.tx_confirmations(txid) == 3


async def test_several_payments_sum_and_the_least_confirmed_counts(chain: Chain) -> None:
    first = chain.sim.pay(ADDRESS, 10_000, confirmations=6)
    second = chain.sim.pay(ADDRESS, 5_000)
    seen = await chain.source.address_activity(ADDRESS)
    assert seen.received_sats == 15_000 and seen.confirmed_sats == 10_000
    assert seen.confirmations == 0 and not seen.rbf
    assert seen.txids == (second, first)  # mempool first, as Esplora lists them
    assert {tx.txid: tx.confirmations for tx in seen.txs} == {first: 6, second: 0}


async def test_more_than_one_page_of_confirmed_transactions(chain: Chain) -> None:
    for i in range(60):
        chain.sim.pay(ADDRESS, 1_000 + i, confirmations=1 + i)
    seen = await chain.source.address_activity(ADDRESS)
    assert len(seen.txs) == 60 and len(set(seen.txids)) == 60
    assert seen.received_sats == sum(1_000 + i for i in range(60))
    assert any("/txs/chain/" in path for path in chain.sim.requests)


async def test_outage_and_refusals_are_told_apart(chain: Chain) -> None:
    with pytest.raises(ChainRejected, match="HTTP 400 Invalid Bitcoin address"):
        await chain.source.address_activity("bc1qnotanaddress")
    with pytest.raises(ChainRejected, match="letters and digits"):
        await chain.source.address_activity("../blocks")
    with pytest.raises(ChainRejected, match="HTTP 404"):
        await chain.source.tx_confirmations("ab" * 32)
    chain.sim.failing = 503
    with pytest.raises(ChainUnavailable, match="HTTP 503"):
        await chain.source.address_activity(ADDRESS)
    chain.sim.failing = 0
    closed = EsploraSource(chain.http, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(ChainUnavailable):
        await closed.tip_height()


async def test_an_esplora_of_one_network_refuses_other_addresses(chain: Chain) -> None:
    chain.sim.network = "mainnet"
    await chain.source.address_activity(ADDRESS)
    for testnet in TESTNET_ADDRESSES:
        with pytest.raises(ChainRejected, match="HTTP 400 Address on invalid network") as caught:
            await chain.source.address_activity(testnet)
        assert caught.value.status == 400
    chain.sim.network = "testnet"
    for testnet in TESTNET_ADDRESSES:
        await chain.source.address_activity(testnet)
    with pytest.raises(ChainRejected, match="invalid network"):
        await chain.source.address_activity(ADDRESS)


async def test_not_esplora_is_rejected(chain: Chain) -> None:
    wrong = EsploraSource(chain.http, chain.url + "/_sim")  # a path that answers 405, not JSON
    with pytest.raises(ChainRejected):
        await wrong.address_activity(ADDRESS)


async def test_allocation_checks_a_released_address_on_the_chain(
    chain: Chain, tmp_path: Path
) -> None:
    wallet = parse_wallet(BIP84_ZPUB)
    conn = await open_db(tmp_path / "db.sqlite3")

    async def unused(address: str) -> bool:
        return (await chain.source.address_activity(address)).received_sats == 0

    try:
        for i in range(2):
            await addresses.allocate(conn, wallet, f"s{i}", gap_limit=2)
        await addresses.release(conn, "s0")
        chain.sim.pay(ADDRESS, 1_000)  # the walked-away customer paid after all
        got = await addresses.allocate(conn, wallet, "next", gap_limit=2, check_unused=unused)
        assert got.address == wallet.receive_address(2) and not got.reused
    finally:
        await conn.close()


async def test_core_source_says_it_is_not_there_yet() -> None:
    core = BitcoinCoreSource("http://127.0.0.1:8332")
    with pytest.raises(NotImplementedError, match="Esplora"):
        await core.address_activity(ADDRESS)


def test_cli_simulator_serves_and_is_driven_over_http() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "sim", "esplora", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # printed once the server accepts connections
        match = re.match(r"esplora simulator on (http://127\.0\.0\.1:\d+) ", first)
        assert match, first or proc.stderr.read()  # type: ignore[union-attr]
        url = match.group(1)
        paid = httpx.post(url + "/_sim/pay", json={"address": ADDRESS, "sats": 777, "rbf": True})
        assert paid.status_code == 200
        assert httpx.post(url + "/_sim/mine", json={"blocks": 2}).json()["tip"] == 800_002

        async def check() -> None:
            async with httpx.AsyncClient(timeout=5) as http:
                seen = await EsploraSource(http, url).address_activity(ADDRESS)
            assert (seen.received_sats, seen.confirmations, seen.rbf) == (777, 2, True)

        asyncio.run(check())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
