"""``bitagora demo`` and ``bitagora sim …``: the command groups the development tools add to the
``bitagora`` command, through its ``bitagora.commands`` entry points (devtools/pyproject.toml).
Each ``register_*`` adds its parsers; the modules behind them are imported when a command runs."""

from __future__ import annotations

import argparse
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


def register_sim(sub: Subparsers) -> None:
    sim = sub.add_parser("sim", help="wire-level device simulators")
    ssub = sim.add_subparsers(dest="sim_command", required=True, metavar="DEVICE")
    from bitagora_devtools.sim import printer as printer_sim

    printer = ssub.add_parser("printer", help="ESC/POS printer on raw TCP")
    printer_sim.add_arguments(printer)
    printer.set_defaults(func=printer_sim.run)
    from bitagora_devtools.sim import nfc as nfc_sim

    nfc = ssub.add_parser("nfc", help="PN532 NFC reader on a pty")
    nfc_sim.add_arguments(nfc)
    nfc.set_defaults(func=nfc_sim.run)
    from bitagora_devtools.sim import esplora as esplora_sim

    esplora = ssub.add_parser("esplora", help="Esplora HTTP API with a chain tests can drive")
    esplora_sim.add_arguments(esplora)
    esplora.set_defaults(func=esplora_sim.run)
    from bitagora_devtools.sim import bitcoind as bitcoind_sim

    bitcoind = ssub.add_parser(
        "bitcoind", help="Bitcoin Core JSON-RPC (and the Esplora API) over one simulated chain"
    )
    bitcoind_sim.add_arguments(bitcoind)
    bitcoind.set_defaults(func=bitcoind_sim.run)
    from bitagora_devtools.sim import rates as rates_sim

    rates = ssub.add_parser("rates", help="the exchanges' rate tickers, at rates tests set")
    rates_sim.add_arguments(rates)
    rates.set_defaults(func=rates_sim.run)

    from bitagora_devtools.sim import stripe as stripe_sim

    stripe_parser = ssub.add_parser(
        "stripe", help="the Stripe API subset card payments use, with simulated readers"
    )
    stripe_sim.add_arguments(stripe_parser)
    stripe_parser.set_defaults(func=stripe_sim.run)

    from bitagora_devtools.sim import lightning as lightning_sim

    lightning = ssub.add_parser("lightning", help="Core Lightning JSON-RPC on a unix socket")
    lightning_sim.add_arguments(lightning)
    lightning.set_defaults(func=lightning_sim.run)

    from bitagora_devtools.sim import pay as pay_sim

    pay = ssub.add_parser(
        "pay",
        help="pay the bitcoin sale on the till's screen (its invoice, or --onchain its address)",
    )
    pay_sim.add_arguments(pay)
    pay.set_defaults(func=pay_sim.run)
