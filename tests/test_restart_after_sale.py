"""A till killed (SIGKILL, a real process) between a sale's commit and its done screen
(issue 15 item 3): a receipt the kill caught mid-print prints again marked COPY."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from print_helpers import fast_settings_env

from appliance import bootstrap
from appliance.config import load_settings
from appliance.services.till import Till
from bitagora_devtools.seed import seed_demo
from bitagora_devtools.sim.printer import PrinterSimulator

pytestmark = pytest.mark.timeout(120)

# A kiosk process selling Espresso and Croissant for €10.00 cash, killed by SIGKILL at the point
# named by argv[3]: "drawer" (the sale committed, its drawer_open not yet), "print" (the printer
# has the receipt, the queue does not know yet). Fault injection in the child only: it kills
# itself there, as a power cut would.
SELL_AND_DIE = """
import asyncio, os, signal, sys
from pathlib import Path
from appliance import bootstrap
from appliance.config import load_settings
from appliance.services.drawer import DrawerService
from appliance.store import catalog, print_queue
from bitagora_protocol.money import Money

async def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

async def main(data_dir, port, where):
    env = {"BITAGORA_PRINTER_PORT": port, "BITAGORA_PRINTER_TIMEOUT_S": "2"}
    till = await bootstrap.open_till(load_settings(Path(data_dir), env=env))
    if where == "drawer":
        DrawerService.open_for_sale = die
    else:
        print_queue.mark_printed = die
    staff = await catalog.staff_by_pin(till.conn, "1234")
    products = {p.sku: p for p in await till.sales.products()}
    cart = till.sales.new_cart()
    cart.add(products["espresso"])
    cart.add(products["croissant"])
    await till.sales.pay_cash(cart, staff, Money(1000, till.currency))
    sys.exit(3)  # not killed: the test fails on this

asyncio.run(main(*sys.argv[1:]))
"""


@asynccontextmanager
async def device(tmp_path: Path, sim: PrinterSimulator) -> AsyncIterator[Till]:
    till = await bootstrap.open_till(
        load_settings(tmp_path / "device", env=fast_settings_env(sim.port))
    )
    try:
        yield till
    finally:
        await till.close()


async def sell_and_die(tmp_path: Path, sim: PrinterSimulator, where: str) -> None:
    async with device(tmp_path, sim) as till:
        await seed_demo(till.conn, till.currency)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SELL_AND_DIE, str(tmp_path / "device"), str(sim.port), where
    )
    async with asyncio.timeout(60):
        assert await process.wait() == -signal.SIGKILL


async def test_a_receipt_cut_off_mid_print_prints_again_as_a_copy(tmp_path: Path) -> None:
    async with PrinterSimulator(tmp_path / "printer", port=0) as sim:
        await sell_and_die(tmp_path, sim, "print")
        (original,) = sim.receipts()
        assert "COPY" not in original
        assert len(sim.drawer_kicks()) == 1
        async with device(tmp_path, sim) as till:
            first, again = await sim.wait_receipts(2, timeout=20)
            assert first == original
            assert again.count("** COPY **") == 2 and "after a restart" in again
            await till.printing.wait_idle()
