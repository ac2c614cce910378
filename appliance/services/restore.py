"""Restoring the device store from a backup, and when a restore is refused.

A restore refuses, each time saying why: while the kiosk or the uplink holds the store; a backup
whose checksum, journal chain or signatures fail; a backup of another device key; and, unless
``force``, a backup whose journal head is older than what central holds for this device (or
than the database it would replace), because the device would then sign a second, different
record for a seq that already exists: a fork. ``bitagora restore`` (cli/backup.py) runs it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from appliance.config import Settings
from appliance.store import lock, outbox
from appliance.store.backup import copy_in, live_head, swap_in, verify_backup
from appliance.store.identity import DeviceIdentity, IdentityError, load_identity
from appliance.store.readonly import uplink_value
from appliance.uplink.client import CentralClient, Rejected, Transient


class Refused(RuntimeError):
    """The restore was not done; the message says why and what to do."""


async def restore(settings: Settings, src: Path, *, force: bool = False) -> str:
    """Check ``src`` and put it in place; the returned line says what was done (Refused,
    BackupError or StoreBusy when nothing was)."""
    # First, so that nothing writes between the checks below and the swap.
    with lock.hold(settings.data_dir, exclusive=True):
        # The copy in the data directory is what is checked and then put in place.
        incoming = await asyncio.to_thread(copy_in, src, settings.database_path)
        try:
            return await _restore_copy(settings, src, incoming, force)
        finally:
            incoming.unlink(missing_ok=True)  # gone once swapped in; left over if refused


async def _restore_copy(settings: Settings, src: Path, incoming: Path, force: bool) -> str:
    """Check ``incoming`` (``src``'s database copied into the data directory), then swap it in."""
    manifest = await asyncio.to_thread(verify_backup, src, incoming)
    identity = _device_key(settings, manifest.public_key, manifest.device_id)
    warnings: list[str] = []
    held = await central_held_seq(settings, identity, incoming, warnings, force)
    if held is not None and held > manifest.head_seq and not force:
        raise Refused(
            f"central holds this device's journal up to seq {held}, the backup only up to "
            f"seq {manifest.head_seq}: the till would sign new records for seqs central "
            "already has (a fork). Use a newer backup, or --force if central ops agree"
        )
    live = live_head(settings.database_path)
    if live is not None and live > manifest.head_seq and not force:
        raise Refused(
            f"the current database holds the journal up to seq {live}, the backup only up "
            f"to seq {manifest.head_seq}: restoring would drop {live - manifest.head_seq} "
            "signed records. Use a newer backup, or --force"
        )
    aside = await asyncio.to_thread(swap_in, incoming, settings.database_path)
    kept = f"; the replaced database is in {aside}" if aside else ""
    notes = "".join(f"\nnote: {w}" for w in warnings)
    return (
        f"restored {manifest.device_id} up to seq {manifest.head_seq} "
        f"(backup of {manifest.created_at}){kept}{notes}"
    )


def _device_key(settings: Settings, public_key: str, device_id: str) -> DeviceIdentity:
    try:
        identity = load_identity(settings.data_dir)
    except IdentityError as err:
        raise Refused(
            f"{err}. A backup restores only onto the device that made it ({device_id}): "
            "its key never leaves the device"
        ) from None
    if identity.public_key_hex != public_key:
        raise Refused(
            f"the backup belongs to {device_id}, but this device is {identity.device_id}: a "
            "backup restores only onto the device whose key made it (a new device enrolls "
            "afresh)"
        )
    return identity


async def central_held_seq(
    settings: Settings,
    identity: DeviceIdentity,
    database: Path,
    warnings: list[str],
    force: bool = False,
) -> int | None:
    """The highest seq central holds for this device, asked with an empty signed push; None
    (with a warning) when the backup was never enrolled, central cannot be reached, or it
    refuses to answer and ``force`` says go ahead anyway."""
    url = uplink_value(database, outbox.CENTRAL_URL) or uplink_value(
        settings.database_path, outbox.CENTRAL_URL
    )
    if url is None:
        warnings.append("the device is not enrolled: central was not asked what it holds")
        return None
    async with httpx.AsyncClient(timeout=settings.uplink.timeout_s) as http:
        try:
            return await CentralClient(url, identity, http).push([])
        except Transient as err:
            warnings.append(f"central at {url} could not be asked what it holds: {err}")
            return None
        except Rejected as err:
            if not force:
                raise Refused(
                    f"central at {url} would not say what it holds ({err}); --force to restore "
                    "without knowing"
                ) from None
            warnings.append(f"central at {url} would not say what it holds: {err}")
            return None
