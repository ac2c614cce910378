"""Importing a catalog file into a real device store: the whole catalog in one transaction with
its `catalog` journal record, a bad file changing nothing, export → import a round trip, and the
record's hash recomputable from an export with the script printed in docs/PROTOCOL.md 1.7."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import aiosqlite
import pytest
from store_helpers import open_device

from appliance.catalog_io import export_catalog, import_catalog, show_catalog
from appliance.store import catalog, catalog_history, catalog_versions, journal
from appliance.store.identity import DeviceIdentity
from bitagora_devtools.seed import seed_demo
from bitagora_protocol.barcode import parse
from bitagora_protocol.catalog_csv import CatalogFileError
from bitagora_protocol.journal import verify_chain

DOC = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"
HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes"
CAFE = (
    HEADER + ",position,active\n"
    "espresso,Espresso,Drinks,1.80,10,yes,4006381333931|20001,0,yes\n"
    "water,Água mineral,Drinks,1.50,10,yes,036000291452,1,yes\n"
    "-old,=Old cake,@Bakery,2.00,10,yes,+20002,0,no\n"  # formulas, to a spreadsheet
    "mug,BitAgora mug,Merch,12.00,21,yes,4012345678901,0,yes\n"
)


@pytest.fixture
async def device(tmp_path: Path) -> tuple[aiosqlite.Connection, DeviceIdentity]:
    conn, identity = await open_device(tmp_path / "device")
    yield conn, identity
    await conn.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


async def records(conn: aiosqlite.Connection) -> list[journal.Record]:
    return [record async for record in journal.iterate(conn)]


async def find(conn: aiosqlite.Connection, code: str) -> str | None:
    product = await catalog_history.product_by_barcode(conn, parse(code).lookup_keys, None)
    return product.sku if product else None


async def test_an_import_replaces_the_catalog_and_journals_its_version(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    await seed_demo(conn, "EUR")
    await catalog_versions.ensure_recorded(conn, identity, "EUR")  # the demo catalog: version 1
    imported = await import_catalog(conn, identity, "EUR", write(tmp_path / "cafe.csv", CAFE))

    applied = imported.applied
    assert (applied.version, applied.products) == (2, 4)
    assert (applied.change.added, applied.change.changed, applied.change.removed) == (1, 3, 9)
    assert "catalog version 2 (4 products: 1 added, 3 changed, 9 removed)" in imported.summary()
    demo, record = (await records(conn))[-2:]
    assert record.kind == "catalog" and record.seq == applied.seq == 2
    assert record.body["version"] == 2 and record.body["sha256"] == applied.sha256
    assert record.body["previous"] == {"version": 1, "sha256": demo.body["sha256"]}
    assert record.body["source"]["kind"] == "file" and record.body["source"]["name"] == "cafe.csv"
    assert record.body["by"] == {"via": "cli"}
    verify_chain(await records(conn), identity.public_key, identity.device_id, 1, None)
    assert await catalog_versions.current_version(conn) == catalog_versions.CatalogVersion(
        2, applied.sha256, 2, True
    )

    # What the till sells now: the file's active products, every barcode of each.
    assert [p.sku for p in await catalog.products(conn)] == ["espresso", "water", "mug"]
    assert (
        await find(conn, "20001") == "espresso" and await find(conn, "4006381333931") == "espresso"
    )
    assert (
        await find(conn, "0036000291452") == "water" and await find(conn, "036000291452") == "water"
    )
    assert await find(conn, "20002") is None  # inactive: not for sale
    assert await find(conn, "8410076472939") is None  # a demo product the file removed
    water = (await catalog.search(conn, "AGUA"))[0]
    assert (water.name, water.price.minor, water.tax.code, water.barcode) == (
        "Água mineral",
        150,
        "B",  # the demo's code for 10 % is kept
        "0036000291452",
    )
    shown = await show_catalog(conn)
    assert (shown["version"], shown["products"], shown["for_sale"]) == (2, 4, 3)
    assert shown["categories"] == [
        {"name": "Drinks", "products": 2},
        {"name": "Merch", "products": 1},
    ]


async def test_importing_the_same_catalog_again_records_nothing(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    path = write(tmp_path / "cafe.csv", CAFE)
    first = await import_catalog(conn, identity, "EUR", path)
    # The same catalog in a spreadsheet's clothes is the same catalog.
    excel = CAFE.replace(",", ";").replace("1.80", "1,8").replace("\n", "\r\n")
    again = await import_catalog(conn, identity, "EUR", write(tmp_path / "x.csv", "\ufeff" + excel))
    assert again.applied.unchanged and again.applied.version == first.applied.version == 1
    assert "already this one (version 1)" in again.summary()
    assert [r.kind for r in await records(conn)] == ["catalog"]


async def test_a_file_with_one_bad_row_changes_nothing(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    await import_catalog(conn, identity, "EUR", write(tmp_path / "cafe.csv", CAFE))
    before = await catalog.catalog_items(conn)
    rows = [f"p{i},Product {i},Bulk,{i}.50,21,yes," for i in range(2000)]
    rows[1500] = "p1500,Product 1500,Bulk,1.50,21,perhaps,"
    with pytest.raises(CatalogFileError) as caught:
        await import_catalog(
            conn, identity, "EUR", write(tmp_path / "big.csv", HEADER + "\n" + "\n".join(rows))
        )
    assert [(p.line, p.column) for p in caught.value.problems] == [(1502, "price_includes_tax")]
    assert await catalog.catalog_items(conn) == before
    assert [r.kind for r in await records(conn)] == ["catalog"]
    assert (await catalog_versions.current_version(conn)).version == 1


async def test_export_then_import_is_a_round_trip_and_its_hash_is_recomputable(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    imported = await import_catalog(conn, identity, "EUR", write(tmp_path / "cafe.csv", CAFE))
    exported = await export_catalog(conn, "EUR", tmp_path / "export.csv")
    assert exported.products == 4 and exported.version.version == 1
    # The export imports back as the very same catalog (no new version).
    again = await import_catalog(conn, identity, "EUR", tmp_path / "export.csv")
    assert again.applied.unchanged

    # Onto another device, it makes a catalog with the same hash.
    other, other_identity = await open_device(tmp_path / "other")
    try:
        copied = await import_catalog(other, other_identity, "EUR", tmp_path / "export.csv")
        assert copied.applied.sha256 == imported.applied.sha256
    finally:
        await other.close()

    section = DOC.read_text(encoding="utf-8").split("### 1.7", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "PROTOCOL.md 1.7 has no python block"
    script = tmp_path / "catalog_sha256.py"
    script.write_text(code.group(1), encoding="utf-8")
    recomputed = (
        await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(script), str(tmp_path / "export.csv"), "EUR", "2"],
            capture_output=True,
            text=True,
            check=True,
        )
    ).stdout.strip()
    record = (await records(conn))[-1]
    assert recomputed == record.body["sha256"] == imported.applied.sha256


async def test_tables_written_outside_an_import_are_recorded_at_the_next_start(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    assert await catalog_versions.current_version(conn) == catalog_versions.CatalogVersion(
        0, None, None, True
    )
    await import_catalog(conn, identity, "EUR", write(tmp_path / "cafe.csv", CAFE))
    # An older release after a rollback writes products its own way (no folded name, no row in
    # product_barcodes): the catalog is then not what version 1 says.
    db = tmp_path / "device" / "appliance.sqlite3"
    old = sqlite3.connect(db)
    old.execute(
        "INSERT OR REPLACE INTO products (sku, name, category, price_minor, currency, tax_code,"
        " price_includes_tax, barcode, position) VALUES"
        " ('tea', 'Té verde', 'Drinks', 220, 'EUR', 'B', 1, '5449000000996', 5)"
    )
    old.commit()
    old.close()
    assert not (await catalog_versions.current_version(conn)).recorded
    assert await catalog.search(conn, "verde") == []  # not indexed yet
    assert await find(conn, "5449000000996") == "tea"  # the older release's barcode column is read

    version = await catalog_versions.ensure_recorded(conn, identity, "EUR")
    assert (version.version, version.recorded) == (2, True)
    record = (await records(conn))[-1]
    assert record.body["source"] == {"kind": "local"} and record.body["by"] is None
    assert record.body["products"] == 5
    assert [p.sku for p in await catalog.search(conn, "VERDE")] == ["tea"]
    # Nothing changed since: nothing more to record.
    assert await catalog_versions.ensure_recorded(conn, identity, "EUR") == version
    assert len(await records(conn)) == 2


async def test_a_write_that_changes_nothing_is_not_a_new_version(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    await import_catalog(conn, identity, "EUR", write(tmp_path / "cafe.csv", CAFE))
    await conn.execute("UPDATE tax_rates SET basis_points = basis_points")
    assert not (await catalog_versions.current_version(conn)).recorded
    version = await catalog_versions.ensure_recorded(conn, identity, "EUR")
    assert (version.version, version.recorded) == (1, True)
    assert len(await records(conn)) == 1


async def test_an_import_is_refused_with_the_currency_of_another_till(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    path = write(tmp_path / "usd.csv", HEADER + ",currency\nx,X,C,1.00,0,no,,USD\n")
    with pytest.raises(CatalogFileError, match="this till sells in EUR"):
        await import_catalog(conn, identity, "EUR", path)


async def test_codes_may_move_between_products_from_one_version_to_the_next(
    device: tuple[aiosqlite.Connection, DeviceIdentity], tmp_path: Path
) -> None:
    conn, identity = device
    first = "a,A,C,1,10,yes,4006381333931\nb,B,C,1,10,yes,20001|20002\nc,C,C,1,10,yes,20003\n"
    await import_catalog(conn, identity, "EUR", write(tmp_path / "1.csv", HEADER + "\n" + first))
    # a and b swap codes, c goes and d takes its code, a price changes: only those rows move.
    second = "b,B,C,1,10,yes,4006381333931\na,A,C,2,10,yes,20002|20001\nd,D,C,1,10,yes,20003\n"
    imported = await import_catalog(
        conn, identity, "EUR", write(tmp_path / "2.csv", HEADER + "\n" + second)
    )
    change = imported.applied.change
    assert (change.added, change.changed, change.removed) == (1, 2, 1)
    assert [await find(conn, code) for code in ("4006381333931", "20001", "20002", "20003")] == [
        "b",
        "a",
        "a",
        "d",
    ]
    a = (await catalog.search(conn, "a"))[0]
    assert (a.sku, a.price.minor, a.barcode) == ("a", 200, "20002")
    assert await catalog.categories(conn) == {"C": 3}
    assert [p.sku for p in await catalog.search(conn, "d")] == ["d"]
    # The hash is the one a fresh import of the same file gives.
    other, other_identity = await open_device(tmp_path / "other")
    try:
        fresh = await import_catalog(other, other_identity, "EUR", tmp_path / "2.csv")
    finally:
        await other.close()
    assert fresh.applied.sha256 == imported.applied.sha256
