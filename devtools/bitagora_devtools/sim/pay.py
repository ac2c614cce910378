"""``bitagora sim pay``: pay the bitcoin sale on the till's screen, as a customer's wallet would.

It reads the device's settings and store (``--data-dir``, as every device tool), takes the
newest bitcoin checkout still open (the QR code on the kiosk), and pays it on the simulators the
till is set up against: its invoice on the Lightning simulator (``dev-sim-pay``, over the
node's unix socket), or with ``--onchain`` its address on the Esplora simulator (``POST
/_sim/pay``, the amount still due). One line for a newcomer trying the demo, instead of finding
an address, an amount or a label in a log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from appliance.cli.common import add_device_options, settings
from appliance.config import Settings
from appliance.core.btc import format_sats
from appliance.store import checkouts
from appliance.store.db import open_db
from appliance.wallet.lightning import sale_label


class PayError(RuntimeError):
    """Nothing to pay, or the simulator would not: the message says which and what to do."""


@dataclass(frozen=True)
class Paid:
    sale_id: str
    how: str  # "Lightning" or "on-chain"
    sats: int

    def __str__(self) -> str:
        return f"paid sale {self.sale_id} by {self.how}: {format_sats(self.sats)}"


async def latest_open(database: Path) -> checkouts.Checkout:
    """The newest bitcoin checkout still waiting for its payment."""
    if not await asyncio.to_thread(database.is_file):
        raise PayError(f"no till store at {database}: is --data-dir the till's?")
    conn = await open_db(database)
    try:
        waiting = await checkouts.open_checkouts(conn, "bitcoin")  # USDT: the TronGrid sim
    finally:
        await conn.close()
    if not waiting:
        raise PayError("no bitcoin sale is waiting for payment: tap Pay bitcoin on the kiosk first")
    return waiting[-1]


async def pay_latest(device: Settings, *, onchain: bool = False) -> Paid:
    """Pay the newest open checkout of the till ``device`` describes."""
    checkout = await latest_open(device.database_path)
    if onchain or checkout.bolt11 is None:
        return await _pay_onchain(device, checkout)
    return await _pay_lightning(device, checkout)


async def _pay_lightning(device: Settings, checkout: checkouts.Checkout) -> Paid:
    if device.lightning.kind != "socket" or not device.lightning.socket_path:
        raise PayError(
            "the till's Lightning node is not a local socket (lightning.kind = "
            f"{device.lightning.kind!r}): pay on-chain with --onchain"
        )
    label = sale_label(checkout.sale_id)
    await asyncio.to_thread(_dev_sim_pay, device.lightning.socket_path, label)
    return Paid(checkout.sale_id, "Lightning", -(-(checkout.msat or 0) // 1000))


def _dev_sim_pay(socket_path: str, label: str) -> None:
    from pyln.client import LightningRpc, RpcError

    try:
        LightningRpc(socket_path).call("dev-sim-pay", {"label": label})
    except RpcError as err:
        message = err.error.get("message", err) if isinstance(err.error, dict) else err
        raise PayError(f"the Lightning simulator did not pay {label}: {message}") from None
    except (OSError, ValueError) as err:
        raise PayError(
            f"no Lightning simulator answers on {socket_path} ({err}): is the demo running?"
        ) from None


async def _pay_onchain(device: Settings, checkout: checkouts.Checkout) -> Paid:
    if checkout.address is None or checkout.sats is None:
        raise PayError(f"sale {checkout.sale_id} has no on-chain address to pay")
    due = checkout.sats - checkout.received_sats
    if due <= 0:
        raise PayError(f"sale {checkout.sale_id}'s address has its amount already")
    url = device.onchain.esplora_url.rstrip("/") + "/_sim/pay"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(url, json={"address": checkout.address, "sats": due})
    except httpx.HTTPError as err:
        raise PayError(f"no Esplora simulator at {url} ({err}): is the demo running?") from None
    if answer.status_code != 200:
        raise PayError(f"the Esplora simulator at {url} answered HTTP {answer.status_code}")
    return Paid(checkout.sale_id, "on-chain", due)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_device_options(parser)
    parser.add_argument(
        "--onchain",
        action="store_true",
        help="pay the sale's address on the Esplora simulator (default: its Lightning invoice)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        paid = asyncio.run(pay_latest(settings(args), onchain=args.onchain))
    except PayError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(paid)
    return 0
