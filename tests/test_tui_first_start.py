"""A till nobody has set up yet, through the Textual app: with no staff the lock screen says how
to add the first manager and never answers "wrong PIN" (nor counts one toward the lockout); with
no products the sell screen says how to get the shop's catalog."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.widgets import Static

from appliance import bootstrap
from appliance.config import load_settings
from appliance.services.till import NoStaff, Till
from appliance.store import journal
from appliance.store import staff as staff_store
from appliance.tui.app import KioskApp
from appliance.tui.scan import StepClock
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.sell import NO_PRODUCTS
from bitagora_devtools.script import SIZE, ScriptError, unlock, wait_until
from bitagora_devtools.sim.printer import PrinterSimulator


@asynccontextmanager
async def fresh_till(tmp_path: Path) -> AsyncIterator[Till]:
    """A till as a freshly flashed device starts it: no staff, no products, nothing seeded."""
    async with PrinterSimulator(tmp_path / "printer", port=0) as sim:
        settings = load_settings(tmp_path / "device", env={"BITAGORA_PRINTER_PORT": str(sim.port)})
        till = await bootstrap.open_till(settings)
        try:
            yield till
        finally:
            await till.close()


async def test_a_till_with_no_staff_says_how_to_add_one_and_counts_no_pin(
    tmp_path: Path,
) -> None:
    async with fresh_till(tmp_path) as till:
        app = KioskApp(till, clock=StepClock(), provisioning=None)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                "the lock screen",
            )
            lock = app.screen
            assert isinstance(lock, LockScreen)
            prompt = lock.query_one("#lock-prompt", Static)
            await wait_until(pilot, lambda: "No staff yet" in str(prompt.render()), "the hint")
            hint = str(prompt.render())
            assert "bitagora-setup.toml" in hint and "[manager]" in hint
            assert "bitagora staff add ID --name NAME --role manager" in hint

            # Far more PINs than the lockout allows: each answered the same, none counted.
            for _ in range(till.access.lockout_policy.max_failures + 2):
                with pytest.raises(ScriptError, match="Nobody can unlock this till yet"):
                    await unlock(pilot, "1234")
                assert "Wrong PIN" not in lock.pad.message
            assert not await till.access.lockout_remaining()
            kinds = {record.kind async for record in journal.iterate(till.conn)}
            assert "staff_lockout" not in kinds
            with pytest.raises(NoStaff):
                await till.access.unlock("1234")

            # The first manager added at the shell while the lock screen shows: their PIN works.
            await staff_store.add_staff(till.conn, "marta", "Marta", "manager", "2580")
            await unlock(pilot, "2580")
            sell = app.sell
            await wait_until(pilot, lambda: sell.catalog_loaded, "the catalog")
            assert app.screen is sell
            notice = str(sell.query_one("#notice", Static).render())
            assert notice == NO_PRODUCTS
            assert "bitagora catalog import FILE.csv" in notice and "central" in notice


async def test_a_wrong_pin_on_a_till_with_staff_is_still_wrong(tmp_path: Path) -> None:
    async with fresh_till(tmp_path) as till:
        await staff_store.add_staff(till.conn, "marta", "Marta", "manager", "2580")
        app = KioskApp(till, clock=StepClock(), provisioning=None)
        async with app.run_test(size=SIZE) as pilot:
            with pytest.raises(ScriptError, match="Wrong PIN, try again"):
                await unlock(pilot, "1234")
            lock = app.screen
            assert isinstance(lock, LockScreen)
            assert "No staff yet" not in str(lock.query_one("#lock-prompt", Static).render())
