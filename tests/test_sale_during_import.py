"""A sale committed while a catalog import holds the store's write lock: the import of a big
catalog (`bitagora catalog import`, its own process and connection) holds the lock for as long
as it writes, seconds at 500,000 products, longer than the till's busy timeout. The sale's commit
waits for it (store/db.py SALE_LOCK_WAIT_S) instead of failing with "database is locked".

Scaled down to run in seconds: 20,000 products, and a till whose busy timeout (50 ms) is far
shorter than the import's write (as 5 s is shorter than a 500,000-product import's)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from print_helpers import cashier, till_and_printer

from appliance.catalog_io import import_catalog
from appliance.store import journal
from appliance.store.db import open_db
from bitagora_protocol.barcode import with_check_digit
from bitagora_protocol.money import Money

PRODUCTS = 20_000
HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes\n"
LOCK_SEEN_WITHIN_S = 30.0


def big_catalog(path: Path) -> Path:
    rows = (
        f"p{i:06d},Product {i},Aisle {i % 40:02d},{1 + i % 90}.{i % 100:02d},10,yes,"
        f"{with_check_digit(f'{841000000000 + i:012d}')}\n"
        for i in range(PRODUCTS)
    )
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


async def write_lock_taken(db: Path) -> None:
    """Returns once another connection holds the write lock (BEGIN IMMEDIATE is refused at
    once), checked on a connection of its own that never waits."""
    probe = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_SEEN_WITHIN_S
        while loop.time() < deadline:
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as err:
                assert err.sqlite_errorcode == sqlite3.SQLITE_BUSY
                return
            probe.execute("ROLLBACK")
            await asyncio.sleep(0.002)  # let the import run between two looks
        raise AssertionError("the import never took the write lock")
    finally:
        probe.close()


async def test_a_sale_commits_while_a_long_import_holds_the_write_lock(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, _printer):
        small = tmp_path / "v1.csv"
        small.write_text(HEADER + "espresso,Espresso,Drinks,1.80,10,yes,4006381333931\n")
        first = await import_catalog(till.conn, till.identity, "EUR", small)
        staff = await cashier(till)
        cart = await till.sales.start_cart()
        espresso = await till.sales.product_for_barcode("4006381333931", cart)
        assert espresso is not None
        cart.add(espresso)

        rows = await till.conn.execute_fetchall("PRAGMA database_list")
        db = Path(next(row[2] for row in rows if row[1] == "main"))
        await till.conn.execute("PRAGMA busy_timeout = 50")  # far shorter than the import
        importer = await open_db(db)  # `bitagora catalog import`'s own connection
        try:
            importing = asyncio.create_task(
                import_catalog(importer, till.identity, "EUR", big_catalog(tmp_path / "big.csv"))
            )
            await write_lock_taken(db)
            sale = await till.sales.pay_cash(cart, staff, Money(180, "EUR"))
            imported = await importing
        finally:
            await importer.close()

        # The sale waited for the import's transaction and then committed after it.
        assert imported.applied.products == PRODUCTS and imported.applied.seq is not None
        assert sale.record.seq > imported.applied.seq
        # Priced from, and naming, the version its cart started at.
        assert sale.record.body["catalog"] == {
            "version": first.applied.version,
            "sha256": first.applied.sha256,
        }
        assert sale.record.body["lines"][0]["unit_price"] == 180
        sales = [r async for r in journal.iterate(till.conn) if r.kind == "sale"]
        assert [r.seq for r in sales] == [sale.record.seq]  # recorded once
