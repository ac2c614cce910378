"""Benchmark: the till's side of a USDT-on-TRON payment, against the TronGrid and rates simulators
over real HTTP on local ports, then the same in the real kiosk app, headless.

1. Pay -> address ready: what the till does between the tap and having the QR's content: the
   USDT rate (cached, as at a till that priced a payment less than ``rates.refresh_s`` ago), the
   amount in token units, and the next address of the account derived (embit BIP32 +
   pycryptodome Keccak-256) and committed with its sale (WAL, synchronous=FULL). Baseline,
   interleaved: the same allocation of a bitcoin wpkh address.
2. Solidified -> judged paid: from the simulator solidifying the transfer to the settlement
   verdict ``paid`` after one look at TronGrid (two listings and the transaction's result) and
   ``core.settlement.judge``. On a real till add up to ``tron.poll_s`` (5 s) of waiting for the
   next look and TronGrid's own latency.

3. At the kiosk (``bench/bitcoin_pay.py``'s probe: frames stamped where the app renders them):
   "USDT" tapped -> the first frame with the QR (the plain address) laid out whole; and the
   simulator's transfer solidified, the payments woken (as the ``tron.poll_s`` timer does) ->
   SaleDoneScreen active and its first frame: one look at TronGrid, the judge, the sale's
   durable commit, the receipt wait. The rate is cached after each app's first payment (not
   timed). On a real till add TronGrid's latency and up to ``tron.poll_s`` of waiting.

Prints median and p99. Usage: python bench/usdt_tron.py [--rounds N] [--kiosk-rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from embit import bip32, bip39
from smoke import parse_args

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from appliance.config import RatesSettings, TronSettings
from appliance.core.settlement import Seen, State, judge
from appliance.core.usdt import fiat_to_usdt_units
from appliance.store import addresses, checkouts
from appliance.store.db import open_db
from appliance.wallet.descriptors import parse_wallet
from appliance.wallet.rates import SOURCES, RateService
from appliance.wallet.tron import parse_tron_account
from appliance.wallet.trongrid import TronGridSource
from bitagora_devtools.sim.rates import RatesSim, base_urls
from bitagora_devtools.sim.trongrid import USDT_MAINNET, TronGridSim
from bitagora_protocol.money import Money
from central.serve import start_server

MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
PRICE = Money(1234, "EUR")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} median {statistics.median(values):8.2f} ms   p99 {pct(values, 0.99):8.2f} ms"
        f"   (n={len(values)})"
    )


async def run(rounds: int) -> None:
    root = bip32.HDKey.from_seed(bip39.mnemonic_to_seed(MNEMONIC))
    tron = parse_tron_account(root.derive("m/44h/195h/0h").to_public().to_base58())
    bitcoin = parse_wallet(f"wpkh({root.derive('m/84h/0h/0h').to_public().to_base58()}/<0;1>/*)")
    grid, exchanges = TronGridSim(), RatesSim()
    grid_server = await start_server(grid.app(), "127.0.0.1", 0)
    rates_server = await start_server(exchanges.app(), "127.0.0.1", 0)
    rates_settings = RatesSettings(
        sources=tuple(SOURCES), base_urls=tuple(base_urls(rates_server.base_url))
    )
    policy = TronSettings().policy()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        conn = await open_db(Path(folder) / "device.sqlite3")
        async with httpx.AsyncClient(timeout=30) as http:
            rates = RateService(rates_settings, "EUR", http, asset="USDT")
            source = TronGridSource(http, grid_server.base_url, grid.api_key, USDT_MAINNET)
            await rates.current()  # the till priced a payment a moment ago
            address_ms: list[float] = []
            baseline_ms: list[float] = []
            detect_ms: list[float] = []
            for i in range(rounds):
                start = time.perf_counter()
                rate = await rates.current()
                units = fiat_to_usdt_units(PRICE, rate.rate)
                got = await addresses.allocate(conn, tron, f"usdt-{i}")
                address_ms.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                other = await addresses.allocate(conn, bitcoin, f"btc-{i}")
                baseline_ms.append((time.perf_counter() - start) * 1000)
                for paid in (got.address, other.address):  # keeps the gap limit open
                    await addresses.mark_used(conn, paid)

                grid.pay(got.address, units)
                grid.solidify()
                start = time.perf_counter()
                activity = await source.address_activity(got.address)
                first, _ = await checkouts.first_seen(
                    conn, got.address, list(activity.txids), time.time()
                )
                seen = [
                    Seen(t.txid, t.sats, t.confirmations, t.rbf, first[t.txid])
                    for t in activity.txs
                ]
                verdict = judge(units, time.time() + 900, seen, time.time(), policy)
                detect_ms.append((time.perf_counter() - start) * 1000)
                assert verdict.state is State.PAID, verdict
        await conn.close()
    await grid_server.stop()
    await rates_server.stop()
    exchanges.release()
    print(line("Pay -> USDT address ready", address_ms))
    print(line("  baseline: bitcoin address", baseline_ms))
    print(line("Solidified -> judged paid", detect_ms))
    print(f"USDT rate used: {rate.rate} EUR/USDT, {PRICE.minor / 100} EUR = {units} units")


def usdt_qr_shown(screen: Any) -> bool:
    from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
    from appliance.tui.widgets.qr import QrCode

    if not isinstance(screen, PayBitcoinScreen) or screen.offer is None:
        return False
    qr = screen.query_one(QrCode)
    return bool(qr.display and qr.payload == screen.offer.uri and qr.fits and qr.region.area)


async def kiosk(rounds: int) -> None:
    from bitcoin_pay import collected_sales, next_customer, press, sell_espresso, stamp
    from kiosk_probe import Probe
    from tui_helpers import kiosk as kiosk_app
    from usdt_helpers import usdt_shop

    from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
    from appliance.tui.screens.sale_done import SaleDoneScreen

    qr_ms: list[float] = []
    done_ms: list[float] = []
    frame_ms: list[float] = []
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        async with usdt_shop(Path(folder)) as s, kiosk_app(s.shop.till) as (app, pilot):
            probe = Probe(app)
            for i in range(rounds + 1):  # round 0: the app's first payment (no rate yet)
                owed = collected_sales(app) + 1
                await sell_espresso(pilot, app)
                qr_frame = probe.frame(usdt_qr_shown)
                tapped = press(app, "#pay-usdt")
                qr_at = await stamp(qr_frame, "the USDT QR on screen")
                screen = app.screen
                assert isinstance(screen, PayBitcoinScreen) and screen.offer is not None
                offer = screen.offer
                assert offer.address is not None and offer.sats is not None
                await s.usdt.check()  # the look the offer woke: over before a customer pays
                s.grid.pay(offer.address, offer.sats)
                active = probe.switch(lambda sc: isinstance(sc, SaleDoneScreen))
                frame = probe.frame(lambda sc: isinstance(sc, SaleDoneScreen))
                s.grid.solidify()
                paid = time.perf_counter()
                s.usdt.wake()
                active_at = await stamp(active, "the done screen")
                frame_at = await stamp(frame, "the done screen's first frame")
                if i:
                    qr_ms.append((qr_at - tapped) * 1000)
                    done_ms.append((active_at - paid) * 1000)
                    frame_ms.append((frame_at - paid) * 1000)
                await next_customer(pilot, app, probe, owed)
    print(line("USDT tapped -> QR frame", qr_ms))
    print(line("solidified -> paid screen active", done_ms))
    print(line("solidified -> paid screen frame", frame_ms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--kiosk-rounds", type=int, default=30)
    args = parse_args(parser, rounds=5, kiosk_rounds=3)
    asyncio.run(run(args.rounds))
    asyncio.run(kiosk(args.kiosk_rounds))


if __name__ == "__main__":
    main()
