"""``bitagora refunds list|paid``: the bitcoin refunds a merchant pays from their own wallet.

The till never spends (it holds no spending key): a Lightning or on-chain refund is recorded with
the customer's destination as a pending payout. ``list`` shows them (``--pending``: only those
still to pay); once the merchant's wallet has paid one, ``paid REFUND_ID --method M --proof P``
records it (a ``payout`` record, signed with the device key like the kiosk's records; the proof
is the transaction id, or the Lightning payment's preimage or hash).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from appliance.cli.common import Subparsers, add_device_options
from appliance.cli.common import settings as settings_of
from appliance.config import Settings
from appliance.core.payout import BITCOIN_METHODS
from bitagora_protocol.money import Money


def _existing(settings: Settings) -> Path:
    if not settings.database_path.is_file():
        raise FileNotFoundError(f"no device store at {settings.database_path} (check --data-dir)")
    return settings.database_path


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from appliance.services.refunds import payouts
    from appliance.store.db import open_db

    async def listing() -> list[dict[str, Any]]:
        conn = await open_db(_existing(settings))
        try:
            return await payouts(conn, pending_only=args.pending)
        finally:
            await conn.close()

    try:
        found = asyncio.run(listing())
    except FileNotFoundError as err:
        print(f"bitagora refunds list: {err}", file=sys.stderr)
        return 1
    for p in found:
        amount = Money(int(p["amount"]), str(p["currency"])).format()
        paid = f" (proof {p['proof']})" if p["status"] == "paid" else ""
        print(
            f"#{p['journal_seq']} {p['recorded_at']} refund {p['refund_id']} of sale"
            f" {p['sale_id']}: {amount} by {p['method']} to {p['kind']} {p['destination']}:"
            f" {p['status']}{paid}"
        )
    if not found:
        print("no pending payouts" if args.pending else "no bitcoin refunds")
    return 0


def _paid(settings: Settings, args: argparse.Namespace) -> int:
    from appliance.services.refunds import RefundError, mark_payout_paid
    from appliance.store import device, lock
    from appliance.store.db import open_db
    from appliance.store.identity import IdentityError, load_identity

    async def mark() -> int:
        # Only the device's own key and store: a mistyped --data-dir must make no new device.
        identity = load_identity(settings.data_dir)
        conn = await open_db(_existing(settings))
        try:
            await device.bind(conn, identity)
            record = await mark_payout_paid(
                conn, identity, args.refund_id, args.method, args.proof, None
            )
        finally:
            await conn.close()
        return record.seq

    try:
        _existing(settings)
        with lock.hold(settings.data_dir):  # never in the middle of a restore
            seq = asyncio.run(mark())
    except (
        RefundError,
        device.DeviceMismatch,
        IdentityError,
        FileNotFoundError,
        lock.StoreBusy,
    ) as err:
        print(f"bitagora refunds paid: {err}", file=sys.stderr)
        return 1
    print(f"refund {args.refund_id}: the {args.method} payout is recorded as paid (#{seq})")
    return 0


def register(subparsers: Subparsers) -> None:
    refunds = subparsers.add_parser("refunds", help="bitcoin refunds the merchant pays")
    sub = refunds.add_subparsers(dest="refunds_command", required=True, metavar="ACTION")
    listing = sub.add_parser("list", help="bitcoin refunds recorded on this device")
    listing.add_argument("--pending", action="store_true", help="only those still to be paid")
    listing.set_defaults(func=lambda args: _list(settings_of(args), args))
    paid = sub.add_parser("paid", help="record that the merchant's wallet paid a refund")
    paid.add_argument("refund_id", help="the refund's id (from `bitagora refunds list`)")
    paid.add_argument(
        "--method", choices=BITCOIN_METHODS, required=True, help="which payout of the refund"
    )
    paid.add_argument(
        "--proof",
        required=True,
        help="the transaction id (on-chain) or the payment preimage or hash (Lightning)",
    )
    paid.set_defaults(func=lambda args: _paid(settings_of(args), args))
    for parser in (listing, paid):
        add_device_options(parser)
