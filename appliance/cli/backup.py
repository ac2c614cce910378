"""``bitagora backup DEST`` and ``bitagora restore SRC [--force]`` (when a restore is refused:
services/restore.py)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from appliance import __version__
from appliance.cli.common import Subparsers, add_device_options, fail, settings
from appliance.services.restore import Refused, restore
from appliance.store import lock
from appliance.store.backup import BackupError, take_backup
from appliance.store.identity import IdentityError, load_identity


def register(sub: Subparsers) -> None:
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


def cmd_backup(args: argparse.Namespace) -> int:
    device = settings(args)
    try:
        identity = load_identity(device.data_dir)
        folder, manifest = take_backup(device.database_path, args.dest, __version__, identity)
    except (BackupError, IdentityError) as err:
        return fail(str(err), 1)
    print(f"backup of {manifest.device_id} up to seq {manifest.head_seq} in {folder}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    try:
        message = asyncio.run(restore(settings(args), args.src, force=args.force))
    except (Refused, BackupError, lock.StoreBusy) as err:
        print(f"restore refused: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0
