"""Benchmark: the uplink draining a backlog of N journal records to a central on loopback.

A real device store (SQLite, key) holds N sealed one-line cash sales, all in the outbox (a till
that was offline); ``bitagora central`` runs as its own process over an embedded PostgreSQL the
script starts (or on the server ``--postgres-url`` names), and the device enrolls with it.
Timed: ``Uplink.push_once`` from the first batch to the outbox empty (every batch signed, sent,
verified and stored by central, acknowledged and deleted on the device), in batches of
``--batch-size``; central's CPU (its process, user + system) over the same time. Prints the
drain's time and rate.
Usage: python bench/uplink_drain.py [--records 100000] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_postgres import BenchPostgres, add_postgres_option  # noqa: E402
from fleet import central_processes, start_central  # noqa: E402
from smoke import parse_args  # noqa: E402
from uplink_helpers import Device, uplink_for  # noqa: E402

from central.enroll import create_code  # noqa: E402
from central.schema import apply_migrations  # noqa: E402

WRITE_CHUNK = 5000  # records a transaction while filling the store (untimed)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in processes)


async def drain(folder: Path, records: int, batch_size: int, postgres_url: str | None) -> None:
    pg = await BenchPostgres.open(postgres_url, folder)
    try:
        url = await pg.database("drain")
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn)
            code = await create_code(conn, "Drain bench")
        finally:
            await conn.close()
        proc, base_url = await start_central(url, folder / "central", 1)
        try:
            device = await Device.open(folder / "device")
            try:
                started = time.perf_counter()
                while device.written < records:
                    await device.write(min(WRITE_CHUNK, records - device.written))
                filled = time.perf_counter() - started
                print(f"{records:,} records sealed and stored in {filled:.1f} s (untimed)")
                await device.enroll(base_url, code)
                central = central_processes(proc.pid)
                async with uplink_for(device, base_url, batch_size=batch_size) as (uplink, _):
                    cpu_before = cpu_seconds(central)
                    started = time.perf_counter()
                    sent = await uplink.push_once()
                    elapsed = time.perf_counter() - started
                    cpu = cpu_seconds(central) - cpu_before
                left = await device.outbox_count()
            finally:
                await device.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    finally:
        await pg.close()
    if sent != records or left:
        raise SystemExit(f"drained {sent} of {records} records, {left} left in the outbox")
    print(
        f"drain of {records:,} records in batches of {batch_size}: {elapsed:.1f} s,"
        f" {records / elapsed:,.0f} records/s; central's CPU {cpu:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    add_postgres_option(parser)
    args = parse_args(parser, records=2000)
    with tempfile.TemporaryDirectory(prefix="uplink-drain-") as folder:
        asyncio.run(drain(Path(folder), args.records, args.batch_size, args.postgres_url))


if __name__ == "__main__":
    main()
