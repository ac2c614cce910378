"""``bitagora backup DEST`` and ``bitagora restore SRC [--force]``.

A restore refuses, each time saying why: while the kiosk or the uplink holds the store; a backup
whose checksum, journal chain or signatures fail; a backup of another device key; and, unless
``--force``, a backup whose journal head is older than what central holds for this device (or
than the database it would replace), because the device would then sign a second, different
record for a seq that already exists: a fork.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from appliance import __version__
from appliance.config import Settings, load_settings
from appliance.store import lock
from appliance.store.backup import (
    BackupError,
    copy_in,
    live_head,
    swap_in,
    take_backup,
    verify_backup,
)
from appliance.store.identity import DeviceIdentity, IdentityError, load_identity
from appliance.uplink.client import CentralClient, Rejected, Transient
from appliance.uplink.daemon import STATE_CENTRAL_URL


class Refused(RuntimeError):
    """The restore was not done; the message says why and what to do."""


def add_backup_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    add_device_options: Callable[[argparse.ArgumentParser], None],
) -> None:
    backup = sub.add_parser("backup", help="copy the device store to a folder (USB stick), online")
    add_device_options(backup)
    backup.add_argument("dest", type=Path, help="folder the backup folder is made in")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore the device store from a backup folder")
    add_device_options(restore)
    restore.add_argument("src", type=Path, help="a backup folder made by bitagora backup")
    restore.add_argument(
        "--force",
        action="store_true",
        help="restore even if central or the current database holds a newer journal "
        "(the device's chain forks: central ops must know)",
    )
    restore.set_defaults(func=cmd_restore)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.data_dir, args.config)


def cmd_backup(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        identity = load_identity(settings.data_dir)
        folder, manifest = take_backup(settings.database_path, args.dest, __version__, identity)
    except (BackupError, IdentityError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"backup of {manifest.device_id} up to seq {manifest.head_seq} in {folder}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        message = asyncio.run(restore(_settings(args), args.src, force=args.force))
    except (Refused, BackupError, lock.StoreBusy) as err:
        print(f"restore refused: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0


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


def _enrolled_url(database: Path) -> str | None:
    try:
        conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT value FROM uplink_state WHERE key = ?", (STATE_CENTRAL_URL,)
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


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
    url = _enrolled_url(database) or _enrolled_url(settings.database_path)
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
