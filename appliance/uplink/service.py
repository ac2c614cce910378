"""The uplink process: enrolling the device, and the daemon (``bitagora uplink``, cli/uplink.py).

The daemon handles SIGTERM and SIGINT by finishing the request in flight and stopping; under
systemd (``Type=notify``) it reports READY/STOPPING and pings the watchdog when ``WatchdogSec`` is
set. It prints ``uplink running for DEVICE_ID -> URL`` on stdout once it is pushing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiosqlite
import httpx

from appliance.config import Settings
from appliance.store import device, lock
from appliance.store.db import open_db
from appliance.store.identity import DeviceIdentity, IdentityError, load_or_create_identity
from appliance.uplink.client import (
    CentralClient,
    EnrollmentRejected,
    Rejected,
    Transient,
)
from appliance.uplink.daemon import EnrollmentState, Uplink, save_enrollment, wait_enrolled

log = logging.getLogger(__name__)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


# -- enroll --------------------------------------------------------------------------------


@asynccontextmanager
async def device_store(
    settings: Settings,
) -> AsyncIterator[tuple[DeviceIdentity, aiosqlite.Connection]]:
    """The device key and its store, bound to each other (IdentityError, DeviceMismatch)."""
    identity = load_or_create_identity(settings.data_dir)
    conn = await open_db(settings.database_path)
    try:
        await device.bind(conn, identity)
        yield identity, conn
    finally:
        await conn.close()


class EnrollFailed(Exception):
    """Enrollment did not happen; the message says why in words and what to do.
    ``transient``: central could not be reached (worth trying again later)."""

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


async def enroll_device(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    code: str,
    central_url: str,
    timeout_s: float,
) -> EnrollmentState:
    """Redeem ``code`` with central for this device's key and save the enrollment."""
    async with httpx.AsyncClient(timeout=timeout_s) as http:
        client = CentralClient(central_url, identity, http)
        try:
            enrollment = await client.enroll(code)
        except EnrollmentRejected as err:
            raise EnrollFailed(
                f"central refused the enrollment code: it is {err.reason}; "
                "ask central operations for a new one"
            ) from None
        except Transient as err:
            raise EnrollFailed(f"cannot reach central at {central_url}: {err}", True) from None
        except Rejected as err:
            raise EnrollFailed(f"central at {central_url} refused the enrollment: {err}") from None
    return await save_enrollment(conn, enrollment, central_url)


async def enroll(settings: Settings, code: str, central_url: str) -> int:
    try:
        async with device_store(settings) as (identity, conn):
            state = await enroll_device(
                conn, identity, code, central_url, settings.uplink.timeout_s
            )
    except (IdentityError, device.DeviceMismatch, EnrollFailed) as err:
        return _error(str(err))
    print(f"enrolled with {central_url} for merchant {state.merchant!r}; device id:")
    print(state.device_id, flush=True)
    return 0


# -- the daemon ----------------------------------------------------------------------------


async def run_daemon(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        return await _serve(settings, stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _serve(settings: Settings, stop: asyncio.Event) -> int:
    try:
        # Held while the daemon runs, so a restore cannot swap the database under it.
        with lock.hold(settings.data_dir):
            return await _serve_held(settings, stop)
    except lock.StoreBusy as err:
        return _error(str(err))


async def _serve_held(settings: Settings, stop: asyncio.Event) -> int:
    try:
        async with device_store(settings) as (identity, conn):
            # Ready (and watched) from here on, enrolled or not: a device waiting for its
            # enrollment is a healthy daemon, and under Type=notify a READY that only came after
            # enrollment would make systemd time the start out before the technician enrolls.
            async with asyncio.TaskGroup() as tasks:
                watchdog = _watchdog_interval_s()
                if watchdog is not None:
                    tasks.create_task(_watchdog(stop, watchdog), name="uplink-watchdog")
                _sd_notify("READY=1")
                try:
                    await _push(settings, conn, identity, stop)
                finally:
                    _sd_notify("STOPPING=1")
                    stop.set()  # ends the watchdog
    except (IdentityError, device.DeviceMismatch) as err:
        return _error(str(err))
    log.info("uplink stopped")
    return 0


async def _push(
    settings: Settings, conn: aiosqlite.Connection, identity: DeviceIdentity, stop: asyncio.Event
) -> None:
    state = await wait_enrolled(conn, stop)
    if state is None:
        return
    if settings.uplink.central_url.rstrip("/") != state.central_url:
        log.warning(
            "uplink.central_url is %s but the device enrolled with %s; using the "
            "latter (enroll again to move it)",
            settings.uplink.central_url,
            state.central_url,
        )
    async with httpx.AsyncClient(timeout=settings.uplink.timeout_s) as http:
        uplink = Uplink(settings, conn, identity, CentralClient(state.central_url, identity, http))
        print(f"uplink running for {state.device_id} -> {state.central_url}", flush=True)
        await uplink.run(stop)


def _sd_notify(message: str) -> None:
    """Tell systemd (``Type=notify``) about our state; nothing happens outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode("ascii"))
    except OSError as err:
        log.warning("cannot notify systemd: %s", err)


def _watchdog_interval_s() -> float | None:
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or (pid is not None and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000  # ping twice per watchdog period


async def _watchdog(stop: asyncio.Event, interval_s: float) -> None:
    # The event loop answering is what the watchdog checks: a wedged loop stops the pings.
    while not stop.is_set():
        _sd_notify("WATCHDOG=1")
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            pass
