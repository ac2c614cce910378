"""A till taking bitcoin against the simulators: Esplora and exchange tickers over local HTTP,
Core Lightning's JSON-RPC on a unix socket, the ESC/POS printer on TCP. No test here."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from http_helpers import serve

from appliance.config import load_settings
from appliance.payments.bitcoin import BitcoinPayments, Status
from appliance.services.till import Till
from appliance.sim.esplora import EsploraSim
from appliance.sim.lightning import LightningSim
from appliance.sim.printer import PrinterSimulator
from appliance.sim.rates import RatesSim, base_urls
from appliance.store.seed import seed_demo

# BIP84's test vector account (m/84'/0'/0');
# receive index 0 is bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu.
BIP84_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgDKf3"
    "1mGDtKsAYz2oz2AGutZYs"
)
RATE = "61234.50"  # EUR per BTC: 1.80 EUR is 2,940 sats


class FakeClock:
    """The payment service's wall clock, moved by the test (expiry without waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@dataclass
class Statuses:
    """Every status the service tells about one sale, in order, awaited without sleeps."""

    seen: list[Status] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, status: Status) -> None:
        self.seen.append(status)
        self._changed.set()

    async def until(self, state: str, timeout: float = 10.0) -> Status:  # noqa: ASYNC109
        """The first status in ``state`` (already seen or still to come)."""
        async with asyncio.timeout(timeout):
            while True:
                for status in self.seen:
                    if status.state == state:
                        return status
                self._changed.clear()
                await self._changed.wait()

    @property
    def states(self) -> list[str]:
        return [s.state for s in self.seen]


@dataclass
class BitcoinShop:
    till: Till
    payments: BitcoinPayments
    esplora: EsploraSim
    lightning: LightningSim
    rates: RatesSim
    printer: PrinterSimulator
    clock: FakeClock
    settings_env: dict[str, str]


@asynccontextmanager
async def bitcoin_shop(
    tmp_path: Path,
    *,
    onchain: bool = True,
    lightning: bool = True,
    env: Mapping[str, str] | None = None,
    esplora: EsploraSim | None = None,
    node: LightningSim | None = None,
) -> AsyncIterator[BitcoinShop]:
    """A till over the simulators (pass ``esplora``/``node`` to keep them across a restart).
    The chain is asked only when the test wakes the service (``poll_s`` is long)."""
    esplora = esplora or EsploraSim(tip=800_000)
    node = node or LightningSim(network="bitcoin")
    rates = RatesSim()
    rates.set_rate("EUR", RATE)
    async with AsyncExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ln-")))
        socket = folder / "lightning-rpc"
        await node.start_socket(socket)
        stack.push_async_callback(node.close)
        chain_url = await stack.enter_async_context(serve(esplora.app()))
        rates_url = await stack.enter_async_context(serve(rates.app(), hold=None))
        printer = await stack.enter_async_context(PrinterSimulator(tmp_path / "printer", port=0))
        settings_env = {
            "BITAGORA_PRINTER_PORT": str(printer.port),
            "BITAGORA_RATES_BASE_URLS": "|".join(base_urls(rates_url)),
            "BITAGORA_ONCHAIN_ESPLORA_URL": chain_url,
            "BITAGORA_ONCHAIN_POLL_S": "600",
            "BITAGORA_ONCHAIN_ZERO_CONF_MAX_SATS": "100000",
            "BITAGORA_ONCHAIN_TIERS": "0:1|1000000:3",
            **({"BITAGORA_ONCHAIN_WALLET": BIP84_ZPUB} if onchain else {}),
            **(
                {"BITAGORA_LIGHTNING_KIND": "socket", "BITAGORA_LIGHTNING_SOCKET_PATH": str(socket)}
                if lightning
                else {}
            ),
            **(env or {}),
        }
        till = await Till.open(load_settings(tmp_path / "device", env=settings_env))
        stack.push_async_callback(till.close)
        await seed_demo(till.conn, till.currency)
        assert till.bitcoin is not None
        clock = FakeClock()
        till.bitcoin.clock = clock
        yield BitcoinShop(till, till.bitcoin, esplora, node, rates, printer, clock, settings_env)
