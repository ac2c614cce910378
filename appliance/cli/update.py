"""``bitagora update keygen|build`` (the release engineer) and ``install|confirm|status`` and
``apply-staged`` (the device)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from appliance.cli.common import Subparsers, add_device_options, fail
from appliance.config import load_settings
from appliance.update.bundle import BundleError, build, generate_key
from appliance.update.slots import (
    CURRENT,
    PREVIOUS,
    UpdateError,
    confirm,
    install,
    linked_version,
    load_state,
)
from appliance.update.staged import apply_staged


def register(sub: Subparsers) -> None:
    update = sub.add_parser("update", help="signed update bundles and release slots")
    actions = update.add_subparsers(dest="update_command", required=True, metavar="ACTION")

    keygen = actions.add_parser("keygen", help="make a release-signing key pair")
    keygen.add_argument("--out", type=Path, required=True, help="private key file (0600)")
    keygen.set_defaults(func=cmd_keygen)

    make = actions.add_parser("build", help="sign a folder of wheels into an update bundle")
    make.add_argument("--wheels", type=Path, required=True, help="the release's wheels and deps")
    make.add_argument("--key", type=Path, required=True, help="the release-signing private key")
    make.add_argument("--package", default="bitagora-appliance", help="the distribution to run")
    make.add_argument("--out", type=Path, required=True, help="the bundle file to write")
    make.set_defaults(func=cmd_build)

    for name, helptext, func in (
        ("install", "verify a bundle, install it into a new slot and switch to it", cmd_install),
        ("confirm", "check a pending release; roll it back if it is not healthy", cmd_confirm),
        ("status", "which release runs, and the last update's outcome", cmd_status),
        (
            "apply-staged",
            "install the update the uplink staged from central, if the till is idle now",
            cmd_apply_staged,
        ),
    ):
        action = actions.add_parser(name, help=helptext)
        add_device_options(action)
        if name == "install":
            action.add_argument("bundle", type=Path)
        action.set_defaults(func=func)


def cmd_keygen(args: argparse.Namespace) -> int:
    try:
        public = generate_key(args.out)
    except FileExistsError:
        return fail(f"{args.out} exists already; not overwriting a key", 1)
    print(f"private key {args.out} (keep it off devices); pin {public} on devices")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    try:
        manifest = build(args.wheels, args.key, args.out, args.package)
    except BundleError as err:
        return fail(str(err), 1)
    print(f"bundle {args.out}: {manifest.package} {manifest.version}, {len(manifest.files)} wheels")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    os.umask(0o022)  # the services' user must be able to read the new slot, whoever installs
    try:
        print(install(load_settings(args.data_dir, args.config), args.bundle))
    except UpdateError as err:
        return fail(str(err), 1)
    return 0


def cmd_apply_staged(args: argparse.Namespace) -> int:
    os.umask(0o022)  # as install: the services' user must be able to read the new slot
    try:
        print(apply_staged(load_settings(args.data_dir, args.config)))
    except UpdateError as err:
        return fail(str(err), 1)
    return 0


def cmd_confirm(args: argparse.Namespace) -> int:
    try:
        good, message = confirm(load_settings(args.data_dir, args.config))
    except UpdateError as err:
        return fail(str(err), 1)
    print(message, file=sys.stdout if good else sys.stderr)
    return 0 if good else 1


def cmd_status(args: argparse.Namespace) -> int:
    root = Path(load_settings(args.data_dir, args.config).update.root)
    print(f"current: {linked_version(root, CURRENT) or 'none'}")
    print(f"previous: {linked_version(root, PREVIOUS) or 'none'}")
    try:
        state = load_state(root)
    except UpdateError as err:
        return fail(str(err), 1)
    if state is not None:
        failed = f" (failed: {state.failed})" if state.failed else ""
        reason = f": {state.reason}" if state.reason else ""
        print(f"last update: {state.state} {state.version}{failed} at {state.at}{reason}")
    return 0
