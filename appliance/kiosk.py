"""Running the kiosk: build the till (appliance.bootstrap) and show the Textual app."""

from __future__ import annotations

from appliance import bootstrap
from appliance.config import Settings
from appliance.store import lock
from appliance.store.seed import seed_demo


async def run_kiosk(settings: Settings, seed_demo_data: bool = False) -> int:
    from appliance.tui.app import KioskApp

    # Held while the till runs, so a restore cannot swap the database under it.
    with lock.hold(settings.data_dir):
        till = await bootstrap.open_till(settings)
        try:
            if seed_demo_data:
                await seed_demo(till.conn, till.currency)
            await till.report_status()
            provisioning = till.provisioning.status()
            await KioskApp(till, quiet_gc=True, provisioning=provisioning).run_async()
        finally:
            await till.close()
    return 0
