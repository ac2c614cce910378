"""The ``bitagora`` command: one entry point for the kiosk, the uplink, central and the tools."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from pathlib import Path

from appliance import __version__
from appliance.config import ConfigError, Settings, load_settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


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


def log_to_file(path: Path, verbose: bool) -> None:
    """Send logs to a file: a full-screen app must not have log lines written over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        filename=path,
        force=True,
        format=LOG_FORMAT,
    )


def cmd_kiosk(args: argparse.Namespace) -> int:
    from appliance.kiosk import run_kiosk
    from appliance.store.lock import StoreBusy

    settings = _settings(args)
    log_to_file(settings.data_dir / "logs" / "kiosk.log", args.verbose)
    try:
        return asyncio.run(run_kiosk(settings, seed_demo_data=args.seed_demo))
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


def cmd_demo(args: argparse.Namespace) -> int:
    from appliance.demo import demo_root, run_demo

    root = demo_root(args.data_dir)
    log_to_file(root / "logs" / "kiosk.log", args.verbose)
    return run_demo(root, headless=args.headless, sales=args.sales)


def add_wallet_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from appliance.wallet.cli import add_wallet_parser

    add_wallet_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bitagora", description="BitAgora POS appliance")
    parser.add_argument("--version", action="version", version=f"bitagora {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    kiosk = sub.add_parser("kiosk", help="run the touchscreen till")
    add_device_options(kiosk)
    kiosk.add_argument(
        "--seed-demo",
        action="store_true",
        help="load the demo catalog and staff into an empty store",
    )
    kiosk.set_defaults(func=cmd_kiosk)

    from appliance.uplink.main import add_uplink_parser

    add_uplink_parser(sub)

    try:
        from central.cli import add_central_parser
    except ImportError as err:  # the device image ships without the central extra
        missing = str(err)
        central = sub.add_parser("central", help="fleet backend (needs the 'central' extra)")
        central.set_defaults(
            func=lambda _a: _fail(
                f"central is not installed here ({missing}); "
                "pip install 'bitagora-appliance[central]'"
            )
        )
    else:
        add_central_parser(sub)

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

    sim = sub.add_parser("sim", help="wire-level device simulators")
    ssub = sim.add_subparsers(dest="sim_command", required=True, metavar="DEVICE")
    from appliance.sim import printer as printer_sim

    printer = ssub.add_parser("printer", help="ESC/POS printer on raw TCP")
    printer_sim.add_arguments(printer)
    printer.set_defaults(func=printer_sim.run)
    from appliance.sim import nfc as nfc_sim

    nfc = ssub.add_parser("nfc", help="PN532 NFC reader on a pty")
    nfc_sim.add_arguments(nfc)
    nfc.set_defaults(func=nfc_sim.run)
    from appliance.sim import esplora as esplora_sim

    esplora = ssub.add_parser("esplora", help="Esplora HTTP API with a chain tests can drive")
    esplora_sim.add_arguments(esplora)
    esplora.set_defaults(func=esplora_sim.run)
    from appliance.sim import bitcoind as bitcoind_sim

    bitcoind = ssub.add_parser(
        "bitcoind", help="Bitcoin Core JSON-RPC (and the Esplora API) over one simulated chain"
    )
    bitcoind_sim.add_arguments(bitcoind)
    bitcoind.set_defaults(func=bitcoind_sim.run)
    from appliance.sim import rates as rates_sim

    rates = ssub.add_parser("rates", help="the exchanges' rate tickers, at rates tests set")
    rates_sim.add_arguments(rates)
    rates.set_defaults(func=rates_sim.run)

    from appliance.sim import stripe as stripe_sim

    stripe_parser = ssub.add_parser(
        "stripe", help="the Stripe API subset card payments use, with simulated readers"
    )
    stripe_sim.add_arguments(stripe_parser)
    stripe_parser.set_defaults(func=stripe_sim.run)

    from appliance.sim import lightning as lightning_sim

    lightning = ssub.add_parser("lightning", help="Core Lightning JSON-RPC on a unix socket")
    lightning_sim.add_arguments(lightning)
    lightning.set_defaults(func=lightning_sim.run)

    demo = sub.add_parser("demo", help="kiosk + uplink + central + printer simulator, locally")
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="demo state (default: $BITAGORA_DATA_DIR or ./demo-data)",
    )
    demo.add_argument(
        "--headless",
        action="store_true",
        help="drive scripted sales instead of showing the kiosk, then check",
    )
    demo.add_argument("--sales", type=int, default=3, help="scripted sales with --headless")
    demo.set_defaults(func=cmd_demo)
    return parser


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
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
