"""`bitagora doctor`'s bitcoin checks against the simulators: the exchanges' tickers (rates) and an
Esplora API (onchain), healthy and failing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from http_helpers import closed_port, serve

from appliance.config import Settings, load_settings
from appliance.doctor import Options, onchain_check, passed, rates_check, report, run_checks
from appliance.wallet.rates import SOURCES
from bitagora_devtools.sim.esplora import EsploraSim
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_devtools.sim.rates import RatesSim, base_urls

pytestmark = pytest.mark.timeout(60)

# BIP84's "abandon … about" account 0 and its receive address 0.
ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf3"
    "1mGDtKsAYz2oz2AGutZYs"
)
RECEIVE_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
# BIP49's testnet account 0 (m/49'/1'/0') and its receive address 0.
UPUB = (
    "upub5EFU65HtV5TeiSHmZZm7FUffBGy8UKeqp7vw43jYbvZPpoVsgU93oac7Wk3u6moKegAEWtGNF8DehrnHtv21XXEM"
    "YRUocHqguyjknFHYfgY"
)
TESTNET_RECEIVE_0 = "2Mww8dCYPUpKHofjgcXcBCEGmniw9CoaiD2"


@dataclass
class Sims:
    """A mainnet Esplora and the exchanges' tickers, and settings that point the till at them."""

    data_dir: Path
    rates: RatesSim
    rates_url: str
    esplora: EsploraSim
    esplora_url: str

    def settings(self, **env: str) -> Settings:
        values = {
            "BITAGORA_ONCHAIN_WALLET": ZPUB,
            "BITAGORA_ONCHAIN_ESPLORA_URL": self.esplora_url,
            "BITAGORA_RATES_BASE_URLS": "|".join(base_urls(self.rates_url)),
            "BITAGORA_RATES_TIMEOUT_S": "1",
        }
        return load_settings(self.data_dir, env=values | env)


@pytest.fixture
async def sims(tmp_path: Path) -> AsyncIterator[Sims]:
    rates, esplora = RatesSim(), EsploraSim(network="mainnet")
    async with serve(rates.app()) as rates_url, serve(esplora.app()) as esplora_url:
        try:
            yield Sims(tmp_path, rates, rates_url, esplora, esplora_url)
        finally:
            rates.release()


async def test_a_rate_and_a_wallet_the_chain_knows(sims: Sims) -> None:
    settings = sims.settings()
    rates = await rates_check(settings, offline=False)
    assert rates.status == "OK"
    assert rates.detail == "61234.5 EUR/BTC from kraken, bitstamp, coinbase, coingecko"

    onchain = await onchain_check(settings, offline=False)
    assert onchain.status == "OK", onchain
    assert onchain.detail == (
        f"wpkh wallet on mainnet, receive #0 {RECEIVE_0}; {sims.esplora_url} at block 800000"
    )
    assert sims.esplora.requests == ["/blocks/tip/height", f"/address/{RECEIVE_0}/txs"]


async def test_offline_asks_nobody_but_still_shows_the_address(sims: Sims) -> None:
    settings = sims.settings()
    rates = await rates_check(settings, offline=True)
    assert (rates.status, rates.detail) == ("SKIP", "exchanges not asked (--offline)")
    onchain = await onchain_check(settings, offline=True)
    assert onchain.status == "OK" and f"receive #0 {RECEIVE_0}" in onchain.detail
    assert onchain.detail.endswith("Esplora not asked (--offline)")
    assert sims.rates.hits == {} and sims.esplora.requests == []


async def test_without_a_wallet_onchain_is_not_configured(sims: Sims) -> None:
    settings = sims.settings(BITAGORA_ONCHAIN_WALLET="")
    onchain = await onchain_check(settings, offline=False)
    assert (onchain.status, onchain.detail) == ("SKIP", "not configured (onchain.wallet is empty)")
    rates = await rates_check(settings, offline=False)  # no bitcoin payments: no rate needed
    assert rates.status == "SKIP" and "no bitcoin payments" in rates.detail
    # Lightning alone needs the rate too (invoices are in msat).
    lightning = {"BITAGORA_LIGHTNING_KIND": "socket", "BITAGORA_LIGHTNING_SOCKET_PATH": "/x"}
    rates = await rates_check(sims.settings(BITAGORA_ONCHAIN_WALLET="", **lightning), False)
    assert rates.status == "OK"
    assert sims.esplora.requests == []


async def test_a_failing_or_outlying_source_is_a_warning(sims: Sims) -> None:
    sims.rates.answer(kraken=500, coinbase="6125.0")  # coinbase: a decimal point misplaced
    rates = await rates_check(sims.settings(), offline=False)
    assert rates.status == "WARN"
    assert rates.detail == (
        "61234.5 EUR/BTC from bitstamp, coingecko; kraken: answered HTTP 500; "
        "coinbase: 6125.0 dropped, over 2% off"
    )
    assert "fewer than 2 agreeing sources" in rates.action


