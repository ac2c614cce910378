"""Benchmark: a shop's catalog at 5,000 / 50,000 / 500,000 products on the device store.

For each size, on a fresh device store (WAL, synchronous=FULL, as the till's):
- import: a generated CSV file read (``parse_catalog``) and applied with its ``catalog`` record
  (``catalog_io.import_catalog``), then the same file with 1 % of the prices changed; baseline: a
  bare ``executemany`` of the same rows into a one-table database in one transaction; and how
  long a write on another connection (a sale) waited meanwhile for the import's transaction;
- barcode lookup (``catalog_history.product_by_barcode``) of random codes, at the version in
  force and at the version before the re-import (a sale open across it); baseline: a
  primary-key SELECT on a bare table of the same codes;
- search (``catalog.search``, first page of 60) for 3-6 character pieces of names and for 1-2
  characters; baseline: today's kiosk search, a scan of every folded name in Python over the
  list ``products()`` loaded (the load itself timed too);
- category page (``catalog.page``, 60 products at a random offset; ``catalog.page_after``, the
  60 after a random product) and ``categories()``.

Prints median and p99 per operation. Usage: python bench/catalog.py [--sizes 5000,50000,500000]
[--queries N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from store_helpers import open_device  # noqa: E402

from appliance.catalog_io import import_catalog  # noqa: E402
from appliance.core.catalog import fold  # noqa: E402
from appliance.store import catalog, catalog_history  # noqa: E402
from appliance.store.db import open_db, transaction  # noqa: E402
from bitagora_protocol.barcode import parse, with_check_digit  # noqa: E402
from bitagora_protocol.catalog_csv import parse_catalog  # noqa: E402

HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes,position".split(",")
PRODUCTS = (
    "Água mineral|Leche entera|Pão de forma|Queijo fresco|Café molido|Té verde|Zumo de naranja|"
    "Aceite de oliva|Arroz bomba|Macarrones|Atún en aceite|Galletas maría|Chocolate negro|"
    "Yogur natural|Mantequilla|Cerveza|Vino tinto|Detergente|Jabón de manos|Champú|"
    "Papel higiénico|Servilletas|Pilas AA|Bombilla LED|Müsli crujiente|Crème fraîche|"
    "Jamón serrano|Chorizo|Tomate triturado|Garbanzos|Lentejas|Harina de trigo|Azúcar moreno|"
    "Sal marina|Huevos camperos|Pechuga de pollo|Salmón ahumado|Manzanas golden|Plátanos"
).split("|")
from smoke import parse_args  # noqa: E402

BRANDS = "Acme|Bio Casa|Hacendado|Nestlé|Danone|Pascual|Gallo|Barilla|Señorío|Ibérica".split("|")
SIZES = "250 g|500 g|1 kg|1 l|1,5 l|6 x 33 cl|12 uds|pack 3|75 cl|400 g".split("|")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def line(label: str, values: list[float], unit: str = "ms") -> str:
    return (
        f"  {label:<46} median {statistics.median(values):9.3f} {unit}, "
        f"p99 {pct(values, 0.99):9.3f} {unit}  (n={len(values)})"
    )


def generate(count: int, seed: int = 7) -> list[list[str]]:
    """A grocery-like catalog's rows (the first barcode of each in column 6)."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        name = f"{rng.choice(PRODUCTS)} {rng.choice(BRANDS)} {rng.choice(SIZES)} #{i}"
        code = with_check_digit(f"{841000000000 + i:012d}")
        extra = "|" + with_check_digit(f"{200000000000 + i:012d}") if i % 10 == 0 else ""
        price = f"{rng.randint(10, 9999) // 100}.{rng.randint(0, 99):02d}"
        tax = rng.choice(["21", "10", "4"])
        category = f"Sección {rng.randint(1, 40):02d}"
        position = str(rng.randint(0, 50))
        rows.append([f"sku{i:07d}", name, category, price, tax, "yes", code + extra, position])
    return rows


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


async def timed(call: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await call()
    return (time.perf_counter() - start) * 1000, result


async def while_writing(
    db: Path, work: Callable[[], Awaitable[Any]]
) -> tuple[float, Any, list[float], int]:
    """Run ``work`` (an import) while another connection writes a tiny transaction over and
    over, as the kiosk commits sales: how long each write waited, and how many gave up
    ("database is locked" after the store's busy timeout)."""
    other = await open_db(db)
    waits: list[float] = []
    failed = 0
    done = asyncio.Event()

    async def writer() -> None:
        nonlocal failed
        while not done.is_set():
            start = time.perf_counter()
            try:
                async with transaction(other):
                    await other.execute("UPDATE device_info SET value = value WHERE key = 'x'")
            except sqlite3.OperationalError:
                failed += 1
            waits.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.01)  # a sale every 10 ms at most: pacing, not synchronisation

    task = asyncio.create_task(writer())
    try:
        ms, result = await timed(work)
    finally:
        done.set()
        await task
        await other.close()
    return ms, result, waits, failed


async def lookups(conn: Any, codes: list[str], version: int | None) -> list[float]:
    """How long looking each code up at ``version`` took (ms); every one must be found."""
    took = []
    for code in codes:
        keys = parse(code).lookup_keys
        ms, found = await timed(
            lambda keys=keys: catalog_history.product_by_barcode(conn, keys, version)
        )
        assert found is not None
        took.append(ms)
    return took


