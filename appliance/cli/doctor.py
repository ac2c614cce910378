"""``bitagora doctor``: the technician's self-test (the checks are appliance/doctor.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import sys

from appliance.cli.common import Subparsers, add_device_options, settings
from appliance.config import ConfigError
from appliance.i18n import use


def register(sub: Subparsers) -> None:
    doctor = sub.add_parser("doctor", help="the technician's self-test")
    add_device_options(doctor)
    doctor.add_argument("--json", action="store_true", help="machine-readable report")
    doctor.add_argument(
        "--offline",
        action="store_true",
        help="skip the checks that need the network (central, exchange rates, Esplora)",
    )
    doctor.add_argument("--no-print", action="store_true", help="do not print a test page")
    doctor.add_argument(
        "--drawer-pin",
        default=None,
        help="pulse the drawer with this technician's or manager's PIN (asked when interactive)",
    )
    doctor.add_argument(
        "--card-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="wait up to S seconds for a card on the NFC reader",
    )
    doctor.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from appliance.doctor import Options, passed, report, run_checks

    pin = args.drawer_pin
    if pin is None and not args.json and sys.stdin.isatty():
        answer = input("Pulse the cash drawer now (journaled as a test opening)? [y/N] ")
        if answer.strip().lower() in ("y", "yes"):
            pin = getpass.getpass("Technician's or manager's PIN: ")
    options = Options(
        offline=args.offline,
        print_test_page=not args.no_print,
        drawer_pin=pin,
        card_wait_s=args.card_wait,
    )
    with contextlib.suppress(ConfigError):  # the config check says what is wrong, in English
        use(settings(args).device.language)  # what was seen and what to do, in the till's
    checks = asyncio.run(run_checks(lambda: settings(args), options))
    print(report(checks, args.json))
    return 0 if passed(checks) else 1
