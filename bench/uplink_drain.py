"""Benchmark: the uplink draining a backlog of N journal records to a central on loopback.

A real device store (SQLite, key) holds N sealed one-line cash sales, all in the outbox (a till
that was offline); ``bitagora central`` runs as its own process (``--workers``) over an embedded
PostgreSQL the script starts (or on the server ``--postgres-url`` names). The store is filled
once; each run drains a copy of it into a new central database the device enrolls with. Timed:
``Uplink.push_once`` from the first batch to the outbox empty (every batch signed, sent,
verified and stored by central, acknowledged and deleted on the device). One run for each
``--batch-sizes`` x ``--in-flight`` (uplink.batch_size, uplink.in_flight): the baseline is one
batch in flight, as the uplink sent before batches were pipelined. Over each run, the CPU (user
+ system) of each side: the device (this process: the uplink and its SQLite thread), central
(its processes) and PostgreSQL (the embedded server's; not measured on a ``--postgres-url``
server). Prints each run's time and rate, and its ratio to the baseline of its batch size.
Usage: python bench/uplink_drain.py [--records 100000] [--batch-sizes 100,200,500]
       [--in-flight 1,2] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_postgres import BenchPostgres, add_postgres_option  # noqa: E402
from fleet import cpu_seconds, start_central, with_children  # noqa: E402
from smoke import parse_args  # noqa: E402
from uplink_helpers import Device, uplink_for  # noqa: E402

from central.enroll import create_code  # noqa: E402
from central.schema import apply_migrations  # noqa: E402

WRITE_CHUNK = 5000  # records a transaction while filling the store (untimed)


@dataclass(frozen=True)
class Run:
    batch_size: int
    in_flight: int
    seconds: float
    cpu: dict[str, float]


async def fill(folder: Path, records: int) -> None:
    device = await Device.open(folder)
    try:
        started = time.perf_counter()
        while device.written < records:
            await device.write(min(WRITE_CHUNK, records - device.written))
        filled = time.perf_counter() - started
    finally:
        await device.close()
    print(f"{records:,} records sealed and stored in {filled:.1f} s (untimed)")


async def drain(
    pg: BenchPostgres, folder: Path, records: int, batch_size: int, in_flight: int, workers: int
) -> Run:
    """Drain a copy of the filled store (``folder / "filled"``) into a new central."""
    url = await pg.database("drain")
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
        code = await create_code(conn, "Drain bench")
    finally:
        await conn.close()
    run_folder = folder / f"run-{batch_size}-{in_flight}"
    shutil.copytree(folder / "filled", run_folder / "device")
    proc, base_url = await start_central(url, run_folder / "central", workers)
    try:
        device = await Device.open(run_folder / "device")
        try:
            await device.enroll(base_url, code)
            server = pg.server_pid()
            sides = {
                "device": [psutil.Process()],
                "central": with_children(proc.pid),
                "PostgreSQL": with_children(server) if server is not None else [],
            }
            settings = {"batch_size": batch_size, "in_flight": in_flight}
            async with uplink_for(device, base_url, **settings) as (uplink, _):
                before = {side: cpu_seconds(group) for side, group in sides.items()}
                started = time.perf_counter()
                sent = await uplink.push_once()
                elapsed = time.perf_counter() - started
                cpu = {side: cpu_seconds(group) - before[side] for side, group in sides.items()}
            left = await device.outbox_count()
        finally:
            await device.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        shutil.rmtree(run_folder)
    if sent != records or left:
        raise SystemExit(f"drained {sent} of {records} records, {left} left in the outbox")
    return Run(batch_size, in_flight, elapsed, cpu)


async def sweep(folder: Path, args: argparse.Namespace) -> None:
    await fill(folder / "filled", args.records)
    pg = await BenchPostgres.open(args.postgres_url, folder)
    runs: list[Run] = []
    try:
        for batch_size in args.batch_sizes:
            for in_flight in args.in_flight:
                runs.append(
                    await drain(pg, folder, args.records, batch_size, in_flight, args.workers)
                )
                report(runs[-1], runs, args.records)
    finally:
        await pg.close()
    if args.postgres_url is not None:
        print("(PostgreSQL's CPU is not measured on a --postgres-url server)")
    best = min(runs, key=lambda run: run.seconds)
    print(
        f"fastest: batches of {best.batch_size}, {best.in_flight} in flight:"
        f" {best.seconds:.1f} s for {args.records:,} records"
    )


def report(run: Run, runs: list[Run], records: int) -> None:
    baseline = next((r for r in runs if r.batch_size == run.batch_size and r.in_flight == 1), None)
    ratio = f", {run.seconds / baseline.seconds:.2f}x one in flight" if baseline else ""
    cpu = ", ".join(f"{side} {seconds:.1f} s" for side, seconds in run.cpu.items())
    print(
        f"batches of {run.batch_size}, {run.in_flight} in flight: {run.seconds:.1f} s,"
        f" {records / run.seconds:,.0f} records/s{ratio}; CPU: {cpu}"
    )


def ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch-sizes", type=ints, default=[100, 200, 500])
    parser.add_argument("--in-flight", type=ints, default=[1, 2])
    parser.add_argument("--workers", type=int, default=1, help="central's --workers")
    add_postgres_option(parser)
    args = parse_args(parser, records=2000, batch_sizes=[500])
    with tempfile.TemporaryDirectory(prefix="uplink-drain-") as folder:
        asyncio.run(sweep(Path(folder), args))


if __name__ == "__main__":
    main()