async def run_size(count: int, queries: int, root: Path) -> None:
    rows = generate(count)
    codes = [row[6].split("|")[0] for row in rows]
    names = [row[1] for row in rows]
    rng = random.Random(count)
    path = root / f"catalog-{count}.csv"
    write_csv(path, rows)
    conn, identity = await open_device(root / f"device-{count}")
    print(f"{count:,} products ({path.stat().st_size / 1e6:.1f} MB of CSV)")
    try:
        start = time.perf_counter()
        parse_catalog(path.read_bytes(), "EUR")
        parse_s = time.perf_counter() - start
        db = root / f"device-{count}" / "appliance.sqlite3"
        ms, imported, waits, failed = await while_writing(
            db, lambda: import_catalog(conn, identity, "EUR", path)
        )
        print(
            f"  import (read + parse + apply + journal), s        {ms / 1000:9.2f} s"
            f"  (of which parse {parse_s:.2f} s)"
        )
        print(
            f"  a concurrent write (a sale) waited at most          {max(waits) / 1000:9.2f} s"
            f"  ({failed} of {len(waits)} gave up after the busy timeout)"
        )
        for i in rng.sample(range(count), max(1, count // 100)):
            rows[i][3] = f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
        update = root / f"update-{count}.csv"
        write_csv(update, rows)
        ms, again, waits, failed = await while_writing(
            db, lambda: import_catalog(conn, identity, "EUR", update)
        )
        print(
            f"  re-import with 1 % of prices changed, s           {ms / 1000:9.2f} s"
            f"  ({again.applied.change.changed} changed, version {again.applied.version})"
        )
        print(
            f"  a concurrent write (a sale) waited at most          {max(waits) / 1000:9.2f} s"
            f"  ({failed} of {len(waits)} gave up after the busy timeout)"
        )
        bare = sqlite3.connect(root / f"bare-{count}.sqlite3", isolation_level=None)
        bare.execute("PRAGMA journal_mode = WAL")
        bare.execute("PRAGMA synchronous = FULL")
        bare.execute(
            "CREATE TABLE t (sku TEXT PRIMARY KEY, name TEXT, category TEXT, price INTEGER,"
            " code TEXT UNIQUE)"
        )
        plain = [(f"sku{i:07d}", names[i], "c", i, codes[i]) for i in range(count)]
        start = time.perf_counter()
        bare.execute("BEGIN")
        bare.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", plain)
        bare.execute("COMMIT")
        print(
            f"  baseline: bare executemany of the rows, s         "
            f"{time.perf_counter() - start:9.2f} s"
        )
        assert imported.applied.products == count

        sample = rng.sample(codes, min(queries, count))
        print(line("barcode lookup", await lookups(conn, sample, None)))
        # A sale open across the re-import: priced from the version before it (kept rows).
        opened = imported.applied.version
        across = await lookups(conn, rng.sample(codes, min(queries, count)), opened)
        print(line("barcode lookup at the version before (a sale open)", across))
        bare_lookup = []
        for code in sample:
            start = time.perf_counter()
            bare.execute("SELECT sku FROM t WHERE code = ?", (code,)).fetchall()
            bare_lookup.append((time.perf_counter() - start) * 1000)
        bare.close()
        print(line("baseline: bare primary-key SELECT", bare_lookup))

        pieces = []
        for name in rng.sample(names, min(queries, count)):
            folded = fold(name)
            size = rng.randint(3, 6)
            at = rng.randint(0, len(folded) - size)
            pieces.append(folded[at : at + size])
        search, hits = [], []
        for piece in pieces:
            ms, found = await timed(lambda piece=piece: catalog.search(conn, piece))
            search.append(ms)
            hits.append(len(found))
        print(line("search, 3-6 characters (first page of 60)", search))
        short = []
        for piece in pieces:
            ms, _ = await timed(
                lambda piece=piece: catalog.search(conn, piece[: rng.randint(1, 2)])
            )
            short.append(ms)
        print(line("search, 1-2 characters (prefix)", short))
        counted = []
        for piece in pieces[: max(1, queries // 5)]:
            ms, _ = await timed(lambda piece=piece: catalog.search_count(conn, piece))
            counted.append(ms)
        print(line("search_count, 3-6 characters", counted))

        loads = []
        for _ in range(3):
            ms, everything = await timed(lambda: catalog.products(conn))
            loads.append(ms)
        print(line("baseline: products() (load all, today's kiosk)", loads))
        folded_names = [(fold(p.name), p) for p in everything]
        scans = []
        for piece in pieces[: max(1, queries // 5)]:
            start = time.perf_counter()
            [p for f, p in folded_names if piece in f]
            scans.append((time.perf_counter() - start) * 1000)
        print(line("baseline: Python scan of folded names", scans))

        categories = list((await catalog.categories(conn)).items())
        pages = []
        for _ in range(queries):
            name, size = rng.choice(categories)
            offset = rng.randint(0, max(0, size - 60))
            ms, page = await timed(
                lambda name=name, offset=offset: catalog.page(conn, name, offset, 60)
            )
            assert page
            pages.append(ms)
        print(line("category page of 60 at a random offset", pages))
        keyed = []
        for row in rng.sample(rows, min(queries, count)):
            key = catalog.PageKey(int(row[7]), fold(row[1]), row[0])
            ms, (page, _) = await timed(
                lambda row=row, key=key: catalog.page_after(conn, row[2], key, 60)
            )
            keyed.append(ms)
        print(line("category page of 60 after a random product", keyed))
        listing = []
        for _ in range(max(1, queries // 10)):
            ms, _ = await timed(lambda: catalog.categories(conn))
            listing.append(ms)
        print(line("categories() with counts", listing))
    finally:
        await conn.close()


async def run(sizes: list[int], queries: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        for count in sizes:
            await run_size(count, queries, Path(folder))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="5000,50000,500000")
    parser.add_argument("--queries", type=int, default=500)
    args = parse_args(parser, sizes="1000", queries=20)
    asyncio.run(run([int(s) for s in args.sizes.split(",")], args.queries))


if __name__ == "__main__":
    main()
