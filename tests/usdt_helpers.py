"""A till taking USDT on TRON (and bitcoin on-chain) against the TronGrid, Esplora and rates
simulators over local HTTP, for the kiosk tests and the USDT benchmark. No test here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bitcoin_helpers import BitcoinShop, bitcoin_shop
from http_helpers import serve
from test_wallet_tron import account_xpub

from appliance.payments.bitcoin import BitcoinPayments
from bitagora_devtools.sim.trongrid import TronGridSim

# The rates simulator's USDT quote is 0.9213 EUR: an espresso (1.80 EUR) is 1.953761 USDT.
ESPRESSO_UNITS = 1_953_761
CUSTOMER = "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL"  # a TRON address to refund to


@dataclass
class UsdtShop:
    shop: BitcoinShop
    grid: TronGridSim

    @property
    def usdt(self) -> BitcoinPayments:
        assert self.shop.till.usdt is not None
        return self.shop.till.usdt


@asynccontextmanager
async def usdt_shop(
    tmp_path: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[UsdtShop]:
    """A till taking bitcoin on-chain and USDT on TRON; TronGrid is asked when the test wakes
    the USDT payments (``poll_s`` is long)."""
    grid = TronGridSim()
    async with serve(grid.app()) as grid_url:
        env = {
            "BITAGORA_TRON_XPUB": account_xpub(),
            "BITAGORA_TRON_TRONGRID_URL": grid_url,
            "BITAGORA_TRON_API_KEY": grid.api_key,
            "BITAGORA_TRON_POLL_S": "600",
            **(env or {}),
        }
        async with bitcoin_shop(tmp_path, lightning=False, env=env) as shop:
            assert shop.till.usdt is not None and shop.till.capabilities.usdt
            shop.till.usdt.clock = shop.clock
            yield UsdtShop(shop, grid)
