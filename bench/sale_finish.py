"""Benchmark: finishing a cash sale durably vs. a bare fsync'd SQLite insert of the same bytes.

Both run in the same process, on the same disk, against fresh databases opened with the same
pragmas (WAL, synchronous=FULL), interleaved so that disk noise hits both alike. The sale side is
set up as the till's: SQLite's automatic checkpoint only as a backstop, and a checkpoint after each
sale (untimed: the till runs it in the background while staff hand over the change). The bare side
keeps SQLite's default automatic checkpoint. Prints median and p99 per operation and the ratios.
Usage: python bench/sale_finish.py [--sales N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from smoke import parse_args  # noqa: E402
from store_helpers import cash_sale_body, open_device  # noqa: E402

from appliance.store import sales  # noqa: E402
from appliance.store.db import (  # noqa: E402
    BACKSTOP_CHECKPOINT_PAGES,
    checkpoint,
    open_db,
    transaction,
)
from bitagora_protocol.journal import canonical_json  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(count: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        root = Path(folder)
        conn, identity = await open_device(root / "device", BACKSTOP_CHECKPOINT_PAGES)
        bare = await open_db(root / "bare.sqlite3")
        await bare.execute("CREATE TABLE blob (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        bodies = [cash_sale_body(i) for i in range(count)]
        sale_ms: list[float] = []
        bare_ms: list[float] = []
        for body in bodies[:20]:  # warm up caches and the WAL file
            await sales.record_sale(conn, identity, {**body, "sale_id": "warm-" + body["sale_id"]})
        for body in bodies:
            start = time.perf_counter()
            record = await sales.record_sale(conn, identity, body)
            sale_ms.append((time.perf_counter() - start) * 1000)
            await checkpoint(conn)
            payload = canonical_json(record.to_dict()).decode()
            start = time.perf_counter()
            async with transaction(bare):
                await bare.execute("INSERT INTO blob (data) VALUES (?)", (payload,))
            bare_ms.append((time.perf_counter() - start) * 1000)
        await conn.close()
        await bare.close()
    sale_med, sale_p99 = statistics.median(sale_ms), pct(sale_ms, 0.99)
    bare_med, bare_p99 = statistics.median(bare_ms), pct(bare_ms, 0.99)
    print(
        f"finish cash sale (sale+journal+outbox+print queue, 1 tx): median {sale_med:.3f} ms, "
        f"p99 {sale_p99:.3f} ms  (n={count})"
    )
    print(
        f"bare fsync'd insert of the same bytes:        median {bare_med:.3f} ms, "
        f"p99 {bare_p99:.3f} ms"
    )
    print(
        f"ratio sale/bare: median {sale_med / bare_med:.2f}, p99 {sale_p99 / bare_p99:.2f} "
        f"(target p99 <= 3)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sales", type=int, default=500)
    asyncio.run(run(parse_args(parser, sales=30).sales))


if __name__ == "__main__":
    main()
