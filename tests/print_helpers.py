"""Helpers for the print queue tests: a real Till (store, journal, print worker) printing to the
ESC/POS simulator over TCP, with fast retries and short timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from appliance import bootstrap
from appliance.config import load_settings
from appliance.services.till import SaleResult, Staff, Till
from appliance.store import staff as staff_store
from bitagora_devtools.seed import seed_demo
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_protocol.money import Money


def fast_settings_env(port: int) -> dict[str, str]:
    return {
        "BITAGORA_PRINTER_PORT": str(port),
        "BITAGORA_PRINTER_TIMEOUT_S": "1",
        "BITAGORA_PRINTER_RETRY_MIN_MS": "20",
        "BITAGORA_PRINTER_RETRY_MAX_MS": "100",
        "BITAGORA_DEVICE_MERCHANT_NAME": "Peña Açaí",
    }


@asynccontextmanager
async def open_till(data_dir: Path, port: int) -> AsyncIterator[Till]:
    till = await bootstrap.open_till(load_settings(data_dir, env=fast_settings_env(port)))
    try:
        await seed_demo(till.conn, till.currency)
        yield till
    finally:
        await till.close()


@asynccontextmanager
async def till_and_printer(tmp_path: Path) -> AsyncIterator[tuple[Till, PrinterSimulator]]:
    async with (
        PrinterSimulator(tmp_path / "printer", port=0) as sim,
        open_till(tmp_path / "device", sim.port) as till,
    ):
        yield till, sim


async def cashier(till: Till) -> Staff:
    staff = await staff_store.staff_by_pin(till.conn, "1234")
    assert staff is not None
    return staff


async def sell(till: Till, sku: str = "espresso") -> SaleResult:
    """A cash sale of one product, paid exactly, through SalesService.pay_cash."""
    products = {p.sku: p for p in await till.sales.products()}
    cart = till.sales.new_cart()
    cart.add(products[sku])
    total = cart.totals().total
    return await till.sales.pay_cash(cart, await cashier(till), Money(total.minor, total.currency))
