"""``bitagora staff``: who may use the till, their PINs and their NFC badges.

    bitagora staff list                everyone, deactivated people marked
    bitagora staff add ID --name NAME --role cashier|manager|technician [--language LANG]
                                       (PIN asked twice; LANG: en, es, pt_BR, pt_PT or shop)
    bitagora staff pin ID              a new PIN (asked twice)
    bitagora staff deactivate ID       their PIN and badges open nothing; their history stays
    bitagora staff activate ID         let them in again, with a new PIN (asked twice)
    bitagora staff badge ID UID        bind a badge (the UID `bitagora doctor` shows)
    bitagora staff unbadge UID         forget a lost or returned badge
    bitagora staff unlock ID           lift ID's PIN lockout before its time
    bitagora staff unlock --till       lift the lockout of the till's PIN pad

PINs are read without echo (or one line from standard input with ``--pin-stdin``, for scripts)
and stored only as scrypt hashes. Whoever runs this has the device's shell, so nothing here needs
a manager's PIN. Adding someone (or changing them with ``add`` again), a new PIN, deactivating
and activating are ``staff`` journal records (``by`` = ``{"via": "cli"}``) and follow the till's
rules (``services/staff.py``: a PIN belongs to one active person, the last active manager stays);
an unlock is a ``staff_lockout`` record (``via`` = ``cli``) like one at the till.
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
from appliance.core.pin import check_pin_form
from appliance.core.roles import ROLES
from appliance.i18n import LANGUAGES
from appliance.services.access import AccessService
from appliance.services.staff import CLI, StaffChange, StaffService
from appliance.store import device, lock, lockout
from appliance.store import staff as staff_store
from appliance.store.db import open_db
from appliance.store.identity import load_or_create_identity

SHOP_LANGUAGE = "shop"  # --language: speak the shop's language, not one of one's own


def _pin(from_stdin: bool) -> str:
    if from_stdin:
        pin = sys.stdin.readline().strip()
    else:
        pin = getpass.getpass("PIN (4-8 digits): ")
        if getpass.getpass("Same PIN again: ") != pin:
            raise ValueError("the two PINs differ")
    check_pin_form(pin)
    return pin


def _locked(left: timedelta | None) -> str:
    return f"  LOCKED OUT for {format_wait(left)}" if left else ""


async def _list(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    rows = await staff_store.all_staff(conn)
    if not rows:
        return "no staff yet: bitagora staff add ID --name NAME --role ROLE"
    locked = await lockout.locked_subjects(conn, utc_now())
    lines = [
        f"{s.id:<12} {s.role:<10} {s.name}"
        + (f"  speaks {s.language}" if s.language else "")
        + ("" if s.active else "  DEACTIVATED")
        + (f"  badges …{', …'.join(u[-4:] for u in b)}" if b else "")
        + _locked(locked.get(staff_subject(s.id)))
        for s, b in rows
    ]
    if TILL in locked:
        wait = format_wait(locked[TILL])
        lines.append(f"the PIN pad is locked out for {wait} (bitagora staff unlock --till)")
    return "\n".join(lines)


async def _bound(conn: aiosqlite.Connection, settings: Settings) -> StaffService:
    """The till's staff rules over this store, its records signed with the device key as the
    kiosk would sign them."""
    identity = load_or_create_identity(settings.data_dir)
    await device.bind(conn, identity)
    return StaffService(conn, identity, AccessService(conn, identity))


def _done(change: StaffChange, what: str) -> str:
    return f"{change.staff.name} ({change.staff.id}) {what} (journal record {change.record.seq})"


async def _add(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    pin = _pin(args.pin_stdin)
    language = None if args.language == SHOP_LANGUAGE else args.language
    if args.language is None:  # left out: someone there already keeps their own
        existing = await staff_store.get(conn, args.id)
        language = existing.language if existing else None
    staff = await _bound(conn, settings)
    change = await staff.put(args.id, args.name, args.role, pin, CLI, language)
    speaks = f", speaking {language}" if language else ""
    return _done(change, f"is a {change.staff.role}{speaks}")


async def _set_pin(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    change = await (await _bound(conn, settings)).set_pin(args.id, _pin(args.pin_stdin), CLI)
    return _done(change, "has a new PIN")


async def _deactivate(
    conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings
) -> str:
    change = await (await _bound(conn, settings)).deactivate(args.id, CLI)
    return _done(change, "is deactivated")


async def _activate(
    conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings
) -> str:
    change = await (await _bound(conn, settings)).reactivate(args.id, _pin(args.pin_stdin), CLI)
    return _done(change, "is active again")


async def _badge(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    uid = await staff_store.bind_badge(conn, args.id, args.uid)
    return f"badge …{uid[-4:]} now unlocks the till for {args.id}"


async def _unbadge(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    if await staff_store.unbind_badge(conn, args.uid):
        return "badge forgotten"
    raise ValueError("that badge was not bound to anybody")


async def _unlock(conn: aiosqlite.Connection, args: argparse.Namespace, settings: Settings) -> str:
    if (args.id is None) == (not args.till):
        raise ValueError("name someone to unlock, or --till for the PIN pad")
    who = None
    if args.id is not None:
        who = await staff_store.get(conn, args.id)
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
    add = sub.add_parser("add", help="add someone, or change their name, role or PIN (journalled)")
    add.add_argument("id", help="short id, e.g. ana")
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--language",
        choices=(*LANGUAGES, SHOP_LANGUAGE),
        help="the screens' language from their login (shop: the shop's); left out, someone "
        "there already keeps theirs, someone new speaks the shop's",
    )
    add.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    add.set_defaults(staff_action=_add)
    pin = sub.add_parser("pin", help="give someone a new PIN (journalled)")
    pin.add_argument("id")
    pin.add_argument("--pin-stdin", action="store_true", help="read the PIN from standard input")
    pin.set_defaults(staff_action=_set_pin)
    deactivate = sub.add_parser(
        "deactivate", help="their PIN and badges open nothing; history stays (journalled)"
    )
    deactivate.add_argument("id")
    deactivate.set_defaults(staff_action=_deactivate)
    activate = sub.add_parser("activate", help="let a deactivated person in, new PIN (journalled)")
    activate.add_argument("id")
    activate.add_argument(
        "--pin-stdin", action="store_true", help="read the PIN from standard input"
    )
    activate.set_defaults(staff_action=_activate)
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
    for parser in (listing, add, pin, deactivate, activate, badge, unbadge, unlock):
        add_device_options(parser)
