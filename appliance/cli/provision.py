"""`bitagora provision` (first boot, a setup file, or questions) and `bitagora factory-reset`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import pwd
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.cli.common import Subparsers, fail
from appliance.config import PRINTER_KINDS, ConfigError, Settings
from appliance.provision.apply import (
    Target,
    device_settings,
    provision,
    provision_file,
    supersede,
)
from appliance.provision.host import Host
from appliance.provision.reset import device_id, final_flush, wipe
from appliance.provision.setup_file import (
    SETUP_FILE_NAME,
    TYPED_ANSWERS,
    SetupError,
    parse_setup,
)
from appliance.provision.status import ProvisionStatus
from appliance.store import lock

BOOT_SETUP = Path("boot/firmware") / SETUP_FILE_NAME
STATE_DIR = Path("var/lib/bitagora")


def register(sub: Subparsers) -> None:
    provision_parser = sub.add_parser(
        "provision",
        help="set up this device: settings, Wi-Fi, key, enrollment",
        description="Apply bitagora-setup.toml (--from-boot or --setup FILE), or ask for each "
        "setting. Running it again changes only what changed; an enrolled device stays enrolled.",
    )
    _common(provision_parser)
    source = provision_parser.add_mutually_exclusive_group()
    source.add_argument(
        "--from-boot",
        action="store_true",
        help=f"apply <root>/{BOOT_SETUP} (what bitagora-firstboot.service runs)",
    )
    source.add_argument("--setup", type=Path, default=None, help="apply this setup file")
    provision_parser.add_argument(
        "--owner",
        default="bitagora",
        help="the services' user, who gets the state when run as root ('' to keep root's)",
    )
    provision_parser.add_argument(
        "--network-wait",
        type=float,
        default=120.0,
        metavar="S",
        help="keep trying to reach central for S seconds while the network comes up",
    )
    provision_parser.set_defaults(func=cmd_provision)

    reset = sub.add_parser(
        "factory-reset",
        help="send central every record, then wipe the key, the store, credentials and settings",
    )
    _common(reset)
    reset.add_argument("--yes", action="store_true", help="do not ask for the device id")
    reset.add_argument(
        "--force",
        action="store_true",
        help="wipe even when records could not be sent to central (they are lost)",
    )
    reset.set_defaults(func=cmd_factory_reset)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        help="the system's root folder (another folder to prepare an image or to test)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="device state (default: $BITAGORA_DATA_DIR or <root>/var/lib/bitagora)",
    )


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    if "BITAGORA_DATA_DIR" in os.environ:
        return Path(os.environ["BITAGORA_DATA_DIR"])
    return Path(args.root) / STATE_DIR


# -- provision -----------------------------------------------------------------------------


def cmd_provision(args: argparse.Namespace) -> int:
    owner = args.owner or None
    if owner and os.geteuid() == 0:
        try:
            pwd.getpwnam(owner)
        except KeyError:
            return fail(
                f"--owner: user {owner!r} does not exist (install systemd/bitagora.sysusers, "
                "or --owner '' to leave the files to root)",
                1,
            )
    target = Target(Host(Path(args.root)), _data_dir(args), owner, args.network_wait)
    if args.from_boot or args.setup is not None:
        path = args.setup if args.setup is not None else Path(args.root) / BOOT_SETUP
        status = asyncio.run(provision_file(path, target))
    else:
        try:
            setup = parse_setup(TYPED_ANSWERS, ask(target, input, getpass.getpass))
        except SetupError as err:
            return fail("\n".join(err.problems), 1)
        status = asyncio.run(provision(setup, target, system=True))
        if status.ok and (superseded := supersede(target, Path(args.root) / BOOT_SETUP)):
            print(superseded)
    return _print_status(status)


def _print_status(status: ProvisionStatus) -> int:
    if status.ok:
        print(status.message)
        if status.device_id:
            print(f"device id: {status.device_id}")
        return 0
    print(f"provisioning FAILED at {status.step}:\n{status.message}", file=sys.stderr)
    if status.doctor:
        print(f"\nbitagora doctor:\n{status.doctor}", file=sys.stderr)
    return 1


def ask(
    target: Target, read: Callable[[str], str], read_secret: Callable[[str], str]
) -> dict[str, Any]:
    """The setup as questions, each defaulting to what the device has now."""
    current = _current_settings(target)

    def question(prompt: str, default: str = "") -> str:
        shown = f" [{default}]" if default else ""
        return read(f"{prompt}{shown}: ").strip() or default

    document: dict[str, Any] = {
        "device": {"merchant_name": question("Shop name", current.device.merchant_name)},
        "central": {"url": question("Central's address", current.uplink.central_url)},
    }
    code = read_secret("Enrollment code (empty if already enrolled): ").strip()
    if code:
        document["central"]["enrollment_code"] = code
    ssid = question("Wi-Fi network name (empty for a cable)")
    if ssid:
        document["wifi"] = {
            "ssid": ssid,
            "passphrase": read_secret("Wi-Fi passphrase: ").strip(),
            "country": question("Wi-Fi country (two letters)").upper(),
        }
    printer = current.printer
    kind = question(f"Printer kind ({', '.join(PRINTER_KINDS)})", printer.kind)
    document["printer"] = {"kind": kind}
    if kind == "network":
        document["printer"]["host"] = question("Printer's IP address", printer.host)
    elif kind == "serial":
        document["printer"]["serial_port"] = question("Printer's serial port", printer.serial_port)
    elif kind == "file":
        document["printer"]["file_path"] = question("Printer's device file", printer.file_path)
    elif kind == "usb":
        document["printer"]["usb_vendor_id"] = question("USB vendor id", printer.usb_vendor_id)
        document["printer"]["usb_product_id"] = question("USB product id", printer.usb_product_id)
    document["drawer"] = {
        "kind": question("Cash drawer (printer, gpio, none)", current.drawer.kind)
    }
    system = {
        "timezone": question("Timezone (like Europe/Lisbon; empty to keep)"),
        "locale": question("Locale (like pt_PT.UTF-8; empty to keep)"),
    }
    document["system"] = {key: value for key, value in system.items() if value}
    return document


def _current_settings(target: Target) -> Settings:
    try:
        return device_settings(target)
    except ConfigError:
        return Settings(data_dir=target.data_dir)  # a broken file: its values are no defaults


# -- factory reset -------------------------------------------------------------------------


def cmd_factory_reset(args: argparse.Namespace) -> int:
    host = Host(Path(args.root))
    data_dir = _data_dir(args)
    try:
        settings = device_settings(Target(host, data_dir))
    except ConfigError:
        settings = Settings(data_dir=data_dir)  # wiping is how a broken setting gets fixed too
    if not args.yes:
        name = device_id(settings) or "RESET"
        answer = input(f"Type {name} to wipe this device for good: ").strip()
        if answer != name:
            return fail("not confirmed; nothing was wiped", 1)
    # The store alone from the flush to the wipe: a sale made in between would be lost.
    try:
        with lock.hold(settings.data_dir, exclusive=True):
            flushed = asyncio.run(final_flush(settings))
            if flushed.unsent:
                lost = f"{flushed.unsent} journal record(s) central does not hold would be LOST"
                if not args.force:
                    return fail(
                        f"{flushed.problem}: {lost}. Connect the device to central and try "
                        "again, or pass --force to wipe anyway. Nothing was wiped.",
                        1,
                    )
                print(f"warning: {flushed.problem}: {lost} (--force)", file=sys.stderr)
            else:
                print("central holds every journal record of this device")
            removed = wipe(settings, host)
    except lock.StoreBusy as err:
        return fail(f"{err}. Nothing was wiped.", 1)
    for path in removed:
        print(f"removed {path}")
    # Provisioning erased these from the setup file: they must be written back into it.
    wiped = sorted(path.name for path in removed if path.parent == host.credentials_dir)
    again = (
        f" and the secrets wiped here ({', '.join(wiped)}), each under its section,"
        if wiped
        else ""
    )
    print(
        f"factory reset done. To provision again: put a new enrollment code{again} into "
        f"{Path(args.root) / BOOT_SETUP} and restart, or run bitagora provision."
    )
    return 0
