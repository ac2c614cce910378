"""``bitagora demo`` and ``bitagora sim …``: the command groups the development tools add to the
``bitagora`` command, through its ``bitagora.commands`` entry points (devtools/pyproject.toml).
Each ``register_*`` adds its parsers; the modules behind them are imported when a command runs."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import TypeAlias

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def cmd_demo(args: argparse.Namespace) -> int:
    from appliance.logs import log_to_file
    from bitagora_devtools.demo import demo_root, run_demo

    root = demo_root(args.data_dir)
    log_to_file(root / "logs" / "kiosk.log", args.verbose)
    return run_demo(root, headless=args.headless, sales=args.sales)


def register_demo(sub: Subparsers) -> None:
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


# Each simulator: its `bitagora sim` word, which is also its module in bitagora_devtools.sim
# (with add_arguments(parser) and run(args)), and its help line.
SIMULATORS = {
    "printer": "ESC/POS printer on raw TCP",
    "nfc": "PN532 NFC reader on a pty",
    "esplora": "Esplora HTTP API with a chain tests can drive",
    "bitcoind": "Bitcoin Core JSON-RPC (and the Esplora API) over one simulated chain",
    "rates": "the exchanges' rate tickers, at rates tests set",
    "stripe": "the Stripe API subset card payments use, with simulated readers",
    "mercadopago": "the Mercado Pago API subset the till uses, a Point device and a QR payer",
    "lightning": "Core Lightning JSON-RPC on a unix socket",
    "trongrid": "the TronGrid API subset USDT-TRC20 payments use, with a chain tests can drive",
    "pay": "pay the bitcoin sale on the till's screen (its invoice, or --onchain its address)",
}


def register_sim(sub: Subparsers) -> None:
    sim = sub.add_parser("sim", help="wire-level device simulators")
    ssub = sim.add_subparsers(dest="sim_command", required=True, metavar="DEVICE")
    for word, help_text in SIMULATORS.items():
        module = importlib.import_module(f"bitagora_devtools.sim.{word}")
        parser = ssub.add_parser(word, help=help_text)
        module.add_arguments(parser)
        parser.set_defaults(func=module.run)
