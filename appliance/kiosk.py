"""Running the kiosk: build the till (appliance.bootstrap) and show the Textual app."""

from __future__ import annotations

import gc
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosqlite

from appliance import bootstrap
from appliance.config import Settings
from appliance.services.till import Till
from appliance.store import lock

# Loads a catalog into the store (`bitagora kiosk --seed-demo`: the development tools' demo
# catalog, bitagora_devtools.seed): ``seed(conn, currency)``.
Seed = Callable[[aiosqlite.Connection, str], Awaitable[None]]

log = logging.getLogger(__name__)


def cache_escpos_profiles(cache: Path) -> None:
    """python-escpos parses its printer database (YAML, 0.3 s) at every import unless a cached
    copy exists, and by default caches it in a new temporary folder each process: keep the copy
    in the data directory, for this process (the variable is read when escpos is imported)."""
    if "ESCPOS_CAPABILITIES_PICKLE_DIR" in os.environ or "escpos.capabilities" in sys.modules:
        return
    try:
        cache.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return
    os.environ["ESCPOS_CAPABILITIES_PICKLE_DIR"] = str(cache)


async def _report_status(till: Till) -> None:
    """The printer's and the drawer's status for the uplink's heartbeat (advisory)."""
    try:
        await till.report_status()
    except Exception:
        log.exception("device status not recorded at start")


async def run_kiosk(settings: Settings, seed: Seed | None = None) -> int:
    # Start-up makes objects that live as long as the kiosk: no collection scans them on the way
    # to the lock screen; the app freezes them once mounted (tui/quiet_gc.py).
    gc.disable()
    try:
        return await _run_kiosk(settings, seed)
    finally:
        gc.enable()


async def _run_kiosk(settings: Settings, seed: Seed | None) -> int:
    from appliance.tui.app import KioskApp

    cache_escpos_profiles(settings.data_dir / "cache")
    # Held while the till runs, so a restore cannot swap the database under it.
    with lock.hold(settings.data_dir):
        till = await bootstrap.open_till(settings)
        try:
            if seed is not None:
                await seed(till.conn, till.currency)
                await till.sales.record_catalog()  # the seeded catalog is a version too
            # Asked while the lock screen comes up (the printer may take a while to answer).
            till.background.start(_report_status(till))
            provisioning = till.provisioning.status()
            await KioskApp(till, quiet_gc=True, provisioning=provisioning).run_async()
        finally:
            await till.close()
    return 0
