"""``bitagora central backup`` and ``bitagora central restore`` (central/backup.py, restore.py).

    bitagora central backup --recipients-file central-backup.pub [--out DIR]
                            [--keep 180] [--keep-days 30]
    bitagora central restore FILE --identity central-backup.key

The backup is encrypted to the public keys given (``--recipient age1…`` or a file of them,
one a line, as ``age-keygen -y`` prints); only the matching identity, kept off the backup
host, can restore it. Restore goes into an empty database (``DATABASE_URL``, or a fresh
embedded one) and checks what it restored.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path


def cmd_backup(args: argparse.Namespace) -> int:
    from central.backup import BackupError, back_up, prune, recipients_from
    from central.cli import central_dir, database

    directory = central_dir(args.data_dir)
    keys = list(args.recipient or [])
    try:
        for path in args.recipients_file or []:
            keys += [k for k in path.read_text().splitlines() if k.strip().startswith("age1")]
        recipients = recipients_from(keys)
        folder = args.out or directory / "backups"
        folder.mkdir(parents=True, exist_ok=True)
        with database(directory) as url:
            done = asyncio.run(back_up(url, folder, recipients))
        removed = prune(folder, args.keep, args.keep_days, datetime.now(UTC))
    except (BackupError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"backup {done.path}: {done.rows} rows, {done.bytes} bytes, {done.seconds:.2f} s"
        + ("" if done.recorded else " (not recorded: migration 0008 is not applied)"),
        flush=True,
    )
    for old in removed:
        print(f"removed {old.name}", flush=True)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from central.cli import central_dir, database
    from central.restore import RestoreError, identities_from, restore

    try:
        identities = identities_from(args.identity)
        with database(central_dir(args.data_dir)) as url:
            done = asyncio.run(restore(url, args.file, identities))
    except RestoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"restored {args.file.name}: {done.rows} rows in {done.tables} tables; "
        f"{done.records} journal records of {done.devices} devices checked, {done.seconds:.2f} s",
        flush=True,
    )
    for problem in done.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if done.problems else 0


def add_backup_parsers(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], data_dir_help: str
) -> None:
    backup = actions.add_parser(
        "backup",
        help="back up central's database, compressed and encrypted to public keys",
        description="pg_dump central's database into an age file only the identity of one of "
        "the recipients can read; then remove backups beyond --keep or older than --keep-days.",
    )
    backup.add_argument("--recipient", action="append", metavar="AGE1…", help="a public key")
    backup.add_argument(
        "--recipients-file", action="append", type=Path, metavar="FILE", help="public keys"
    )
    backup.add_argument(
        "--out", type=Path, default=None, help="backup folder (default <data-dir>/central/backups)"
    )
    backup.add_argument("--keep", type=int, default=180, help="newest backups kept (default 180)")
    backup.add_argument(
        "--keep-days", type=float, default=30.0, help="days a backup is kept (default 30)"
    )
    backup.set_defaults(func=cmd_backup)
    restore = actions.add_parser(
        "restore",
        help="restore a backup into an empty database and check it",
        description="Decrypt FILE with the identity, restore it into an empty database, then "
        "check every table's row count and every device's journal chain.",
    )
    restore.add_argument("file", type=Path, metavar="FILE")
    restore.add_argument(
        "--identity", type=Path, required=True, metavar="KEYFILE", help="age identity file"
    )
    restore.set_defaults(func=cmd_restore)
    for sub in (backup, restore):
        sub.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help)
