"""``bitagora factory-reset``: send central everything, then forget the shop.

Sales must never be lost: before anything is wiped, every journal record not yet acknowledged
by central is pushed (a final uplink flush). If some cannot be delivered (central unreachable,
the device never enrolled), the reset is refused unless forced, and says how many records would
be lost. The wipe takes the device key, the store (journal, sales, outbox), the provisioning
status, the credentials and ``appliance.toml``; the Wi-Fi connection and the setup file on the
boot partition stay, so the device can be provisioned again.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import httpx

from appliance.config import Settings
from appliance.provision.host import Host
from appliance.store import outbox
from appliance.store.db import open_db
from appliance.store.identity import KEY_FILE, IdentityError, load_identity
from appliance.uplink.client import CentralClient, UplinkError
from appliance.uplink.daemon import NoProgress, Uplink, load_enrollment


@dataclass(frozen=True)
class Flushed:
    unsent: int  # records central still does not hold
    problem: str  # why they could not be sent ("" if none are left)


def device_id(settings: Settings) -> str:
    """The device's id, or "" when it has no (readable) key."""
    try:
        return load_identity(settings.data_dir).device_id
    except (IdentityError, ValueError):
        return ""


async def final_flush(settings: Settings) -> Flushed:
    """Push every unacknowledged record to central; report what is left and why."""
    if not settings.database_path.is_file():
        return Flushed(0, "")
    conn = await open_db(settings.database_path)
    try:
        unsent = (await outbox.backlog(conn)).count
        state = await load_enrollment(conn)
        if unsent == 0:
            return Flushed(0, "")
        if state is None or not device_id(settings):
            return Flushed(unsent, "this device never enrolled with central")
        identity = load_identity(settings.data_dir)
        async with httpx.AsyncClient(timeout=settings.uplink.timeout_s) as http:
            client = CentralClient(state.central_url, identity, http)
            uplink = Uplink(settings, conn, identity, client)
            problem = ""
            try:
                while (await outbox.backlog(conn)).count:
                    if not await uplink.push_once():
                        raise NoProgress("central took none of the records offered")
            except UplinkError as err:
                problem = f"central at {state.central_url} did not take them: {err}"
        return Flushed((await outbox.backlog(conn)).count, problem)
    finally:
        await conn.close()


def wipe(settings: Settings, host: Host) -> list[Path]:
    """Remove the device's identity, state, credentials and written settings; return what went."""
    removed: list[Path] = []
    targets = [settings.data_dir / KEY_FILE]
    targets += [
        settings.data_dir / name
        for name in ("appliance.sqlite3", "appliance.sqlite3-wal", "appliance.sqlite3-shm")
    ]
    targets += [settings.data_dir / "provision.json", host.config_path]
    if host.credentials_dir.is_dir():
        targets += sorted(host.credentials_dir.iterdir())
    for path in targets:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        else:
            continue
        removed.append(path)
    return removed
