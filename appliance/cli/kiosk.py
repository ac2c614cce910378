"""``bitagora kiosk``: the touchscreen till (``--seed-demo``: the dev tools' demo catalog)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from appliance.cli.common import Subparsers, add_device_options, fail, settings
from appliance.cli.plugins import DEV_TOOLS, find_seed
from appliance.logs import kiosk_log, log_to_file


def register(sub: Subparsers) -> None:
    kiosk = sub.add_parser("kiosk", help="run the touchscreen till")
    add_device_options(kiosk)
    kiosk.add_argument(
        "--seed-demo",
        action="store_true",
        help="load the demo catalog and staff into an empty store (needs the dev tools)",
    )
    kiosk.set_defaults(func=cmd_kiosk)


def cmd_kiosk(args: argparse.Namespace) -> int:
    from appliance.kiosk import run_kiosk
    from appliance.store.lock import StoreBusy

    seed: Callable[[Any, str], Awaitable[None]] | None = None
    if args.seed_demo:
        seed = find_seed("demo")
        if seed is None:
            return fail(f"--seed-demo: the demo catalog is a development tool, {DEV_TOOLS}")
    device = settings(args)
    log_to_file(kiosk_log(device.data_dir), args.verbose)
    try:
        return asyncio.run(run_kiosk(device, seed=seed))
    except StoreBusy as err:
        return fail(str(err))
