"""Rollouts at fleet scale, the database's part: central's embedded PostgreSQL, N devices seeded
with COPY (bitagora_devtools.fleet_seed), a real signed bundle; then the time to start a rollout
(every device placed in its cohort by one INSERT … SELECT), to answer every device's offer
request (central/rollouts.py ``offer``) and to take the first cohort's reports (each moving
the rollout on under its row lock), one connection, as the device API does them
(docs/PERFORMANCE.md, "Rollouts").
Usage: python bench/rollout.py [--devices 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from appliance.update.bundle import generate_key, load_public_key
from bitagora_devtools.fleet_seed import device_id, seed_fleet
from central import rollouts
from central.schema import apply_migrations

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_postgres import BenchPostgres, add_postgres_option  # noqa: E402
from smoke import parse_args  # noqa: E402
from update_helpers import signed_bundle  # noqa: E402  (the tests' tiny real release)


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"median {statistics.median(ordered) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms"


async def measure(folder: Path, devices: int, postgres_url: str | None) -> None:
    server = await BenchPostgres.open(postgres_url, folder)
    try:
        conn = await asyncpg.connect(await server.database("rollout"))
        try:
            await apply_migrations(conn)
            now = datetime.now(UTC)
            await seed_fleet(conn, devices, now)
            public = generate_key(folder / "release.pem")
            bundle = signed_bundle(folder, folder / "release.pem", "9.9").read_bytes()
            bundle_id, _ = await rollouts.store_bundle(
                conn, bundle, load_public_key(public), "bench", now
            )
            started = time.perf_counter()
            rollout_id, placed = await rollouts.create(
                conn,
                bundle_id=bundle_id,
                merchant_id=None,
                cohorts=[5, 25, 100],
                success_pct=100,
                error_pct=50,
                window=None,
                after_z=False,
                by="bench",
                now=now,
            )
            print(f"rollout of {placed} devices started in {time.perf_counter() - started:.3f} s")
            offers, offered = [], []
            for i in range(devices):
                began = time.perf_counter()
                if await rollouts.offer(conn, device_id(i), now) is not None:
                    offered.append(device_id(i))
                offers.append(time.perf_counter() - began)
            print(f"offer requests: {len(offers)}, {len(offered)} offered; {_ms(offers)}")
            report = rollouts.Report("installed", "9.9", None, "", "bench")
            reports = []
            for device in offered:
                began = time.perf_counter()
                await rollouts.record_report(conn, device, report, now)
                reports.append(time.perf_counter() - began)
            cohort = await conn.fetchval("SELECT cohort FROM rollouts WHERE id = $1", rollout_id)
            print(f"reports: {len(reports)}; {_ms(reports)}; the rollout reached cohort {cohort}")
        finally:
            await conn.close()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    add_postgres_option(parser)
    args = parse_args(parser, devices=200)
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as folder:
        asyncio.run(measure(Path(folder), args.devices, args.postgres_url))


if __name__ == "__main__":
    main()
