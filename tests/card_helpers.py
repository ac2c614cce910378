"""A till's card reader on the Stripe simulator: its settings, and a shop that runs a till over
the simulator and can restart it (no tests here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from bitcoin_helpers import STAFF
from http_helpers import serve
from tui_helpers import PROVIDER_POLL_S

from appliance import bootstrap
from appliance.config import CardSettings, Settings, load_settings
from appliance.core.split import SplitSale
from appliance.payments.card import make_client
from appliance.services.till import Till
from bitagora_devtools.seed import seed_demo
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_devtools.sim.stripe import DEFAULT_READER, StripeSim
from bitagora_protocol.money import Money

SHOP_KEY = "sk_test_" + "sh0p" * 6
VISA = "4242424242424242"
DECLINED = "4000000000000002"


def sim_card_settings(api_base: str, api_key: str) -> CardSettings:
    """The simulator's reader with short timeouts and polls, so tests wait little."""
    return CardSettings(
        kind="stripe_terminal",
        api_key=api_key,
        reader_id=DEFAULT_READER,
        api_base=api_base,
        timeout_s=2.0,
        retries=3,
        poll_s=PROVIDER_POLL_S,
    )


def card_env(api_base: str) -> dict[str, str]:
    """The BITAGORA_* settings of the simulator's reader at ``api_base``, as sim_card_settings."""
    return {
        "BITAGORA_CARD_KIND": "stripe_terminal",
        "BITAGORA_CARD_API_KEY": SHOP_KEY,
        "BITAGORA_CARD_READER_ID": DEFAULT_READER,
        "BITAGORA_CARD_API_BASE": api_base,
        "BITAGORA_CARD_TIMEOUT_S": "2",
        "BITAGORA_CARD_POLL_S": str(PROVIDER_POLL_S),
    }


async def present_card(card: CardSettings, http: httpx.AsyncClient, number: str = VISA) -> None:
    """A card held to the simulator's reader, through Stripe's test helpers."""
    client = make_client(card, http)
    await client.v1.test_helpers.terminal.readers.present_payment_method_async(
        DEFAULT_READER, {"type": "card_present", "card_present": {"number": number}}
    )


@dataclass
class CardShop:
    """A till with a card reader on the Stripe simulator; ``restart`` switches it off and on
    again over the same data directory and simulators, as a power cut and a boot do."""

    sim: StripeSim
    http: httpx.AsyncClient
    printer: PrinterSimulator
    settings: Settings
    till: Till

    async def present(self, number: str = VISA) -> None:
        await present_card(self.settings.card, self.http, number)

    async def restart(self) -> list[str]:
        """Off and on; what the till found of the payments left unsettled."""
        await self.till.close()
        self.till = await bootstrap.open_till(self.settings)
        return await self.till.recovery.recovered()

    async def split_of(self, *skus: str) -> SplitSale:
        products = {p.sku: p for p in await self.till.sales.products()}
        cart = self.till.sales.new_cart()
        for sku in skus:
            cart.add(products[sku])
        return await self.till.split.begin(cart, STAFF)

    async def card_part(self, sale_id: str, amount: Money, number: str = VISA) -> Any:
        attempt = await self.till.split.start_card(sale_id, STAFF, amount)
        await self.present(number)
        card = self.till.card
        assert card is not None
        outcome = await card.wait(attempt)
        if not outcome.paid:
            return outcome
        return await self.till.split.card_paid(sale_id, STAFF, outcome)


@asynccontextmanager
async def card_shop(tmp_path: Path) -> AsyncIterator[CardShop]:
    sim = StripeSim(api_key=SHOP_KEY)
    async with (
        serve(sim.app()) as url,
        httpx.AsyncClient(timeout=5.0) as http,
        PrinterSimulator(tmp_path / "printer", port=0) as printer,
    ):
        settings = load_settings(
            tmp_path / "device", env={"BITAGORA_PRINTER_PORT": str(printer.port), **card_env(url)}
        )
        shop = CardShop(sim, http, printer, settings, await bootstrap.open_till(settings))
        try:
            await seed_demo(shop.till.conn, shop.till.currency)
            yield shop
        finally:
            await shop.till.close()
