"""``bitagora wallet ...``: look at the till's watch-only wallet from the command line."""

from __future__ import annotations

import argparse
import sys

from appliance.cli.common import Subparsers

# Spelled out here so that building the `bitagora` parser does not import embit (~20 ms).
NETWORK_NAMES = ("mainnet", "testnet", "signet", "regtest")


def register(sub: Subparsers) -> None:
    wallet = sub.add_parser("wallet", help="watch-only wallet: derive and check addresses")
    wsub = wallet.add_subparsers(dest="wallet_command", required=True, metavar="ACTION")
    derive = wsub.add_parser(
        "derive",
        help="print the address at an index (compare it with your wallet's)",
        description="Print the receive (or change) address at INDEX of a watch-only descriptor "
        "or zpub/ypub/vpub/upub, or with --chain tron the TRON receive address 0/INDEX of an "
        "account xpub (m/44'/195'/account'). Private keys are refused.",
    )
    derive.add_argument("wallet", metavar="DESCRIPTOR_OR_XPUB")
    derive.add_argument("--index", type=int, required=True, metavar="N")
    derive.add_argument(
        "--chain",
        choices=("bitcoin", "tron"),
        default="bitcoin",
        help="tron: the wallet is a TRON account xpub (USDT-TRC20 payments)",
    )
    derive.add_argument("--change", action="store_true", help="the change branch (/1/N)")
    derive.add_argument(
        "--network",
        choices=NETWORK_NAMES,
        default=None,
        help="default: mainnet for mainnet keys, testnet for tpub/upub/vpub",
    )
    derive.add_argument(
        "--show-descriptor", action="store_true", help="also print the canonical descriptor"
    )
    derive.set_defaults(func=cmd_wallet_derive)


def cmd_wallet_derive(args: argparse.Namespace) -> int:
    from appliance.wallet.descriptors import DescriptorError, parse_wallet

    if args.chain == "tron":
        return _derive_tron(args)
    try:
        wallet = parse_wallet(args.wallet, args.network)
        address = wallet.address(args.index, change=args.change)
    except DescriptorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.show_descriptor:
        print(wallet.descriptor)
    print(address)
    return 0


def _derive_tron(args: argparse.Namespace) -> int:
    from appliance.wallet.descriptors import DescriptorError
    from appliance.wallet.tron import parse_tron_account

    if args.change or args.network or args.show_descriptor:
        print("error: --change, --network and --show-descriptor are bitcoin's", file=sys.stderr)
        return 2
    try:
        address = parse_tron_account(args.wallet).receive_address(args.index)
    except DescriptorError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(address)
    return 0
