"""The ``bitagora`` command: one entry point for the kiosk, the uplink, central and the tools."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from appliance import __version__
from appliance.config import ConfigError, Settings, load_settings
from appliance.logs import log_to_file, log_to_stderr

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

# Command groups other installed distributions add (central in this one's pyproject.toml, `demo`
# and `sim` in devtools/pyproject.toml): each entry point is a `register(subparsers) -> None`.
COMMANDS_GROUP = "bitagora.commands"
# Catalogs `bitagora kiosk --seed-<name>` can load: `async seed(conn, currency) -> None`.
SEEDS_GROUP = "bitagora.seeds"
# The development tools' commands, named here only to say so where they are not installed.
DEV_COMMANDS = ("demo", "sim")
DEV_TOOLS = "not installed on devices (in a checkout: pip install -e ./devtools)"

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.data_dir, args.config)


def add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="where all device state lives (default: $BITAGORA_DATA_DIR or /var/lib/bitagora)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default: $BITAGORA_CONFIG, <data-dir>/appliance.toml "
        "or /etc/bitagora/appliance.toml)",
    )


def cmd_kiosk(args: argparse.Namespace) -> int:
    from appliance.kiosk import run_kiosk
    from appliance.store.lock import StoreBusy

    seed = None
    if args.seed_demo:
        seed = find_seed("demo")
        if seed is None:
            return _fail(f"--seed-demo: the demo catalog is a development tool, {DEV_TOOLS}")
    settings = _settings(args)
    log_to_file(settings.data_dir / "logs" / "kiosk.log", args.verbose)
    try:
        return asyncio.run(run_kiosk(settings, seed=seed))
    except StoreBusy as err:
        return _fail(str(err))


def cmd_journal_verify(args: argparse.Namespace) -> int:
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


def cmd_journal_export(args: argparse.Namespace) -> int:
    from appliance.store.db import open_db
    from appliance.store.export import VerifyError, export_journal

    async def export() -> int:
        conn = await open_db(args.path)
        try:
            return await export_journal(conn, args.out)
        finally:
            await conn.close()

    if not args.path.is_file():
        print(f"error: {args.path} does not exist", file=sys.stderr)
        return 2
    try:
        count = asyncio.run(export())
    except VerifyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"exported {count} records to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from appliance.report_cli import run

    settings = _settings(args)
    return run(args, settings.database_path, settings.device.currency)


def cmd_staff(args: argparse.Namespace) -> int:
    from appliance.staff import run

    return run(_settings(args), args.staff_action, args)


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
    checks = asyncio.run(run_checks(lambda: _settings(args), options))
    print(report(checks, args.json))
    return 0 if passed(checks) else 1


def add_wallet_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from appliance.wallet.cli import add_wallet_parser

    add_wallet_parser(sub)


def entry_points(group: str) -> list[EntryPoint]:
    """The installed distributions' entry points of ``group`` (read from their metadata: only
    called for what the built-in commands do not cover, so they pay nothing for it)."""
    from importlib.metadata import entry_points as installed

    return list(installed(group=group))


def find_seed(name: str) -> Callable[[Any, str], Awaitable[None]] | None:
    """The seed ``name`` of the ``bitagora.seeds`` entry points, or None if none is installed."""
    for point in entry_points(SEEDS_GROUP):
        if point.name == name:
            seed: Callable[[Any, str], Awaitable[None]] = point.load()
            return seed
    return None


def add_command_groups(sub: Subparsers, command: str | None) -> None:
    """Add the ``bitagora.commands`` entry points' command groups. The one named after
    ``command`` (the command asked for) is loaded first, and the others only if it did not add
    ``command`` (or none was asked for: ``--help`` lists every one)."""
    points = sorted(entry_points(COMMANDS_GROUP), key=lambda p: p.name)
    named = [p for p in points if p.name == command]
    _register(sub, named)
    if command not in sub.choices:
        _register(sub, [p for p in points if p not in named and p.name not in sub.choices])


def _register(sub: Subparsers, points: list[EntryPoint]) -> None:
    for point in points:
        try:
            register = point.load()
        except ImportError as err:  # e.g. central on a device: its extra is not installed
            message = _not_loadable(point, err)
            parser = sub.add_parser(point.name, help=f"(not installed here: {err})")
            parser.set_defaults(func=lambda _a, message=message: _fail(message))
        else:
            register(sub)


def _not_loadable(point: EntryPoint, err: ImportError) -> str:
    """What to say when a command group cannot load: its distribution's extra of the same name,
    if it has one, is what to install."""
    hint = ""
    dist = point.dist
    if dist is not None and point.name in (dist.metadata.get_all("Provides-Extra") or []):
        hint = f"; pip install '{dist.name}[{point.name}]'"
    return f"{point.name} is not installed here ({err}){hint}"


def command_word(argv: Sequence[str]) -> str | None:
    """The command ``argv`` asks for (its first word that is not an option), or None."""
    return next((word for word in argv if not word.startswith("-")), None)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``bitagora`` parser: the built-in commands, and the installed command groups when
    ``argv`` (default: the process's arguments) asks for a command that is not built in."""
    return _build(sys.argv[1:] if argv is None else argv)[0]


