"""The chain sources against the simulators, over real HTTP on a local port.

The ``chain`` fixture runs each test twice: with ``EsploraSource`` on the Esplora simulator and
with ``BitcoinCoreSource`` on Bitcoin Core's JSON-RPC over the same simulated chain, so both
implementations are held to the same answers for the same payments. Tests of one source only
narrow it with ``@pytest.mark.parametrize("chain", [...], indirect=True)``; the Bitcoin Core
source's own behaviour (its wallet, logins, errors) is in test_wallet_bitcoind.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from http_helpers import closed_port, serve, sim_command

from appliance.store import addresses
from appliance.store.db import open_db
from appliance.wallet.chain import (
    BitcoinCoreSource,
    ChainRejected,
    ChainSource,
    ChainUnavailable,
    EsploraSource,
)
from appliance.wallet.descriptors import parse_wallet
from bitagora_devtools.sim.bitcoind import BitcoindSim
from bitagora_devtools.sim.esplora import EsploraSim

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


SOURCES = ["esplora", "bitcoind"]
ESPLORA_ONLY = pytest.mark.parametrize("chain", ["esplora"], indirect=True)


@dataclass
class Chain:
    kind: str  # esplora | bitcoind
    sim: EsploraSim
    source: ChainSource
    url: str
    http: httpx.AsyncClient


def core_source(http: httpx.AsyncClient, url: str, **options: Any) -> BitcoinCoreSource:
    login = {"user": "bitagora", "password": "sim-password"}
    return BitcoinCoreSource(http, url, parse_wallet(BIP84_ZPUB), **(login | options))


@pytest.fixture(params=SOURCES)
async def chain(request: pytest.FixtureRequest) -> AsyncIterator[Chain]:
    """One chain served both ways (Esplora paths and JSON-RPC on one port), one source asking."""
    sim = EsploraSim(tip=800_000)
    async with serve(BitcoindSim(sim).app()) as url, httpx.AsyncClient(timeout=5) as http:
        source: ChainSource
        if request.param == "esplora":
            source = EsploraSource(http, url)
        else:
            source = core_source(http, url)
            # The node's wallet holds the till's descriptor before anyone pays, as once the till
            # has asked about its first address (money in the mempool before the import is only
            # seen once mined: test_wallet_bitcoind.py).
            await source.prepare()
        yield Chain(request.param, sim, source, url, http)


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
    if chain.kind == "esplora":
        assert any("/txs/chain/" in path for path in chain.sim.requests)


async def test_exact_amounts_however_the_source_writes_them(chain: Chain) -> None:
    # Esplora gives sats; Bitcoin Core BTC as JSON numbers: 0.00002940 and 20999999.97690000
    # must come out as these integers, never through a float.
    small = chain.sim.pay(ADDRESS, 2_940)
    huge = chain.sim.pay(ADDRESS, 2_099_999_997_690_000, confirmations=1)
    seen = await chain.source.address_activity(ADDRESS)
    assert {tx.txid: tx.sats for tx in seen.txs} == {small: 2_940, huge: 2_099_999_997_690_000}
    assert seen.received_sats == 2_099_999_997_692_940


async def test_a_transaction_that_left_the_mempool_is_not_money(chain: Chain) -> None:
    # Replaced (a fee bump) or evicted: Esplora stops listing it; Bitcoin Core's wallet keeps it
    # at 0 confirmations, so the source must leave it out or a fee bump would count twice.
    first = chain.sim.pay(ADDRESS, 7_000, rbf=True)
    final = chain.sim.pay(ADDRESS, 3_000)
    chain.sim.drop(first)
    bump = chain.sim.pay(ADDRESS, 7_000, rbf=True)
    seen = await chain.source.address_activity(ADDRESS)
    assert seen.txids == (bump, final) and seen.received_sats == 10_000
    with pytest.raises(ChainRejected):
        await chain.source.tx_confirmations(first)
    chain.sim.drop(final)
    chain.sim.mine()
    seen = await chain.source.address_activity(ADDRESS)
    assert seen.txids == (bump,) and (seen.confirmed_sats, seen.confirmations) == (7_000, 1)


async def test_refusals_and_outages_are_told_apart(chain: Chain) -> None:
    with pytest.raises(ChainRejected):
        await chain.source.address_activity("bc1qnotanaddress")
    with pytest.raises(ChainRejected, match="letters and digits"):
        await chain.source.address_activity("../blocks")
    with pytest.raises(ChainRejected):
        await chain.source.tx_confirmations("ab" * 32)  # no such transaction
    with pytest.raises(ChainRejected, match="64 lower-case hex"):
        await chain.source.tx_confirmations("AB" * 32)
    chain.sim.failing = 503
    with pytest.raises(ChainUnavailable, match="HTTP 503"):
        await chain.source.address_activity(ADDRESS)
    with pytest.raises(ChainUnavailable, match="HTTP 503"):
        await chain.source.tip_height()
    chain.sim.failing = 0
    assert await chain.source.tip_height() == 800_000


@pytest.mark.parametrize("kind", SOURCES)
async def test_nobody_listening_is_unavailable(kind: str) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    async with httpx.AsyncClient(timeout=5) as http:
        source = EsploraSource(http, url) if kind == "esplora" else core_source(http, url)
        with pytest.raises(ChainUnavailable):
            await source.tip_height()
        with pytest.raises(ChainUnavailable):
            await source.address_activity(ADDRESS)


@ESPLORA_ONLY
async def test_esplora_refusals_name_the_status(chain: Chain) -> None:
    with pytest.raises(ChainRejected, match="HTTP 400 Invalid Bitcoin address"):
        await chain.source.address_activity("bc1qnotanaddress")
    with pytest.raises(ChainRejected, match="HTTP 404"):
        await chain.source.tx_confirmations("ab" * 32)


@ESPLORA_ONLY
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


@ESPLORA_ONLY
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


def test_cli_simulator_serves_and_is_driven_over_http() -> None:
    with sim_command("esplora", "--port", "0") as (proc, first):
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
