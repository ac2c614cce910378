"""``bitagora central merchant …`` and ``bitagora central user …``: merchants and web users from
the command line (scripts, tests, the first owner of a new merchant).

    bitagora central merchant add NAME [--currency EUR] [--country PT]
    bitagora central user add EMAIL --merchant NAME --role owner|manager [--language es]
        [--password-stdin]
    bitagora central user add EMAIL --role ops [--language pt_BR] [--password-stdin]
    bitagora central user list
    bitagora central user deactivate EMAIL
    bitagora central user reset-password EMAIL [--password-stdin]

They run as central's own database role, like the device API: the command line is for whoever
runs central, who can read the database anyway. Without ``--password-stdin`` the password is asked
twice on the terminal; with it, the first line of standard input is the password.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import asyncpg

from central.i18n import LANGUAGES

T = TypeVar("T")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class CommandError(Exception):
    """A command that cannot do what was asked; its message is printed as ``error: …``."""


def _run(args: argparse.Namespace, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run ``work`` on a migrated database: ``DATABASE_URL`` or the embedded server."""
    from central.cli import central_dir, database
    from central.schema import apply_migrations

    async def go(url: str) -> T:
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn)  # the command may come before central's first start
            return await work(conn)
        finally:
            await conn.close()

    with database(central_dir(args.data_dir)) as url:
        return asyncio.run(go(url))


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != password:
            raise CommandError("the two passwords differ")
    from central.users import check_new_password

    check_new_password(password)
    return password


def _report(action: Callable[[argparse.Namespace], str]) -> Callable[[argparse.Namespace], int]:
    """A command that prints its one-line result, or ``error: …`` and exits 1."""
    from central.users import UserError

    def command(args: argparse.Namespace) -> int:
        try:
            print(action(args), flush=True)
        except (CommandError, UserError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        return 0

    command.__name__ = f"cmd_{action.__name__}"
    return command


def merchant_add(args: argparse.Namespace) -> str:
    name = args.name.strip()
    if not name:
        raise CommandError("the merchant name must not be empty")
    if args.currency is not None and not _CURRENCY.match(args.currency):
        raise CommandError("--currency must be an ISO 4217 code such as EUR")
    if args.country is not None and not _COUNTRY.match(args.country):
        raise CommandError("--country must be an ISO 3166 code such as PT")

    async def add(conn: asyncpg.Connection) -> Any:
        from central import merchant_catalog

        async with conn.transaction():
            merchant = await conn.fetchval(
                "INSERT INTO merchants (name, country) VALUES ($1, $2)"
                " ON CONFLICT (name) DO NOTHING RETURNING id",
                name,
                args.country,
            )
            if merchant is not None and args.currency is not None:
                # The currency is a shop setting: the one the devices price in.
                shop = replace(merchant_catalog.DEFAULT_SETTINGS, currency=args.currency)
                await merchant_catalog.set_settings(conn, merchant, shop)
        return merchant

    if _run(args, add) is None:
        raise CommandError(f"a merchant named {name!r} exists already")
    return f"merchant {name!r} added"


def user_add(args: argparse.Namespace) -> str:
    from central.users import add_user

    if (args.role == "ops") != (args.merchant is None):
        raise CommandError("--role ops takes no --merchant; --role owner|manager needs one")
    password = _password(args)
    user = _run(
        args,
        lambda conn: add_user(conn, args.email, password, args.role, args.merchant, args.language),
    )
    where = "" if args.merchant is None else f" of {args.merchant!r}"
    return f"user {user.email} added: {user.role}{where}"


def user_list(args: argparse.Namespace) -> str:
    from central.users import list_users

    users = _run(args, list_users)
    lines = ["email\trole\tmerchant\tstate"]
    for user in users:
        state = "active" if user["active"] else "deactivated"
        lines.append(f"{user['email']}\t{user['role']}\t{user['merchant'] or '-'}\t{state}")
    return "\n".join(lines)


def user_deactivate(args: argparse.Namespace) -> str:
    from central.users import deactivate

    _run(args, lambda conn: deactivate(conn, args.email))
    return f"user {args.email} deactivated; their sessions have ended"


def user_reset_password(args: argparse.Namespace) -> str:
    from central.users import reset_password

    password = _password(args)
    _run(args, lambda conn: reset_password(conn, args.email, password))
    return f"new password set for {args.email}; their sessions have ended"


def add_tenant_parsers(
    actions: argparse._SubParsersAction[argparse.ArgumentParser], data_dir_help: str
) -> None:
    """Register ``merchant`` and ``user`` under ``bitagora central``."""

    def action(
        group: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        help_text: str,
        run: Callable[[argparse.Namespace], str],
    ) -> argparse.ArgumentParser:
        parser = group.add_parser(name, help=help_text, description=help_text)
        # SUPPRESS keeps a --data-dir given before the action from being reset to None.
        parser.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help)
        parser.set_defaults(func=_report(run))
        return parser

    def password_stdin(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="read the password from the first line of standard input instead of asking",
        )

    merchant = actions.add_parser("merchant", help="add a merchant").add_subparsers(
        dest="merchant_command", metavar="ACTION", required=True
    )
    add = action(merchant, "add", "Add a merchant (a tenant of central).", merchant_add)
    add.add_argument("name", metavar="NAME")
    add.add_argument("--currency", help="ISO 4217 code of its prices, e.g. EUR")
    add.add_argument("--country", help="ISO 3166 code of its country, e.g. PT")

    user = actions.add_parser(
        "user", help="add, list, deactivate web users; reset a password"
    ).add_subparsers(dest="user_command", metavar="ACTION", required=True)
    add = action(
        user, "add", "Add a web user: ops, or an owner or manager of a merchant.", user_add
    )
    add.add_argument("email", metavar="EMAIL")
    add.add_argument("--role", required=True, choices=("owner", "manager", "ops"))
    add.add_argument("--merchant", help="the merchant's name (owners and managers only)")
    add.add_argument(
        "--language",
        choices=LANGUAGES,
        help="the language of the user's pages (default: their browser's)",
    )
    password_stdin(add)
    action(user, "list", "List the web users (tab-separated).", user_list)
    off = action(
        user, "deactivate", "Refuse a user's logins and end their sessions.", user_deactivate
    )
    off.add_argument("email", metavar="EMAIL")
    reset = action(
        user,
        "reset-password",
        "Set a user's new password, lift a lockout and end their sessions.",
        user_reset_password,
    )
    reset.add_argument("email", metavar="EMAIL")
    password_stdin(reset)
