"""`bitagora doctor`'s onchain check with `[onchain] source = "bitcoind"`, against the Bitcoin
Core JSON-RPC simulator: the node answers on the wallet's network and its watch-only wallet
watches the till's descriptor (created and filled by the check if need be)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from http_helpers import closed_port, serve

from appliance.config import Settings, load_settings
from appliance.doctor import onchain_check
from bitagora_devtools.sim.bitcoind import BitcoindSim
from bitagora_devtools.sim.esplora import EsploraSim

pytestmark = pytest.mark.timeout(60)

ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf3"
    "1mGDtKsAYz2oz2AGutZYs"
)
RECEIVE_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
SEEN = f"wpkh wallet on mainnet, receive #0 {RECEIVE_0}"


@dataclass
class Node:
    data_dir: Path
    sim: BitcoindSim
    url: str

    def settings(self, **env: str) -> Settings:
        values = {
            "BITAGORA_ONCHAIN_WALLET": ZPUB,
            "BITAGORA_ONCHAIN_SOURCE": "bitcoind",
            "BITAGORA_ONCHAIN_BITCOIND_URL": self.url,
            "BITAGORA_ONCHAIN_BITCOIND_USER": "bitagora",
            "BITAGORA_ONCHAIN_BITCOIND_PASSWORD": "sim-password",
        }
        return load_settings(self.data_dir, env=values | env)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    sim = BitcoindSim(EsploraSim(tip=800_000, network="mainnet"))
    async with serve(sim.app()) as url:
        yield Node(tmp_path, sim, url)


async def test_the_check_sets_up_the_wallet_then_finds_it(node: Node) -> None:
    check = await onchain_check(node.settings(), offline=False)
    assert (check.status, check.detail) == (
        "OK",
        f"{SEEN}; bitcoind {node.url} on main at block 800000, wallet 'bitagora' watches it, "
        "created now, descriptor imported now",
    )
    check = await onchain_check(node.settings(), offline=False)
    assert check.status == "OK" and check.detail.endswith("wallet 'bitagora' watches it")


async def test_offline_asks_no_node(node: Node) -> None:
    check = await onchain_check(node.settings(), offline=True)
    assert (check.status, check.detail) == ("OK", f"{SEEN}; bitcoind not asked (--offline)")
    assert node.sim.calls == []


async def test_node_down_or_login_refused_fail_with_what_to_do(node: Node) -> None:
    down = node.settings(BITAGORA_ONCHAIN_BITCOIND_URL=f"http://127.0.0.1:{closed_port()}")
    check = await onchain_check(down, offline=False)
    assert check.status == "FAIL" and check.detail.startswith(f"{SEEN}; bitcoind unreachable")
    assert check.action.startswith("check that bitcoind runs and onchain.bitcoind_url")

    check = await onchain_check(
        node.settings(BITAGORA_ONCHAIN_BITCOIND_PASSWORD="wrong"), offline=False
    )
    assert check.status == "FAIL" and "check rpcuser/rpcpassword or the cookie file" in check.detail
    assert check.action.startswith("check onchain.bitcoind_user and bitcoind_password")


async def test_a_node_of_another_network_or_a_wallet_with_keys_fails(node: Node) -> None:
    node.sim.chain.network = "signet"
    check = await onchain_check(node.settings(), offline=False)
    assert check.status == "FAIL"
    assert "bitcoind is on 'signet' but the wallet is a mainnet wallet" in check.detail
    node.sim.chain.network = "mainnet"
    check = await onchain_check(
        node.settings(BITAGORA_ONCHAIN_BITCOIND_WALLET="spending"), offline=False
    )
    assert check.status == "OK"  # a new name is created watch-only
    node.sim.wallets["spending"].private_keys = True
    check = await onchain_check(
        node.settings(BITAGORA_ONCHAIN_BITCOIND_WALLET="spending"), offline=False
    )
    assert check.status == "FAIL" and "can hold private keys" in check.detail


async def test_a_node_still_syncing_is_a_warning(node: Node) -> None:
    node.sim.headers_ahead = 1200
    check = await onchain_check(node.settings(), offline=False)
    assert check.status == "WARN"
    assert check.detail.endswith("still syncing (800000 of 801200 blocks)")
    assert check.action.startswith("wait for bitcoind to catch up")
