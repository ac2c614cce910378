"""Benchmark: a fleet of simulated devices against a real central over HTTP and PostgreSQL.

Enrolls N devices (real Ed25519 keys, signed requests: tests/sim_device.py), then
- heartbeats: each device sends one every ``--interval`` seconds, the fleet spread evenly over
  the interval, for ``--duration`` seconds; reports p50/p99 latency, errors and requests/s;
- ingest (``--records K``): every device pushes K signed, chained records in batches of 500,
  all devices at once; reports records/s end to end (sealing is done before the clock starts).
Both report central's CPU per request (psutil: central's processes, user + system); ingest also
reports the bytes a record takes in PostgreSQL.

Central runs as ``bitagora central --workers W`` over an embedded PostgreSQL this script starts
in a temporary directory (or a database of its own on the server ``--postgres-url`` names). Usage:

    python bench/fleet.py [--devices 3000] [--duration 60] [--interval 30] [--workers 1]
                          [--records 0] [--concurrency 200]

The load generator is one Python process on the same machine: on 2 cores it competes with
central for CPU (its own CPU share is printed too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bench_postgres import BenchPostgres, add_postgres_option  # noqa: E402
from sim_device import SimDevice  # noqa: E402
from smoke import parse_args  # noqa: E402

from central.enroll import create_code  # noqa: E402
from central.schema import apply_migrations  # noqa: E402

BATCH = 500


@dataclass
class Report:
    latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    records: int = 0
    elapsed_s: float = 0.0
    central_cpu_s: float = 0.0

    def line(self, what: str) -> str:
        lat = sorted(self.latencies_s) or [0.0]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        per_req = self.central_cpu_s / self.requests * 1000 if self.requests else 0.0
        text = (
            f"{what}: {self.requests} requests in {self.elapsed_s:.1f} s"
            f" ({self.requests / self.elapsed_s:.0f}/s), errors {len(self.errors)},"
            f" p50 {statistics.median(lat) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
            f" central CPU {per_req:.2f} ms/request"
        )
        if self.records:
            text += f", {self.records / self.elapsed_s:.0f} records/s"
        return text


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU of the processes (0 for one that has exited)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


# Idle connections are dropped well before central's (uvicorn's 5 s keep-alive) would close
# them: a request sent on a connection central is closing is reset, not answered.
KEEPALIVE_EXPIRY_S = 2.0


def with_children(pid: int) -> list[psutil.Process]:
    """A process and its children: central and its workers, or a PostgreSQL server and its
    backends."""
    parent = psutil.Process(pid)
    return [parent, *parent.children()]


async def enroll(base_url: str, database_url: str, count: int, concurrency: int) -> list[SimDevice]:
    conn = await asyncpg.connect(database_url)
    try:
        codes = [await create_code(conn, "Fleet Bench") for _ in range(count)]
    finally:
        await conn.close()
    devices = [SimDevice() for _ in range(count)]
    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=KEEPALIVE_EXPIRY_S)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as http:

        async def one(device: SimDevice, code: str) -> None:
            async with gate:
                answer = await device.enroll(http, code)
            if answer.status_code != 201:
                raise RuntimeError(f"enroll: {answer.status_code} {answer.text}")

        await asyncio.gather(*(one(d, c) for d, c in zip(devices, codes, strict=True)))
    return devices


async def heartbeats(
    base_url: str,
    devices: list[SimDevice],
    *,
    duration_s: float,
    interval_s: float,
    concurrency: int,
    central: list[psutil.Process] | None = None,
) -> Report:
    """Each device beats every ``interval_s``, device i at offset i/N of the interval."""
    report = Report()
    limits = httpx.Limits(
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        keepalive_expiry=KEEPALIVE_EXPIRY_S,
    )
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:

        async def beat(device: SimDevice) -> None:
            started = time.perf_counter()
            try:
                answer = await device.heartbeat(http)
                if answer.status_code != 200:
                    report.errors.append(f"{answer.status_code} {answer.text[:80]}")
            except httpx.HTTPError as err:
                report.errors.append(repr(err))
            report.latencies_s.append(time.perf_counter() - started)
            report.requests += 1

        cpu_before = cpu_seconds(central) if central else 0.0
        start = loop.time()
        pending: set[asyncio.Task[None]] = set()
        slot = interval_s / len(devices)
        n = 0
        while (due := start + n * slot) < start + duration_s:
            await asyncio.sleep(max(0.0, due - loop.time()))
            task = asyncio.create_task(beat(devices[n % len(devices)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            n += 1
        await asyncio.gather(*pending)
        report.elapsed_s = loop.time() - start
        report.central_cpu_s = (cpu_seconds(central) if central else 0.0) - cpu_before
    return report


async def ingest(
    base_url: str,
    devices: list[SimDevice],
    records: int,
    *,
    concurrency: int,
    central: list[psutil.Process] | None = None,
) -> Report:
    """Every device pushes ``records`` new records in batches, all devices at once."""
    report = Report()
    batches = []
    for device in devices:
        first = len(device.records)
        for _ in range(records):
            device.shop_sale(1250)
        new = device.records[first:]
        batches.append([new[i : i + BATCH] for i in range(0, len(new), BATCH)])
    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=KEEPALIVE_EXPIRY_S)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:

        async def push(device: SimDevice, chunks: list[list[object]]) -> None:
            for chunk in chunks:
                started = time.perf_counter()
                answer = await device.push(http, chunk)  # type: ignore[arg-type]
                report.latencies_s.append(time.perf_counter() - started)
                report.requests += 1
                if answer.status_code != 200:
                    report.errors.append(f"{answer.status_code} {answer.text[:80]}")
                    return
                report.records += len(chunk)

        cpu_before = cpu_seconds(central) if central else 0.0
        started = time.perf_counter()
        await asyncio.gather(*(push(d, b) for d, b in zip(devices, batches, strict=True)))
        report.elapsed_s = time.perf_counter() - started
        report.central_cpu_s = (cpu_seconds(central) if central else 0.0) - cpu_before
    return report


async def bytes_per_record(database_url: str) -> str:
    """What a journal record costs on disk: its table with indexes and TOAST, and the whole
    database (the ledger kept at ingest included), each over the records held."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("VACUUM ANALYZE")
        rows = await conn.fetchval("SELECT count(*) FROM journal_records")
        table = await conn.fetchval("SELECT pg_total_relation_size('journal_records')")
        whole = await conn.fetchval("SELECT pg_database_size(current_database())")
    finally:
        await conn.close()
    return (
        f"{rows} records: journal_records {table / rows:.0f} bytes/record,"
        f" whole database {whole / rows:.0f} bytes/record"
    )


