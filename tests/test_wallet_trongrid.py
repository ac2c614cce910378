"""USDT-TRC20 transfers read from the TronGrid simulator over real HTTP on a local port."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from http_helpers import closed_port, serve, sim_command
from test_wallet_tron import FIRST_ADDRESS, account_xpub

from appliance.wallet.chain import ChainRejected, ChainUnavailable
from appliance.wallet.tron import parse_tron_account
from appliance.wallet.trongrid import API_KEY_HEADER, Trc20Transfer, TronGridSource
from bitagora_devtools.sim.trongrid import OTHER_TOKEN, USDT_MAINNET, TronGridSim

OTHER_ADDRESS = parse_tron_account(account_xpub()).receive_address(1)


@pytest.fixture
async def grid() -> AsyncIterator[tuple[TronGridSim, TronGridSource]]:
    sim = TronGridSim()
    async with serve(sim.app()) as url, httpx.AsyncClient(timeout=30) as http:
        yield sim, TronGridSource(http, url, sim.api_key, USDT_MAINNET)


async def test_a_transfer_counts_once_solidified(grid: tuple[TronGridSim, TronGridSource]) -> None:
    sim, source = grid
    assert await source.transfers(FIRST_ADDRESS) == ()
    txid = sim.pay(FIRST_ADDRESS, 12_340_000)
    assert await source.transfers(FIRST_ADDRESS) == (Trc20Transfer(txid, 12_340_000, False),)
    sim.solidify()
    assert await source.transfers(FIRST_ADDRESS) == (Trc20Transfer(txid, 12_340_000, True),)
    assert await source.transfers(OTHER_ADDRESS) == ()
    assert sim.keys_seen and set(sim.keys_seen) == {sim.api_key}


async def test_failed_transactions_and_other_tokens_never_count(
    grid: tuple[TronGridSim, TronGridSource],
) -> None:
    sim, source = grid
    sim.pay(FIRST_ADDRESS, 5_000_000, failed=True, solid=True)
    sim.pay(FIRST_ADDRESS, 5_000_000, token=OTHER_TOKEN, solid=True)
    good = sim.pay(FIRST_ADDRESS, 1_000_000, solid=True)
    assert await source.transfers(FIRST_ADDRESS) == (Trc20Transfer(good, 1_000_000, True),)
    asked = sim.requests.count("/walletsolidity/gettransactioninfobyid")
    await source.transfers(FIRST_ADDRESS)
    # A solidified transaction's result never changes: it is asked once.
    assert sim.requests.count("/walletsolidity/gettransactioninfobyid") == asked


async def test_a_transfer_the_solidity_node_does_not_have_yet_stays_pending(
    grid: tuple[TronGridSim, TronGridSource],
) -> None:
    sim, source = grid
    sim.lagging = True
    txid = sim.pay(FIRST_ADDRESS, 5_000_000, solid=True)
    assert await source.transfers(FIRST_ADDRESS) == (Trc20Transfer(txid, 5_000_000, False),)
    sim.lagging = False
    assert await source.transfers(FIRST_ADDRESS) == (Trc20Transfer(txid, 5_000_000, True),)


async def test_pages_are_followed(grid: tuple[TronGridSim, TronGridSource]) -> None:
    sim, source = grid
    for _ in range(205):
        sim.pay(FIRST_ADDRESS, 1, solid=True)
    found = await source.transfers(FIRST_ADDRESS)
    assert len(found) == 205 and sum(t.units for t in found) == 205


async def test_the_key_is_required_and_never_logged(
    grid: tuple[TronGridSim, TronGridSource], caplog: pytest.LogCaptureFixture
) -> None:
    sim, source = grid
    caplog.set_level(logging.DEBUG)
    wrong = TronGridSource(source.client, source.base_url, "not-the-key", USDT_MAINNET)
    with pytest.raises(ChainRejected, match="API key") as refused:
        await wrong.transfers(FIRST_ADDRESS)
    assert refused.value.status == 401
    assert await source.check() == "TetherUSD"
    assert sim.api_key not in caplog.text and "not-the-key" not in caplog.text


async def test_the_doctor_check_names_an_unknown_contract(
    grid: tuple[TronGridSim, TronGridSource],
) -> None:
    sim, source = grid
    stranger = TronGridSource(source.client, source.base_url, sim.api_key, OTHER_ADDRESS)
    with pytest.raises(ChainRejected, match="no contract"):
        await stranger.check()


async def test_outages_are_worth_retrying(grid: tuple[TronGridSim, TronGridSource]) -> None:
    sim, source = grid
    sim.failing = 503
    with pytest.raises(ChainUnavailable, match="503"):
        await source.transfers(FIRST_ADDRESS)
    sim.failing = 0
    async with httpx.AsyncClient(timeout=30) as http:
        nowhere = TronGridSource(http, f"http://127.0.0.1:{closed_port()}", "k", USDT_MAINNET)
        with pytest.raises(ChainUnavailable, match="unreachable"):
            await nowhere.transfers(FIRST_ADDRESS)


async def test_bad_addresses_are_refused_before_asking(
    grid: tuple[TronGridSim, TronGridSource],
) -> None:
    sim, source = grid
    with pytest.raises(ValueError, match="not a TRON address"):
        await source.transfers("1BoatSLRHtKNngkdXEeobR76b53LETtpyT")
    with pytest.raises(ValueError, match="not a TRON address"):
        sim.pay("Tnot-an-address", 1)
    assert sim.requests == []


async def test_the_simulator_command_takes_payments_over_http(tmp_path: Path) -> None:
    key_file = tmp_path / "trongrid.key"
    with sim_command("trongrid", "--port", "0", "--api-key-file", str(key_file)) as (_, first):
        url = first.split(" on ")[1].split(" ")[0]
        key = key_file.read_text().strip()
        assert key not in first
        async with httpx.AsyncClient(timeout=30) as http:
            paid = await http.post(
                f"{url}/_sim/pay", json={"address": FIRST_ADDRESS, "units": 7, "solid": True}
            )
            txid = paid.json()["txid"]
            source = TronGridSource(http, url, key, USDT_MAINNET)
            assert await source.transfers(FIRST_ADDRESS) == (Trc20Transfer(txid, 7, True),)
            bare = await http.get(f"{url}/v1/accounts/{FIRST_ADDRESS}/transactions/trc20")
            assert bare.status_code == 401
            keyed = await http.get(
                f"{url}/v1/accounts/{FIRST_ADDRESS}/transactions/trc20",
                headers={API_KEY_HEADER: key},
            )
            assert keyed.json()["data"][0]["value"] == "7"
