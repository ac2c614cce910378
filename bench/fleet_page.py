"""The fleet page at N devices in a real headless Chromium: central (one process) on the embedded
PostgreSQL, N devices seeded with COPY (bitagora_devtools.fleet_seed), ops logged in; each view
below is loaded R times and the browser's own navigation timing reported (first byte and the
load event, from the start of navigation), median and worst (docs/PERFORMANCE.md).
Usage: python bench/fleet_page.py [--devices 10000] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bitagora_devtools.fleet_seed import seed_fleet
from central.app import create_app
from central.schema import apply_migrations
from central.serve import start_server

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bench_postgres import BenchPostgres, add_postgres_option  # noqa: E402
from browser_helpers import chromium_page  # noqa: E402  (the tests' Chromium, same flags)
from smoke import parse_args  # noqa: E402

VIEWS = {
    "default (stalest first)": "/",
    "needs attention": "/?attention=1",
    "offline, by backlog": "/?status=offline&sort=backlog&dir=desc",
    "search a label": "/?q=kasse",
    "last page": "/?page=200",
}
PASSWORD = secrets.token_urlsafe(12)


async def measure(folder: Path, devices: int, runs: int, postgres_url: str | None) -> None:
    server = await BenchPostgres.open(postgres_url, folder)
    try:
        url = await server.database("fleet")
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn)
            await seed_fleet(conn, devices, datetime.now(UTC))
        finally:
            await conn.close()
        app = create_app(url, secrets.token_urlsafe(16), ops_password=PASSWORD)
        running = await start_server(app, "127.0.0.1", 0)
        try:
            async with chromium_page(running.base_url) as page:
                await page.goto("/login")
                await page.get_by_label(re.compile("Username|Email")).fill("admin")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Log in").click()
                await page.wait_for_url("**/")
                print(f"{devices} devices, {runs} loads each (ms from navigation start)")
                for name, path in VIEWS.items():
                    first_byte, loaded = [], []
                    for _ in range(runs):
                        await page.goto(path)
                        timing = await page.evaluate(
                            "() => performance.getEntriesByType('navigation')[0].toJSON()"
                        )
                        first_byte.append(timing["responseStart"])
                        loaded.append(timing["loadEventEnd"])
                    print(
                        f"{name:28} first byte median {statistics.median(first_byte):6.1f}"
                        f" max {max(first_byte):6.1f} | load median"
                        f" {statistics.median(loaded):6.1f} max {max(loaded):6.1f}"
                    )
        finally:
            await running.stop()
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    add_postgres_option(parser)
    args = parse_args(parser, devices=50, runs=1)
    with tempfile.TemporaryDirectory(prefix="central-fleet-page-") as folder:
        asyncio.run(measure(Path(folder), args.devices, args.runs, args.postgres_url))


if __name__ == "__main__":
    main()
