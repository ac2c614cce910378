"""Benchmark: the till's side of a USDT-on-TRON payment, against the TronGrid and rates simulators
over real HTTP on local ports (the pay screen does not offer USDT yet, so no screen is timed).

1. Pay -> address ready: what the till does between the tap and having the QR's content: the
   USDT rate (cached, as at a till that priced a payment less than ``rates.refresh_s`` ago), the
   amount in token units, and the next address of the account derived (embit BIP32 +
   pycryptodome Keccak-256) and committed with its sale (WAL, synchronous=FULL). Baseline,
   interleaved: the same allocation of a bitcoin wpkh address.
2. Solidified -> judged paid: from the simulator solidifying the transfer to the settlement
   verdict ``paid`` after one look at TronGrid (two listings and the transaction's result) and
   ``core.settlement.judge``. On a real till add up to ``tron.poll_s`` (5 s) of waiting for the
   next look and TronGrid's own latency.

Prints median and p99. Usage: python bench/usdt_tron.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from embit import bip32, bip39
from smoke import parse_args

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parse_args(parser, rounds=5)
    asyncio.run(run(args.rounds))


if __name__ == "__main__":
    main()
