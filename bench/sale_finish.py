"""Benchmark: a cash sale's durable half on a real till vs. a bare fsync'd SQLite insert of the
same bytes.

Cash path: ``SalesService.commit_cash`` on a till opened as the kiosk opens it (bootstrap, demo
catalog and staff, a GPIO drawer on gpiozero's mock pins): the role and lockout check, then one
``BEGIN IMMEDIATE`` transaction with ``synchronous=FULL`` holding the sale's journal record (hash,
Ed25519 signature), its sale rows, outbox row and print job, and the ``drawer_open`` record. After
each sale, untimed, what ``finish_sale`` does for the checkpoints (services/checkpoints.py: one
every 100 sales or when idle). The drawer's pulse and the receipt come after the commit and are
not timed (bench/print_latency.py times the receipt).
Before (reference, its own till): the path as it was until the sale and its drawer opening were
one commit: the same check, the sale's commit, the ``drawer_open`` record's own commit, and a
checkpoint after every sale (untimed).
Baseline: a bare fsync'd insert of the sale record's canonical bytes into a one-column table on
the same disk, SQLite's default automatic checkpoint. The three run interleaved, so that disk
noise hits them alike. Prints median and p99 per operation and the ratios.
Usage: python bench/sale_finish.py [--sales N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from smoke import parse_args

from appliance import bootstrap
from appliance.config import load_settings
from appliance.core.cart import Cart
from appliance.services.till import Till
from appliance.store import drawer as drawer_store
from appliance.store import sales
from appliance.store import staff as staff_store
from appliance.store.db import checkpoint, open_db, transaction
from bitagora_devtools.seed import seed_demo
from bitagora_protocol.journal import canonical_json
from bitagora_protocol.money import Money

DRAWER = {
    "BITAGORA_DRAWER_KIND": "gpio",
    "BITAGORA_DRAWER_PIN_FACTORY": "mock",
    "BITAGORA_DRAWER_GPIO_PIN": "GPIO17",
    "BITAGORA_PRINTER_PORT": "9",  # nothing prints here: the print worker is off
}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def open_shop(folder: Path) -> Till:
    till = await bootstrap.open_till(load_settings(folder, env=DRAWER), print_worker=False)
    await seed_demo(till.conn, till.currency)
    return till


def cart_for(till: Till, products: list, index: int) -> Cart:  # type: ignore[type-arg]
    cart = till.sales.new_cart()
    cart.add(products[index % len(products)], 1 + index % 3)
    cart.add(products[(index * 7 + 1) % len(products)])
    return cart


async def run(count: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        root = Path(folder)
        till, before = await open_shop(root / "till"), await open_shop(root / "before")
        bare = await open_db(root / "bare.sqlite3")
        await bare.execute("CREATE TABLE blob (id INTEGER PRIMARY KEY, data TEXT NOT NULL)")
        staff = await staff_store.staff_by_pin(till.conn, "1234")
        assert staff is not None
        products = await till.sales.products()
        cash_ms: list[float] = []
        before_ms: list[float] = []
        bare_ms: list[float] = []
        for i in range(count + 20):  # the first 20 warm caches and the WAL files
            cart = cart_for(till, products, i)
            tendered = Money((cart.totals().total.minor // 1000 + 1) * 1000, till.currency)
            start = time.perf_counter()
            record, _opening = await till.sales.commit_cash(cart, staff, tendered)
            cash_ms.append((time.perf_counter() - start) * 1000)
            till.sales.checkpoints.sale_committed()

            start = time.perf_counter()
            await before.access.authorize_sale(staff)
            body = {**record.body, "sale_id": f"before-{i}"}
            await sales.record_sale(before.conn, before.identity, body)
            opening = before.drawer.opening_for_sale(body["sale_id"], staff.id, staff.name)
            assert opening is not None
            await drawer_store.record_opening(before.conn, before.identity, opening)
            before_ms.append((time.perf_counter() - start) * 1000)
            await checkpoint(before.conn)

            payload = canonical_json(record.to_dict()).decode()
            start = time.perf_counter()
            async with transaction(bare):
                await bare.execute("INSERT INTO blob (data) VALUES (?)", (payload,))
            bare_ms.append((time.perf_counter() - start) * 1000)
        await till.close()
        await before.close()
        await bare.close()
    cash_ms, before_ms, bare_ms = cash_ms[20:], before_ms[20:], bare_ms[20:]
    bare_med, bare_p99 = statistics.median(bare_ms), pct(bare_ms, 0.99)
    for name, times in (
        ("cash sale: check + 1 commit (sale, drawer_open)", cash_ms),
        ("before: check + 2 commits + checkpoint each sale", before_ms),
        ("bare fsync'd insert of the same bytes", bare_ms),
    ):
        print(
            f"{name:50} median {statistics.median(times):7.3f} ms, p99 {pct(times, 0.99):7.3f} ms"
            f"  ratio to bare: median {statistics.median(times) / bare_med:5.2f},"
            f" p99 {pct(times, 0.99) / bare_p99:5.2f}"
        )
    print(f"(n={count} each; target: cash sale p99 <= 3x bare)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=500)
    asyncio.run(run(parse_args(parser, sales=30).sales))


if __name__ == "__main__":
    main()