async def start_central(
    url: str, data_dir: Path, workers: int
) -> tuple[asyncio.subprocess.Process, str]:
    """``bitagora central --workers W`` on database ``url``; the process and its address, once
    it listens (stop it with SIGTERM)."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
    env["BITAGORA_OPS_PASSWORD"] = secrets.token_urlsafe(16)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "central.cli",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        "--workers",
        str(workers),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    line = (await asyncio.wait_for(proc.stdout.readline(), 120)).decode()
    if not line.startswith("central listening on "):
        raise RuntimeError(f"central did not start: {line!r}")
    return proc, line.removeprefix("central listening on ").split()[0]


async def main(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bitagora-fleet-bench-") as tmp:
        pg = await BenchPostgres.open(args.postgres_url, Path(tmp))
        try:
            url = await pg.database("fleet")
            conn = await asyncpg.connect(url)
            try:
                await apply_migrations(conn)
            finally:
                await conn.close()
            proc, base_url = await start_central(url, Path(tmp) / "data", args.workers)
            try:
                central = with_children(proc.pid)
                me = psutil.Process()
                t0 = time.perf_counter()
                devices = await enroll(base_url, url, args.devices, args.concurrency)
                print(f"enrolled {len(devices)} devices in {time.perf_counter() - t0:.1f} s")
                print(f"central: {args.workers} worker(s); machine load {os.getloadavg()[0]:.2f}")
                mine = me.cpu_times()
                if args.records:
                    report = await ingest(
                        base_url,
                        devices,
                        args.records,
                        concurrency=args.concurrency,
                        central=central,
                    )
                    print(report.line("ingest"))
                    print(await bytes_per_record(url))
                else:
                    report = await heartbeats(
                        base_url,
                        devices,
                        duration_s=args.duration,
                        interval_s=args.interval,
                        concurrency=args.concurrency,
                        central=central,
                    )
                    print(report.line(f"heartbeats every {args.interval:g} s"))
                gen = me.cpu_times()
                used = gen.user + gen.system - mine.user - mine.system
                print(f"load generator CPU: {used / report.elapsed_s * 100:.0f} % of one core")
                for error in report.errors[:5]:
                    print(f"  error: {error}")
                return 1 if report.errors else 0
            finally:
                proc.send_signal(signal.SIGTERM)
                await proc.wait()
        finally:
            await pg.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=3000)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of heartbeats")
    parser.add_argument("--interval", type=float, default=30.0, help="heartbeat interval (s)")
    parser.add_argument("--workers", type=int, default=1, help="central's --workers")
    parser.add_argument(
        "--records", type=int, default=0, help="ingest this many records a device instead"
    )
    parser.add_argument("--concurrency", type=int, default=200, help="HTTP connections at most")
    add_postgres_option(parser)
    sys.exit(asyncio.run(main(parse_args(parser, devices=20, duration=2.0, interval=1.0))))
