"""``bitagora central migrate status|up|down``: central's schema by hand (central/schema.py).

    bitagora central migrate status          # each migration: applied (when) or pending
    bitagora central migrate up [--to N]     # apply pending ones, up to N (default all)
    bitagora central migrate down [--to N]   # undo the applied ones above N (default: the last)

Central applies pending migrations itself at start; ``down`` is for taking a release back, run
with central stopped and with the newer release's files (they hold the rollbacks).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg

from central.schema import MigrationError, apply_migrations, roll_back, status

T = TypeVar("T")


def _version(text: str) -> str:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a migration number") from None
    if not 0 <= number <= 9999:
        raise argparse.ArgumentTypeError(f"{number} is not a migration number (0-9999)")
    return f"{number:04d}"


def _on_database(args: argparse.Namespace, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    from central.cli import central_dir, database

    async def go(url: str) -> T:
        conn = await asyncpg.connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    with database(central_dir(args.data_dir)) as url:
        return asyncio.run(go(url))


def cmd_status(args: argparse.Namespace) -> int:
    now = _on_database(args, status)
    for step in now.applied:
        print(f"{step.name}  applied", flush=True)
    for migration in now.pending:
        print(f"{migration.name}  pending", flush=True)
    for problem in now.problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if now.problems else 0


def _report(names: list[str], verb: str) -> None:
    for name in names:
        print(f"{verb} {name}", flush=True)
    if not names:
        print(f"nothing {verb}", flush=True)


def cmd_up(args: argparse.Namespace) -> int:
    _report(_on_database(args, lambda conn: apply_migrations(conn, to=args.to)), "applied")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    async def down(conn: asyncpg.Connection) -> list[str]:
        to = args.to
        if to is None:  # the last applied step only
            applied = (await status(conn)).applied
            to = applied[-2].version if len(applied) > 1 else "0000"
        return await roll_back(conn, to)

    _report(_on_database(args, down), "rolled back")
    return 0


def _refusing(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except MigrationError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1

    run.__name__ = command.__name__
    return run


def add_migrate_parser(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], data_dir_help: str
) -> None:
    migrate = actions.add_parser(
        "migrate",
        help="show, apply or roll back central's schema migrations",
        description="Show, apply or roll back central's schema migrations (docs/OPERATIONS.md).",
    )
    steps = migrate.add_subparsers(dest="migrate_command", metavar="ACTION", required=True)
    shown = steps.add_parser("status", help="each migration: applied or pending; any mismatch")
    shown.set_defaults(func=_refusing(cmd_status))
    up = steps.add_parser("up", help="apply pending migrations")
    up.add_argument("--to", type=_version, default=None, metavar="N", help="stop after N")
    up.set_defaults(func=_refusing(cmd_up))
    down = steps.add_parser("down", help="roll back applied migrations (default: the last one)")
    down.add_argument(
        "--to", type=_version, default=None, metavar="N", help="undo every one above N (0: all)"
    )
    down.set_defaults(func=_refusing(cmd_down))
    for sub in (shown, up, down):
        sub.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help)
