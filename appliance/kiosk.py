"""Running the kiosk: open the till over the configured drivers and show the Textual app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from appliance.config import Settings
from appliance.provision.status import read_status
from appliance.services.till import Till
from appliance.store import lock

# Loads a catalog into the store (`bitagora kiosk --seed-demo`: the development tools' demo
# catalog, bitagora_devtools.seed): ``seed(conn, currency)``.
Seed = Callable[[aiosqlite.Connection, str], Awaitable[None]]


async def run_kiosk(settings: Settings, seed: Seed | None = None) -> int:
    from appliance.tui.app import KioskApp

    # Held while the till runs, so a restore cannot swap the database under it.
    with lock.hold(settings.data_dir):
        till = await Till.open(settings)
        try:
            if seed is not None:
                await seed(till.conn, till.currency)
            await till.report_status()
            provisioning = read_status(settings.data_dir)
            await KioskApp(till, quiet_gc=True, provisioning=provisioning).run_async()
        finally:
            await till.close()
    return 0