async def test_no_rate_refuses_bitcoin_payments(sims: Sims) -> None:
    sims.rates.answer(**dict.fromkeys(SOURCES, 500))
    rates = await rates_check(sims.settings(), offline=False)
    assert rates.status == "FAIL"
    assert rates.detail == (
        "no EUR rate, bitcoin payments will be refused: no source answered (bitstamp: answered "
        "HTTP 500; coinbase: answered HTTP 500; coingecko: answered HTTP 500; kraken: answered "
        "HTTP 500)"
    )
    assert "network to the exchanges" in rates.action


async def test_exchanges_out_of_reach_or_not_quoting_the_currency(sims: Sims) -> None:
    closed = f"http://127.0.0.1:{closed_port()}"
    rates = await rates_check(
        sims.settings(BITAGORA_RATES_BASE_URLS="|".join(base_urls(closed))), offline=False
    )
    assert rates.status == "FAIL" and "kraken: unreachable (ConnectError)" in rates.detail

    rates = await rates_check(sims.settings(BITAGORA_DEVICE_CURRENCY="CHF"), offline=False)
    assert rates.status == "FAIL" and rates.detail.startswith("no CHF rate, bitcoin payments")
    assert "kraken: kraken says ['EQuery:Unknown asset pair']" in rates.detail


async def test_esplora_down_fails_with_what_to_do(sims: Sims) -> None:
    down = sims.settings(BITAGORA_ONCHAIN_ESPLORA_URL=f"http://127.0.0.1:{closed_port()}")
    onchain = await onchain_check(down, offline=False)
    assert onchain.status == "FAIL" and "Esplora unreachable" in onchain.detail
    assert f"receive #0 {RECEIVE_0}" in onchain.detail  # still shown, to compare
    assert onchain.action.startswith("check the network and onchain.esplora_url")

    sims.esplora.failing = 503
    onchain = await onchain_check(sims.settings(), offline=False)
    assert onchain.status == "FAIL" and "HTTP 503" in onchain.detail


async def test_a_testnet_wallet_on_a_mainnet_api_names_the_network(sims: Sims) -> None:
    settings = sims.settings(BITAGORA_ONCHAIN_WALLET=UPUB, BITAGORA_ONCHAIN_NETWORK="testnet")
    onchain = await onchain_check(settings, offline=False)
    assert onchain.status == "FAIL"
    assert onchain.detail.startswith(f"sh-wpkh wallet on testnet, receive #0 {TESTNET_RECEIVE_0}")
    assert "HTTP 400 Address on invalid network" in onchain.detail
    assert onchain.action.startswith(
        "onchain.esplora_url serves another network than onchain.network = testnet: "
        "use a testnet API (https://mempool.space/testnet4/api"
    )

    sims.esplora.network = "testnet"  # and a mainnet wallet on a testnet API
    onchain = await onchain_check(sims.settings(), offline=False)
    assert onchain.status == "FAIL" and "onchain.network = mainnet" in onchain.action
    assert "(https://mempool.space/api)" in onchain.action


async def test_a_url_that_is_not_esplora_is_named(sims: Sims) -> None:
    onchain = await onchain_check(
        sims.settings(BITAGORA_ONCHAIN_ESPLORA_URL=sims.rates_url), offline=False
    )
    assert onchain.status == "FAIL" and "not an Esplora API" in onchain.detail
    assert "HTTP 404" in onchain.detail and "Esplora API's root" in onchain.action


async def test_the_report_lines(sims: Sims, tmp_path: Path) -> None:
    async with PrinterSimulator(tmp_path / "printer", port=0) as printer:
        port = {"BITAGORA_PRINTER_PORT": str(printer.port)}
        options = Options(print_test_page=False)
        healthy = await run_checks(lambda: sims.settings(**port), options)
        sims.rates.answer(**dict.fromkeys(SOURCES, 503))
        sims.esplora.network = "testnet"
        failing = await run_checks(lambda: sims.settings(**port), options)

    lines = report(healthy, as_json=False).splitlines()
    assert "OK    rates     61234.5 EUR/BTC from kraken, bitstamp, coinbase, coingecko" in lines
    assert f"OK    onchain   wpkh wallet on mainnet, receive #0 {RECEIVE_0}; " in "\n".join(lines)
    assert [c.name for c in healthy][-6:] == ["rates", "onchain", "tron", "uplink", "clock", "disk"]

    lines = report(failing, as_json=False).splitlines()
    assert any(line.startswith("FAIL  rates     no EUR rate, bitcoin payments") for line in lines)
    assert any(line.startswith("FAIL  onchain   wpkh wallet on mainnet") for line in lines)
    assert not passed(failing)
