"""`bitagora sim pay`: one line pays the bitcoin sale on the till's screen on the simulators
the till is set up against (issue 15 item 11: the demo told a newcomer to use `lightning-cli`,
which is not installed, with a label the kiosk never shows)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bitcoin_helpers import BitcoinShop, bitcoin_shop, offered

from appliance.config import Settings, load_settings
from bitagora_devtools.sim.pay import PayError, pay_latest

pytestmark = pytest.mark.timeout(60)


def device(shop: BitcoinShop) -> Settings:
    return load_settings(shop.data_dir, env=shop.settings_env)


async def test_pays_the_newest_open_sale_by_lightning(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        await offered(shop)  # an older sale, still open: not the one on the screen
        offer, statuses = await offered(shop)
        paid = await pay_latest(device(shop))
        assert paid.sale_id == offer.sale_id and paid.how == "Lightning"
        status = await statuses.until("paid")
        assert status.record.body["payments"][0]["method"] == "lightning"  # type: ignore[union-attr]


async def test_pays_the_address_with_onchain(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        paid = await pay_latest(device(shop), onchain=True)
        assert (paid.sale_id, paid.how, paid.sats) == (offer.sale_id, "on-chain", offer.sats)
        shop.payments.wake()
        status = await statuses.until("paid")
        assert status.record.body["payments"][0]["method"] == "onchain"  # type: ignore[union-attr]


async def test_says_when_no_sale_waits(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path) as shop:
        with pytest.raises(PayError, match="tap Pay bitcoin on the kiosk first"):
            await pay_latest(device(shop))


async def test_the_command_pays_in_one_line(tmp_path: Path) -> None:
    """As the demo's appliance.toml and README say: `bitagora sim pay --data-dir DIR`."""
    async with bitcoin_shop(tmp_path) as shop:
        offer, statuses = await offered(shop)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BITAGORA_")}
        command = [sys.executable, "-m", "appliance.cli", "sim", "pay"]
        proc = await asyncio.create_subprocess_exec(
            *command,
            "--data-dir",
            str(shop.data_dir),
            env={**env, **shop.settings_env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert out.decode().startswith(f"paid sale {offer.sale_id} by Lightning: ")
        await statuses.until("paid")
