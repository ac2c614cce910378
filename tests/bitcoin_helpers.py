"""A till taking bitcoin against the simulators: Esplora and exchange tickers over local HTTP,
Core Lightning's JSON-RPC on a unix socket, the ESC/POS printer on TCP; and what the tests do
with it (offer, read the journal). No test here."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from http_helpers import serve

from appliance import bootstrap
from appliance.config import load_settings
from appliance.core.cart import Cart
from appliance.payments.bitcoin import BitcoinPayments, Offer, Status
from appliance.services.till import Staff, Till
from appliance.store import journal
from bitagora_devtools.seed import seed_demo
from bitagora_devtools.sim.esplora import EsploraSim
from bitagora_devtools.sim.lightning import LightningSim
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_devtools.sim.rates import RatesSim, base_urls
from bitagora_protocol.journal import Record

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
        return await self.first(lambda status: status.state == state, timeout)

    async def saying(self, words: str, timeout: float = 10.0) -> Status:  # noqa: ASYNC109
        """The first status whose message contains ``words``."""
        return await self.first(lambda status: words in status.message, timeout)

    async def first(
        self,
        wanted: Callable[[Status], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> Status:
        async with asyncio.timeout(timeout):
            while True:
                for status in self.seen:
                    if wanted(status):
                        return status
                self._changed.clear()
                await self._changed.wait()

    @property
    def states(self) -> list[str]:
        return [s.state for s in self.seen]


@dataclass
class BitcoinShop:
    """The simulators, the device clock and the settings of one shop, and the till running over
    them. ``close_till`` switches the till off and ``open_till`` on again, as a reboot does: the
    same data dir and settings, the same simulators (which keep running), the same clock."""

    esplora: EsploraSim
    lightning: LightningSim
    rates: RatesSim
    printer: PrinterSimulator
    clock: FakeClock
    settings_env: dict[str, str]
    data_dir: Path
    till: Till = field(init=False)
    payments: BitcoinPayments = field(init=False)
    # What the service reported with nobody watching the sale (``UnwatchedPayment``), this boot.
    background: Statuses = field(init=False)
    running: bool = False

    async def open_till(self, *, listen: bool = True) -> Till:
        """Switch the till on: ``bootstrap.open_till`` with settings loaded from the same env.

        ``listen=False`` leaves those to a kiosk app about to start (as on a device,
        where the app is the only listener): what settles before it is there is kept for it,
        not taken by ``background``."""
        assert not self.running, "the till is on already"
        before = len(self.esplora.requests), len(self.lightning.calls)
        till = await bootstrap.open_till(load_settings(self.data_dir, env=self.settings_env))
        assert till.bitcoin is not None
        # open_till returns right after starting the watchers, before they first run: set the
        # clock and the background listener now, before this task next yields.
        if (len(self.esplora.requests), len(self.lightning.calls)) != before:
            await till.close()
            raise AssertionError("the bitcoin watchers ran before the test clock was set")
        till.bitcoin.clock = self.clock
        self.background = Statuses()
        if listen:
            till.on_unwatched_payment(self.background)
        self.till, self.payments, self.running = till, till.bitcoin, True
        return till

    async def close_till(self) -> None:
        """Switch the till off (a clean stop: the watchers are cancelled, the store closed)."""
        if self.running:
            self.running = False
            await self.till.close()


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
    """A till over the simulators (pass ``esplora``/``node`` to set them up otherwise); the
    shop's ``close_till``/``open_till`` restart it over them. The chain is asked only when the
    test wakes the service (``poll_s`` is long)."""
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
        shop = BitcoinShop(
            esplora, node, rates, printer, FakeClock(), settings_env, tmp_path / "device"
        )
        await shop.open_till()
        stack.push_async_callback(shop.close_till)
        await seed_demo(shop.till.conn, shop.till.currency)
        yield shop


# -- what the tests do with a shop ---------------------------------------------------------------

STAFF = Staff("ana", "Ana", "cashier")


async def cart_of(shop: BitcoinShop, sku: str = "espresso", quantity: int = 1) -> Cart:
    products = {p.sku: p for p in await shop.till.sales.products()}
    cart = shop.till.sales.new_cart()
    cart.add(products[sku], quantity)
    return cart


async def offered(shop: BitcoinShop, cart: Cart | None = None) -> tuple[Offer, Statuses]:
    """An offer for ``cart`` (an espresso by default) and the statuses of its sale."""
    offer = await shop.payments.offer(cart or await cart_of(shop), STAFF)
    statuses = Statuses()
    shop.till.watch_payment(offer.sale_id, statuses)
    return offer, statuses


async def records(shop: BitcoinShop, kind: str | None = None) -> list[Record]:
    rows = await journal.read_range(shop.till.conn, 1, 1000)
    return [r for r in rows if kind is None or r.kind == kind]


async def payment_states(shop: BitcoinShop, sale_id: str) -> list[str]:
    return [r.body["state"] for r in await records(shop, "payment") if r.body["sale_id"] == sale_id]
