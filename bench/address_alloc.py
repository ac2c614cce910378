"""Benchmark: allocating a receive address for a sale vs. a bare fsync'd SQLite insert.

Each allocation derives the next address from the watch-only descriptor (embit, pure Python) and
commits the reserved index and the address <-> sale row in one transaction (WAL,
synchronous=FULL). Every address is then marked paid (outside the timing) so the gap limit never
stops the run, as in a shop where sales get paid. The baseline inserts the same address text into
a fresh database with the same pragmas, interleaved with the allocations so disk noise hits both
alike. Prints median and p99 per operation, allocations per second and the ratios.
Usage: python bench/address_alloc.py [--count N] [--kind wpkh|tr]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from smoke import parse_args

from appliance.store import addresses
from appliance.store.db import open_db, transaction
from appliance.wallet.descriptors import parse_wallet

ACCOUNT_XPUB = (  # BIP86 test vector account key (m/86'/0'/0' of "abandon ... about")
    "xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9QyrLprQ3VCECoY49y"
    "fdDEHGCtMMj92pReUsQ"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(count: int, kind: str) -> None:
    wallet = parse_wallet(f"{kind}({ACCOUNT_XPUB}/<0;1>/*)")
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        root = Path(folder)
        conn = await open_db(root / "device.sqlite3")
        bare = await open_db(root / "bare.sqlite3")
        await bare.execute("CREATE TABLE blob (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        alloc_ms: list[float] = []
        bare_ms: list[float] = []
        for i in range(count + 20):
            start = time.perf_counter()
            got = await addresses.allocate(conn, wallet, f"sale-{i}")
            elapsed = (time.perf_counter() - start) * 1000
            await addresses.mark_used(conn, got.address)
            start = time.perf_counter()
            async with transaction(bare):
                await bare.execute("INSERT INTO blob (data) VALUES (?)", (got.address,))
            bare_elapsed = (time.perf_counter() - start) * 1000
            if i >= 20:  # the first 20 warm up caches and the WAL file
                alloc_ms.append(elapsed)
                bare_ms.append(bare_elapsed)
        await conn.close()
        await bare.close()
    a_med, a_p99 = statistics.median(alloc_ms), pct(alloc_ms, 0.99)
    b_med, b_p99 = statistics.median(bare_ms), pct(bare_ms, 0.99)
    print(
        f"allocate {kind} address (derive + 1 tx): median {a_med:.3f} ms, p99 {a_p99:.3f} ms, "
        f"{1000 / statistics.mean(alloc_ms):.0f}/s  (n={count})"
    )
    print(f"bare fsync'd insert of the address:     median {b_med:.3f} ms, p99 {b_p99:.3f} ms")
    print(f"ratio allocate/bare: median {a_med / b_med:.2f}, p99 {a_p99 / b_p99:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--kind", choices=("wpkh", "tr"), default="wpkh")
    args = parse_args(parser, count=20)
    asyncio.run(run(args.count, args.kind))


if __name__ == "__main__":
    main()
