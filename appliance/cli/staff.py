"""``bitagora staff``: who may use the till, their PINs and their NFC badges.

    bitagora staff list
    bitagora staff add ID --name NAME --role cashier|manager|technician   (PIN asked twice)
    bitagora staff badge ID UID        bind a badge (the UID `bitagora doctor` shows)
    bitagora staff unbadge UID         forget a lost or returned badge
    bitagora staff unlock ID           lift ID's PIN lockout before its time
    bitagora staff unlock --till       lift the lockout of the till's PIN pad

PINs are read without echo (or one line from standard input with ``--pin-stdin``, for scripts)
and stored only as scrypt hashes. Whoever runs this has the device's shell, so an unlock from
here needs no manager's PIN; it is journalled (``via`` = ``cli``) like one at the till.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta

import aiosqlite

from appliance.cli.common import Subparsers, add_device_options
from appliance.cli.common import settings as device_settings
from appliance.config import Settings
from appliance.core.lockout import TILL, format_wait, staff_subject, utc_now
from appliance.core.roles import ROLES
from appliance.store import catalog, device, lock, lockout
from appliance.store.db import open_db
from appliance.store.identity import load_or_create_identity

PIN_DIGITS = range(4, 9)


def _pin(from_stdin: bool) -> str:
    if from_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass("PIN (4-8 digits): ")
        if getpass.getpass("Same PIN again: ") != pin:
            raise ValueError("the two PINs differ")
    if not pin.isdigit() or len(pin) not in PIN_DIGITS:
        raise ValueError("a PIN is 4 to 8 digits")
    return pin


def _locked(left: timedelta | None) -> str:
    return f"  LOCKED OUT for {format_wait(left)}" if left else ""


async def _list(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    rows = await catalog.all_staff(conn)
    if not rows:
        return "no staff yet: bitagora staff add ID --name NAME --role ROLE"
    locked = await lockout.locked_subjects(conn, utc_now())
    lines = [
        f"{s.id:<12} {s.role:<10} {s.name}"
        + (f"  badges …{', …'.join(u[-4:] for u in b)}" if b else "")
        + _locked(locked.get(staff_subject(s.id)))
        for s, b in rows
    ]
    if TILL in locked:
        wait = format_wait(locked[TILL])
        lines.append(f"the PIN pad is locked out for {wait} (bitagora staff unlock --till)")
    return "\n".join(lines)


async def _add(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    staff = await catalog.add_staff(conn, args.id, args.name, args.role, _pin(args.pin_stdin))
    return f"{staff.name} ({staff.id}) is a {staff.role}"


async def _badge(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    uid = await catalog.bind_badge(conn, args.id, args.uid)
    return f"badge …{uid[-4:]} now unlocks the till for {args.id}"


async def _unbadge(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    if await catalog.unbind_badge(conn, args.uid):
        return "badge forgotten"
    raise ValueError("that badge was not bound to anybody")


async def _unlock(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    if (args.id is None) == (not args.till):
        raise ValueError("name someone to unlock, or --till for the PIN pad")
    who = None
    if args.id is not None:
        who = next((s for s, _ in await catalog.all_staff(conn) if s.id == args.id), None)
        if who is None:
            raise ValueError(f"no staff member {args.id!r}")
    # The record is signed with the device key, as the kiosk would sign it.
    identity = load_or_create_identity(settings.data_dir)
    await device.bind(conn, identity)
    subject = TILL if who is None else staff_subject(who.id)
    record = await lockout.lift(
        conn, identity, subject, utc_now(), "cli", (who.id, who.name) if who else None
    )
    what = "the PIN pad" if who is None else f"{who.name} ({who.id})"
    if record is None:
        raise ValueError(f"{what} is not locked out")
    return f"{what} unlocked (journal record {record.seq})"


Action = Callable[[aiosqlite.Connection, argparse.Namespace, Settings], Awaitable[str]]


def run(settings: Settings, action: Action, args: argparse.Namespace) -> int:
    async def go() -> str:
        conn = await open_db(settings.database_path)
        try:
            return await action(conn, args, settings)
        finally:
            await conn.close()

    try:
        # Beside the kiosk and the uplink (shared), never in the middle of a restore.
        with lock.hold(settings.data_dir):
            print(asyncio.run(go()))
    except (ValueError, aiosqlite.Error, device.DeviceMismatch) as err:  # BadgeError: ValueError
        print(f"error: {err}", file=sys.stderr)
        return 1
    except lock.StoreBusy as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: Subparsers) -> None:
    staff = subparsers.add_parser("staff", help="staff, their roles, PINs and badges")
    staff.set_defaults(func=lambda args: run(device_settings(args), args.staff_action, args))
    sub = staff.add_subparsers(dest="staff_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="everyone who may use the till")
    listing.set_defaults(staff_action=_list)
    add = sub.add_parser("add", help="add someone, or change their name, role or PIN")
    add.add_argument("id", help="short id, e.g. ana")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    add.set_defaults(staff_action=_add)
    badge = sub.add_parser("badge", help="bind an NFC badge to someone")
    badge.add_argument("id")
    badge.add_argument("uid", help="the card UID in hex, e.g. 04A224B2C35E80")
    badge.set_defaults(staff_action=_badge)
    unbadge = sub.add_parser("unbadge", help="forget a badge")
    unbadge.add_argument("uid")
    unbadge.set_defaults(staff_action=_unbadge)
    unlock = sub.add_parser("unlock", help="lift a PIN lockout before its time (journalled)")
    unlock.add_argument("id", nargs="?", help="whose lockout (their short id)")
    unlock.add_argument("--till", action="store_true", help="the till's PIN pad instead")
    unlock.set_defaults(staff_action=_unlock)
    for parser in (listing, add, badge, unbadge, unlock):
        add_device_options(parser)
