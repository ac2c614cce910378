"""The Bitcoin Core chain source's own behaviour against the JSON-RPC simulator, over real HTTP:
its watch-only wallet (created and given the descriptor once), logins, the node's errors and
exact amounts. What it shares with the Esplora source is in test_wallet_chain.py."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from bitcoin_helpers import Statuses, bitcoin_shop
from embit.descriptor.checksum import checksum
from http_helpers import serve, sim_command

from appliance.config import ConfigError, OnchainSettings, load_settings
from appliance.services.till import Staff
from appliance.wallet.chain import (
    BitcoinCoreSource,
    ChainRejected,
    ChainUnavailable,
    EsploraSource,
    RpcError,
    btc_to_sats,
    chain_from_settings,
)
from appliance.wallet.descriptors import parse_wallet
from bitagora_devtools.sim.bitcoind import BitcoindSim, SimWallet
from bitagora_devtools.sim.esplora import EsploraSim

pytestmark = pytest.mark.timeout(60)

# BIP84's "abandon … about" account 0 and its receive address 0; BIP173's P2WPKH example, an
# address of nobody's wallet here.
BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf3"
    "1mGDtKsAYz2oz2AGutZYs"
)
WALLET = parse_wallet(BIP84_ZPUB)
ADDRESS = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
FOREIGN = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
TESTNET_ADDRESS = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
LOGIN = {"user": "bitagora", "password": "sim-password"}


@dataclass
class Node:
    sim: BitcoindSim
    url: str
    http: httpx.AsyncClient

    @property
    def chain(self) -> EsploraSim:
        return self.sim.chain

    def source(self, **options: Any) -> BitcoinCoreSource:
        return BitcoinCoreSource(self.http, self.url, WALLET, **(LOGIN | options))

    def count(self, method: str) -> int:
        return sum(1 for call in self.sim.calls if call.split("@")[0] == method)


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    sim = BitcoindSim(EsploraSim(tip=800_000))
    async with serve(sim.app()) as url, httpx.AsyncClient(timeout=5) as http:
        yield Node(sim, url, http)


# -- the watch-only wallet -------------------------------------------------------------------


async def test_first_use_creates_the_wallet_and_imports_the_descriptor_once(node: Node) -> None:
    source = node.source()
    assert (await source.address_activity(ADDRESS)).txs == ()
    wallet = node.sim.wallets["bitagora"]
    assert not wallet.private_keys and wallet.blank and node.sim.loaded == ["bitagora"]
    receive, change = (d.desc for d in wallet.imported)
    body = WALLET.descriptor.split("#")[0]
    for desc, branch in ((receive, "0"), (change, "1")):
        expected = body.replace("/<0;1>/*", f"/{branch}/*")  # single path: Core before 29 too
        assert desc == f"{expected}#{checksum(expected)}"
    assert [(d.active, d.internal, d.range_end) for d in wallet.imported] == [
        (True, False, 999),
        (True, True, 999),
    ]
    await source.address_activity(ADDRESS)
    await source.tip_height()
    assert (node.count("createwallet"), node.count("importdescriptors")) == (1, 1)

    # The kiosk restarts: the wallet is there and holds the descriptor; nothing is redone.
    info = await node.source().prepare()
    assert (info.created, info.imported) == (False, False)
    # bitcoind restarts without loading it: loaded again, not created or imported again.
    node.sim.loaded.clear()
    info = await node.source().prepare()
    assert (info.created, info.imported, info.wallet) == (False, False, "bitagora")
    assert (node.count("loadwallet"), node.count("createwallet")) == (2, 1)
    assert node.count("importdescriptors") == 1


async def test_a_wallet_unloaded_while_running_is_loaded_again(node: Node) -> None:
    source = node.source()
    await source.prepare()
    node.chain.pay(ADDRESS, 5_000)
    node.sim.loaded.clear()
    assert (await source.address_activity(ADDRESS)).received_sats == 5_000
    assert node.sim.loaded == ["bitagora"] and node.count("createwallet") == 1


async def test_other_wallets_on_the_node_do_not_matter(node: Node) -> None:
    node.sim.wallets["merchant"] = SimWallet("merchant", private_keys=True, blank=False)
    node.sim.loaded.append("merchant")
    source = node.source()
    await source.prepare()  # calls go to /wallet/bitagora, never to the default wallet
    node.chain.pay(ADDRESS, 1_234)
    assert (await source.address_activity(ADDRESS)).received_sats == 1_234
    assert node.sim.loaded == ["merchant", "bitagora"]


@pytest.mark.parametrize(
    ("wallet", "message"),
    [
        (SimWallet("bitagora", private_keys=True), "can hold private keys"),
        (SimWallet("bitagora", descriptor_wallet=False), "is a legacy wallet"),
    ],
)
async def test_a_wallet_of_that_name_that_cannot_watch_is_refused(
    node: Node, wallet: SimWallet, message: str
) -> None:
    node.sim.wallets["bitagora"] = wallet
    with pytest.raises(ChainRejected, match=message) as caught:
        await node.source().address_activity(ADDRESS)
    assert "name a new onchain.bitcoind_wallet" in str(caught.value)
    assert node.count("importdescriptors") == 0


async def test_a_node_of_another_network_is_refused(node: Node) -> None:
    node.chain.network = "testnet"
    with pytest.raises(ChainRejected, match="bitcoind is on 'test' but the wallet is a mainnet"):
        await node.source().address_activity(ADDRESS)
    assert node.sim.wallets == {}  # nothing created on the wrong node


async def test_money_that_reached_the_mempool_before_the_import_counts_once_mined(
    node: Node,
) -> None:
    # importdescriptors with timestamp "now" does not rescan (a till's fresh addresses have no
    # history); Core's wallet only sees such a payment when a block takes it.
    early = node.chain.pay(ADDRESS, 4_000)
    source = node.source()
    assert (await source.address_activity(ADDRESS)).txs == ()
    node.chain.mine()
    seen = await source.address_activity(ADDRESS)
    assert seen.txids == (early,) and seen.confirmations == 1


async def test_an_address_past_the_imported_range_widens_it(node: Node) -> None:
    far = WALLET.receive_address(1500)  # a till that sold a lot before it was pointed at the node
    source = node.source()
    assert (await source.address_activity(far)).txs == ()
    receive = node.sim.wallets["bitagora"].imported[0]
    assert receive.range_end == 1999 and node.count("importdescriptors") == 2
    txid = node.chain.pay(far, 21_000)
    assert (await source.address_activity(far)).txids == (txid,)
    assert node.count("importdescriptors") == 2  # known to be watched now


async def test_an_address_that_is_not_the_wallets_is_refused(node: Node) -> None:
    source = node.source(range_limit=2000)
    with pytest.raises(ChainRejected, match=rf"{FOREIGN} is not an address of the till's wallet"):
        await source.address_activity(FOREIGN)
    assert node.sim.wallets["bitagora"].imported[0].range_end == 1999
    with pytest.raises(RpcError, match=r"getaddressinfo: Invalid address \(RPC error -5\)"):
        await source.address_activity(TESTNET_ADDRESS)


# -- transactions ----------------------------------------------------------------------------


async def test_rbf_is_read_from_the_inputs_without_core_s_deprecated_field(node: Node) -> None:
    node.sim.bip125_field = False  # Core 32 leaves bip125-replaceable out
    source = node.source()
    await source.prepare()
    signals = node.chain.pay(ADDRESS, 1_000, rbf=True)
    final = node.chain.pay(ADDRESS, 2_000)
    seen = {tx.txid: tx.rbf for tx in (await source.address_activity(ADDRESS)).txs}
    assert seen == {signals: True, final: False}


async def test_confirmations_of_one_transaction(node: Node) -> None:
    source = node.source()
    await source.prepare()
    txid = node.chain.pay(ADDRESS, 3_000)
    assert await source.tx_confirmations(txid) == 0
    node.chain.mine(6)
    assert await source.tx_confirmations(txid) == 6
    with pytest.raises(RpcError, match="Invalid or non-wallet transaction id") as caught:
        await source.tx_confirmations(node.chain.pay(FOREIGN, 1_000))
    assert caught.value.code == -5


@pytest.mark.parametrize(
    ("amount", "sats"),
    [
        (Decimal("0.00002940"), 2_940),
        (Decimal("20999999.97690000"), 2_099_999_997_690_000),
        (Decimal("21000000.00000000"), 2_100_000_000_000_000),
        (1, 100_000_000),
        (Decimal("0"), 0),
    ],
)
def test_btc_amounts_become_exact_sats(amount: Any, sats: int) -> None:
    assert btc_to_sats(amount) == sats


@pytest.mark.parametrize(
    "amount", [Decimal("0.000000001"), Decimal("21000000.00000001"), 0.1, True, "0.1", None]
)
def test_amounts_that_are_not_whole_sats_are_refused(amount: Any) -> None:
    with pytest.raises(ChainRejected):
        btc_to_sats(amount)


# -- logins ----------------------------------------------------------------------------------


async def test_a_wrong_password_says_what_to_check(node: Node) -> None:
    with pytest.raises(ChainRejected, match="check rpcuser/rpcpassword or the cookie file") as e:
        await node.source(password="wrong").tip_height()
    assert e.value.status == 401 and "wrong" not in str(e.value)


async def test_a_method_the_rpcwhitelist_denies(node: Node) -> None:
    node.sim.forbidden = {"importdescriptors"}
    with pytest.raises(ChainRejected, match="HTTP 403 on importdescriptors.*rpcwhitelist") as e:
        await node.source().address_activity(ADDRESS)
    assert e.value.status == 403


async def test_cookie_login_follows_a_node_restart(node: Node, tmp_path: Path) -> None:
    cookie = tmp_path / ".cookie"
    node.sim.write_cookie(cookie)
    node.sim.logins = {}  # the cookie is the only way in
    source = node.source(user="", password="", cookie=cookie)
    assert await source.tip_height() == 800_000
    node.sim.write_cookie(cookie)  # bitcoind restarted: a new cookie
    assert await source.tip_height() == 800_000
    assert cookie.read_text().startswith("__cookie__:")


async def test_cookie_missing_or_unreadable(node: Node, tmp_path: Path) -> None:
    with pytest.raises(ChainUnavailable, match="no cookie file .*is bitcoind running"):
        await node.source(cookie=tmp_path / "absent").tip_height()
    (tmp_path / "dir").mkdir()  # reading a directory fails for root too
    with pytest.raises(ChainRejected, match="cannot read the cookie file .*rpccookieperms"):
        await node.source(cookie=tmp_path / "dir").tip_height()
    (tmp_path / "junk").write_text("no colon")
    with pytest.raises(ChainRejected, match="is not 'user:password'"):
        await node.source(cookie=tmp_path / "junk").tip_height()


# -- the node's errors -----------------------------------------------------------------------


async def test_outage_warmup_and_stalls_are_unavailable(node: Node) -> None:
    source = node.source()
    node.chain.failing = 503  # a proxy, or Core's "work queue depth exceeded"
    with pytest.raises(ChainUnavailable, match="HTTP 503 on getblockcount"):
        await source.tip_height()
    node.chain.failing = 0
    node.sim.warmup = "Loading block index…"
    with pytest.raises(ChainUnavailable, match="bitcoind is starting: Loading block index…"):
        await source.address_activity(ADDRESS)
    node.sim.warmup = None
    release = asyncio.Event()
    node.sim.stall = release
    try:
        quick = httpx.AsyncClient(timeout=0.2)
        async with quick:
            stalled = BitcoinCoreSource(quick, node.url, WALLET, **LOGIN)
            with pytest.raises(ChainUnavailable, match="getblockcount timed out"):
                await stalled.tip_height()
    finally:
        release.set()


@pytest.mark.parametrize("legacy", [False, True])
async def test_json_rpc_errors_are_refusals_even_as_http_500(node: Node, legacy: bool) -> None:
    # Core before 28 answers every error with HTTP 500 (404 for an unknown method); from 28 a
    # JSON-RPC 2.0 request gets HTTP 200. Either way an error object is a refusal, not an outage.
    node.sim.legacy_errors = legacy
    source = node.source()
    await source.prepare()
    with pytest.raises(RpcError) as caught:
        await source.tx_confirmations("ab" * 32)
    assert caught.value.code == -5 and "(RPC error -5)" in str(caught.value)
    node.sim.wallet_disabled = True  # an unknown method: HTTP 404 the 1.0 way
    with pytest.raises(ChainRejected, match="bitcoind runs without its wallet"):
        await node.source(wallet="another").prepare()


async def test_a_server_that_is_not_bitcoind(node: Node) -> None:
    source = BitcoinCoreSource(node.http, node.url + "/_sim", WALLET, **LOGIN)
    with pytest.raises(ChainRejected, match="not a Bitcoin Core JSON-RPC answer"):
        await source.tip_height()


# -- the till --------------------------------------------------------------------------------


async def test_a_sale_paid_through_bitcoind(tmp_path: Path) -> None:
    chain = EsploraSim(tip=800_000)
    sim = BitcoindSim(chain)
    async with serve(sim.app()) as url:
        env = {
            "BITAGORA_ONCHAIN_SOURCE": "bitcoind",
            "BITAGORA_ONCHAIN_BITCOIND_URL": url,
            "BITAGORA_ONCHAIN_BITCOIND_USER": "bitagora",
            "BITAGORA_ONCHAIN_BITCOIND_PASSWORD": "sim-password",
        }
        async with bitcoin_shop(tmp_path, lightning=False, esplora=chain, env=env) as shop:
            products = {p.sku: p for p in await shop.till.sales.products()}
            cart = shop.till.sales.new_cart()
            cart.add(products["espresso"], 1)
            offer = await shop.payments.offer(cart, Staff("ana", "Ana", "cashier"))
            statuses = Statuses()
            shop.till.watch_payment(offer.sale_id, statuses)
            await shop.payments.check()  # the look the offer wakes: it sets up the node's wallet
            assert offer.address == ADDRESS and offer.sats == 2_940
            txid = chain.pay(offer.address, offer.sats)
            shop.payments.wake()
            paid = await statuses.until("paid")
    payment = paid.record.body["payments"][0]  # type: ignore[union-attr]
    assert payment["method"] == "onchain" and payment["txids"] == [txid]
    assert payment["received_sats"] == 2_940
    assert "createwallet" in sim.calls and sim.calls.count("importdescriptors@bitagora") == 1
    assert chain.requests == []  # nothing asked the Esplora API


# -- settings --------------------------------------------------------------------------------


def onchain(**values: str) -> OnchainSettings:
    env = {f"BITAGORA_ONCHAIN_{k.upper()}": v for k, v in values.items()}
    return load_settings(Path("/nonexistent"), env=env).onchain


def test_settings_pick_the_source() -> None:
    settings = onchain(wallet=BIP84_ZPUB)
    assert settings.source == "esplora"
    http = httpx.AsyncClient()
    assert isinstance(chain_from_settings(settings, http), EsploraSource)
    core = onchain(
        wallet=BIP84_ZPUB, source="bitcoind", bitcoind_user="till", bitcoind_password="s3cret"
    )
    source = chain_from_settings(core, http)
    assert isinstance(source, BitcoinCoreSource)
    assert (source.url, source.wallet) == ("http://127.0.0.1:8332", "bitagora")
    assert "s3cret" not in repr(core)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"source": "electrum"}, "onchain.source: 'electrum' is not one of esplora, bitcoind"),
        ({}, "onchain.bitcoind_password: source 'bitcoind' needs bitcoind_user"),
        ({"bitcoind_user": "till"}, "needs bitcoind_user and bitcoind_password"),
        (
            {"bitcoind_url": "http://192.168.1.20:8332", "bitcoind_cookie": "/c"},
            "onchain.bitcoind_url: plain http would show the node's login",
        ),
        ({"bitcoind_url": "ftp://node:8332", "bitcoind_cookie": "/c"}, "not an http"),
        (
            {"bitcoind_url": "https://till:pw@node.example:8332", "bitcoind_cookie": "/c"},
            "no login in the URL",
        ),
        (
            {"bitcoind_url": "http://till:pw@127.0.0.1:8332", "bitcoind_cookie": "/c"},
            "no login in the URL",
        ),
        ({"bitcoind_wallet": "../etc", "bitcoind_cookie": "/c"}, "is not a wallet name"),
        ({"bitcoind_cookie": ".cookie"}, "the absolute path of bitcoind's .cookie"),
        (
            {"bitcoind_cookie": "/c", "bitcoind_user": "u", "bitcoind_password": "p"},
            "not both",
        ),
    ],
)
def test_bitcoind_settings_are_checked(values: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        onchain(source=values.pop("source", "bitcoind"), **values)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8332", "http://localhost:18443/", "http://[::1]:8332", "https://n:1"]
)
def test_bitcoind_urls_that_keep_the_login_safe(url: str) -> None:
    assert onchain(source="bitcoind", bitcoind_url=url, bitcoind_cookie="/c").bitcoind_url == url


def test_the_password_can_be_a_systemd_credential(tmp_path: Path) -> None:
    folder = tmp_path / "credentials"
    folder.mkdir()
    (folder / "onchain.bitcoind_password").write_text("from-credential\n")
    env = {
        "CREDENTIALS_DIRECTORY": str(folder),
        "BITAGORA_ONCHAIN_SOURCE": "bitcoind",
        "BITAGORA_ONCHAIN_BITCOIND_USER": "till",
    }
    assert load_settings(tmp_path, env=env).onchain.bitcoind_password == "from-credential"


# -- `bitagora sim bitcoind` -----------------------------------------------------------------


def test_cli_simulator_serves_both_apis_over_one_chain(tmp_path: Path) -> None:
    cookie = tmp_path / ".cookie"
    with sim_command(
        "bitcoind", "--port", "0", "--rpc-password", "pw", "--cookie", str(cookie)
    ) as (proc, first):
        pattern = r"bitcoind simulator on (http://127\.0\.0\.1:\d+) .* login bitagora:pw, cookie "
        match = re.match(pattern, first)
        assert match, first or proc.stderr.read()  # type: ignore[union-attr]
        url = match.group(1)

        async def check() -> None:
            async with httpx.AsyncClient(timeout=5) as http:
                core = BitcoinCoreSource(http, url, WALLET, cookie=cookie)
                await core.prepare()
                paid = await http.post(url + "/_sim/pay", json={"address": ADDRESS, "sats": 777})
                assert paid.status_code == 200
                seen = await core.address_activity(ADDRESS)
                esplora = await EsploraSource(http, url).address_activity(ADDRESS)
            assert seen == esplora and seen.received_sats == 777

        asyncio.run(check())
    assert not cookie.exists()  # removed at exit, as bitcoind does
