"""``bitagora journal verify|export``: check a device's signed journal, or write it out for an
auditor (docs/PROTOCOL.md)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from appliance.cli.common import Subparsers, fail


def register(sub: Subparsers) -> None:
    journal = sub.add_parser("journal", help="verify or export the signed journal")
    actions = journal.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    verify = actions.add_parser("verify", help="verify a device database or an export")
    verify.add_argument("path", type=Path)
    verify.set_defaults(func=cmd_verify)
    export = actions.add_parser("export", help="export a device database's journal as JSON Lines")
    export.add_argument("path", type=Path)
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(func=cmd_export)


def cmd_verify(args: argparse.Namespace) -> int:
    from appliance.store.export import VerifyError, verify_path
    from bitagora_protocol.journal import JournalError

    try:
        result = verify_path(args.path)
    except JournalError as err:
        print(f"FAIL: seq {err.seq}: {err.reason}" if err.seq else f"FAIL: {err.reason}")
        return 1
    except (VerifyError, OSError) as err:
        print(f"FAIL: {err}")
        return 1
    last = f", last hash {result.last_hash}" if result.last_hash else ""
    print(f"OK: {result.count} records of {result.device_id} verify{last}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from appliance.store.db import open_db
    from appliance.store.export import VerifyError, export_journal
    from appliance.store.identity import IdentityError, load_identity

    async def export() -> int:
        conn = await open_db(args.path)
        try:
            return await export_journal(conn, args.out, identity)
        finally:
            await conn.close()

    if not args.path.is_file():
        return fail(f"{args.path} does not exist")
    try:
        # The device key signs the export's chain head; it lives in the database's data dir.
        identity = load_identity(args.path.parent)
    except IdentityError as err:
        return fail(str(err), 1)
    try:
        count = asyncio.run(export())
    except VerifyError as err:
        return fail(str(err), 1)
    print(f"exported {count} records to {args.out}")
    return 0
