"""``bitagora uplink`` (the daemon) and ``bitagora uplink enroll --code CODE``; the process
itself is appliance/uplink/service.py."""

from __future__ import annotations

import argparse
import asyncio
import os

from appliance.cli.common import Subparsers, add_device_options, fail, settings


def register(sub: Subparsers) -> None:
    uplink = sub.add_parser(
        "uplink",
        help="push the signed journal to central and send heartbeats",
        description="Run the uplink daemon, or enroll this device with central.",
    )
    add_device_options(uplink)
    uplink.set_defaults(func=cmd_uplink)
    actions = uplink.add_subparsers(dest="uplink_command", metavar="ACTION")
    enroll = actions.add_parser("enroll", help="enroll this device with a one-time code")
    enroll.add_argument("--code", required=True, help="enrollment code from central operations")
    enroll.add_argument(
        "--central-url",
        default=None,
        help="central's base URL (default: the uplink.central_url setting)",
    )
    add_device_options(enroll, argparse.SUPPRESS)  # before or after `enroll`, both work
    enroll.set_defaults(func=cmd_enroll)


def cmd_enroll(args: argparse.Namespace) -> int:
    from appliance.uplink.service import enroll

    device = settings(args)
    url = (args.central_url or device.uplink.central_url).rstrip("/")
    if not url.startswith(("http://", "https://")):
        return fail(f"--central-url: {url!r} is not an http(s) URL", 1)
    return asyncio.run(enroll(device, args.code, url))


def cmd_uplink(args: argparse.Namespace) -> int:
    from appliance.uplink.service import run_daemon

    device = settings(args)
    # The doctor a remote action runs is a child process: it must read these same settings.
    for option, variable in (("config", "BITAGORA_CONFIG"), ("data_dir", "BITAGORA_DATA_DIR")):
        if getattr(args, option, None) is not None:
            os.environ[variable] = str(getattr(args, option).resolve())
    return asyncio.run(run_daemon(device))
