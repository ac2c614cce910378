"""`bitagora doctor`'s USDT-on-TRON check against the TronGrid and rates simulators."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from http_helpers import closed_port, serve
from test_wallet_tron import FIRST_ADDRESS, account_xpub

from appliance.config import ConfigError, Settings, load_settings
from appliance.doctor import tron_check
from appliance.wallet.rates import SOURCES
from bitagora_devtools.sim.rates import RatesSim, base_urls
from bitagora_devtools.sim.trongrid import OTHER_TOKEN, TronGridSim

pytestmark = pytest.mark.timeout(60)


@dataclass
class Sims:
    data_dir: Path
    grid: TronGridSim
    grid_url: str
    rates: RatesSim
    rates_url: str

    def settings(self, **env: str) -> Settings:
        values = {
            "BITAGORA_TRON_XPUB": account_xpub(),
            "BITAGORA_TRON_TRONGRID_URL": self.grid_url,
            "BITAGORA_TRON_API_KEY": self.grid.api_key,
            "BITAGORA_RATES_BASE_URLS": "|".join(base_urls(self.rates_url)),
            "BITAGORA_RATES_TIMEOUT_S": "1",
        }
        return load_settings(self.data_dir, env=values | env)


@pytest.fixture
async def sims(tmp_path: Path) -> AsyncIterator[Sims]:
    grid, rates = TronGridSim(), RatesSim()
    async with serve(grid.app()) as grid_url, serve(rates.app()) as rates_url:
        try:
            yield Sims(tmp_path, grid, grid_url, rates, rates_url)
        finally:
            rates.release()


async def test_a_healthy_setup(sims: Sims) -> None:
    check = await tron_check(sims.settings(), offline=False)
    assert check.status == "OK", check
    assert check.detail == (
        f"TRON account, receive #0 {FIRST_ADDRESS}; contract TetherUSD at {sims.grid_url}; "
        "0.9213 EUR/USDT"
    )
    assert sims.grid.keys_seen and set(sims.grid.keys_seen) == {sims.grid.api_key}


async def test_not_configured_and_offline(sims: Sims) -> None:
    skipped = await tron_check(load_settings(sims.data_dir, env={}), offline=False)
    assert skipped.status == "SKIP"
    offline = await tron_check(sims.settings(), offline=True)
    assert offline.status == "OK" and "not asked" in offline.detail
    assert sims.grid.requests == []


async def test_a_refused_key_is_named_without_showing_it(sims: Sims) -> None:
    check = await tron_check(sims.settings(BITAGORA_TRON_API_KEY="wrong-key"), offline=False)
    assert check.status == "FAIL"
    assert "API key" in check.detail and "tron.api_key" in check.action
    assert "wrong-key" not in check.line() and sims.grid.api_key not in check.line()


async def test_an_unknown_contract_and_an_unreachable_trongrid(sims: Sims) -> None:
    stranger = FIRST_ADDRESS  # an account, not a contract
    check = await tron_check(sims.settings(BITAGORA_TRON_CONTRACT=stranger), offline=False)
    assert check.status == "FAIL" and "no contract" in check.detail
    assert "tron.contract" in check.action
    usdc = await tron_check(sims.settings(BITAGORA_TRON_CONTRACT=OTHER_TOKEN), offline=False)
    assert usdc.status == "OK"  # a contract TronGrid knows; which token is the merchant's call
    nowhere = f"http://127.0.0.1:{closed_port()}"
    down = await tron_check(sims.settings(BITAGORA_TRON_TRONGRID_URL=nowhere), offline=False)
    assert down.status == "FAIL" and "unreachable" in down.detail
    assert "tron.trongrid_url" in down.action


async def test_no_usdt_rate_fails(sims: Sims) -> None:
    sims.rates.answer(**dict.fromkeys(SOURCES, 500))
    check = await tron_check(sims.settings(), offline=False)
    assert check.status == "FAIL" and "no EUR rate for USDT" in check.detail


def test_settings_refuse_what_cannot_work(sims: Sims) -> None:
    with pytest.raises(ConfigError, match="tron.api_key"):
        sims.settings(BITAGORA_TRON_API_KEY="")
    with pytest.raises(ConfigError, match="tron.contract"):
        sims.settings(BITAGORA_TRON_CONTRACT="0xdAC17F958D2ee523a2206206994597C13D831ec7")
    with pytest.raises(ConfigError, match="tron.xpub: .*depth"):
        sims.settings(BITAGORA_TRON_XPUB=_root_xpub())
    with pytest.raises(ConfigError, match="tron.xpub") as refused:
        sims.settings(BITAGORA_TRON_XPUB=" ".join(["abandon"] * 11 + ["about"]))
    assert "abandon" not in str(refused.value)


def _root_xpub() -> str:
    from test_wallet_tron import root

    return str(root().to_public().to_base58())