def _build(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, Subparsers]:
    parser = argparse.ArgumentParser(prog="bitagora", description="BitAgora POS appliance")
    parser.add_argument("--version", action="version", version=f"bitagora {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kiosk = sub.add_parser("kiosk", help="run the touchscreen till")
    add_device_options(kiosk)
    kiosk.add_argument(
        "--seed-demo",
        action="store_true",
        help="load the demo catalog and staff into an empty store (needs the dev tools)",
    )
    kiosk.set_defaults(func=cmd_kiosk)

    from appliance.uplink.main import add_uplink_parser

    add_uplink_parser(sub)

    from appliance.staff import add_staff_parser

    add_staff_parser(sub, add_device_options)
    sub.choices["staff"].set_defaults(func=cmd_staff)

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

    journal = sub.add_parser("journal", help="verify or export the signed journal")
    jsub = journal.add_subparsers(dest="journal_command", required=True, metavar="ACTION")
    verify = jsub.add_parser("verify", help="verify a device database or an export")
    verify.add_argument("path", type=Path)
    verify.set_defaults(func=cmd_journal_verify)
    export = jsub.add_parser("export", help="export a device database's journal as JSON Lines")
    export.add_argument("path", type=Path)
    export.add_argument("--out", type=Path, required=True)
    export.set_defaults(func=cmd_journal_export)

    from appliance.backup_cli import add_backup_parsers

    add_backup_parsers(sub, add_device_options)

    from appliance.update.cli import add_update_parser

    add_update_parser(sub, add_device_options)

    from appliance.report_cli import add_report_parser

    add_report_parser(sub, add_device_options)
    sub.choices["report"].set_defaults(func=cmd_report)
    from appliance.refunds_cli import add_refunds_parser

    add_refunds_parser(sub, add_device_options, _settings)

    add_wallet_commands(sub)

    from appliance.provision.cli import add_provision_parsers

    add_provision_parsers(sub)

    command = command_word(argv)
    if command not in sub.choices:
        add_command_groups(sub, command)
    return parser, sub


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser, sub = _build(argv)
    command = command_word(argv)
    if command in DEV_COMMANDS and command not in sub.choices:
        return _fail(f"`bitagora {command}` is a development command, {DEV_TOOLS}")
    args = parser.parse_args(argv)
    log_to_stderr(args.verbose)
    try:
        return int(args.func(args))
    except ConfigError as err:
        return _fail(f"bad setting: {err}")
    except PermissionError as err:
        # Device state belongs to the service user (systemd/bitagora.tmpfiles): a tool run as
        # someone else cannot write it, and a traceback would not say so.
        path = f" {err.filename}" if err.filename else ""
        return _fail(
            f"permission denied:{path} (running as {getpass.getuser()}). The device's data "
            "belongs to the user the services run as: run it as that user, e.g. "
            "sudo -u bitagora /opt/bitagora/current/bin/bitagora …"
        )
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
