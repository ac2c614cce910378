"""Benchmark: an online backup of a busy till, and what it costs the sales made meanwhile.

A device store is filled with N signed sale records; then ``bitagora backup``'s copy
(store/backup.py: SQLite's online backup API in one step) and a restore's check of it (checksum,
every hash and signature) are timed. Finally cash sales are timed twice, interleaved in blocks:
with no backup running, and while backups run back to back in another thread (as the kiosk sells
while a technician backs up). Prints the figures and the sale latency ratio.
Usage: python bench/backup_online.py [--records N] [--sales N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from smoke import parse_args  # noqa: E402
from store_helpers import cash_sale_body, open_device  # noqa: E402

from appliance.store import journal, sales  # noqa: E402
from appliance.store.backup import DATABASE, take_backup, verify_backup  # noqa: E402
from appliance.store.db import BACKSTOP_CHECKPOINT_PAGES, checkpoint, transaction  # noqa: E402

BLOCK = 25  # sales per block; blocks alternate between quiet and busy


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def run(records: int, count: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        root = Path(folder)
        conn, identity = await open_device(root / "device", BACKSTOP_CHECKPOINT_PAGES)
        for first in range(0, records, 500):
            async with transaction(conn):
                for index in range(first, min(records, first + 500)):
                    await journal.append(conn, identity, "sale", cash_sale_body(index))
        await checkpoint(conn)
        database = root / "device" / DATABASE
        dest = root / "usb"
        dest.mkdir()

        start = time.perf_counter()
        backup, manifest = await asyncio.to_thread(take_backup, database, dest, "bench", identity)
        backup_s = time.perf_counter() - start
        start = time.perf_counter()
        await asyncio.to_thread(verify_backup, backup)
        verify_s = time.perf_counter() - start
        size_mb = (backup / DATABASE).stat().st_size / 1e6

        busy = threading.Event()
        stop = threading.Event()
        copies = 0

        def back_up_while_busy() -> None:
            nonlocal copies
            while not stop.is_set():
                if busy.wait(0.01):
                    made, _ = take_backup(database, dest, "bench", identity)
                    copies += 1
                    for path in made.iterdir():
                        path.unlink()
                    made.rmdir()

        worker = threading.Thread(target=back_up_while_busy)
        worker.start()
        quiet_ms: list[float] = []
        busy_ms: list[float] = []
        try:
            index = records
            for block in range(2 * count // BLOCK):
                during = block % 2 == 1
                (busy.set if during else busy.clear)()
                for _ in range(BLOCK):
                    begin = time.perf_counter()
                    await sales.record_sale(conn, identity, cash_sale_body(index))
                    (busy_ms if during else quiet_ms).append((time.perf_counter() - begin) * 1000)
                    await checkpoint(conn)
                    index += 1
        finally:
            stop.set()
            worker.join()
        await conn.close()

    print(
        f"backup of {manifest.head_seq} records ({size_mb:.1f} MB): {backup_s * 1000:.0f} ms; "
        f"restore's check of it (checksum, chain, signatures): {verify_s * 1000:.0f} ms"
    )
    q_med, q_p99 = statistics.median(quiet_ms), pct(quiet_ms, 0.99)
    b_med, b_p99 = statistics.median(busy_ms), pct(busy_ms, 0.99)
    print(f"cash sale, no backup running:  median {q_med:.3f} ms, p99 {q_p99:.3f} ms")
    print(
        f"cash sale, backups running:    median {b_med:.3f} ms, p99 {b_p99:.3f} ms "
        f"({copies} backups made meanwhile)"
    )
    print(f"ratio busy/quiet: median {b_med / q_med:.2f}, p99 {b_p99 / q_p99:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--sales", type=int, default=500)
    args = parse_args(parser, records=500, sales=50)
    asyncio.run(run(args.records, args.sales))


if __name__ == "__main__":
    main()
