"""Central takes a device's `catalog` records like any other, in the chain, and keeps the catalog
version each device sells from. A real device store imports the files; real HTTP against the
live central on an embedded PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from conftest import SimDevice
from store_helpers import open_device

from appliance.catalog_io import import_catalog
from appliance.store import journal
from central.catalogs import of_device

if TYPE_CHECKING:
    from conftest import CentralTestServer

pytestmark = pytest.mark.timeout(60)

HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes\n"


@pytest.fixture
async def client(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
        yield http


async def test_catalog_records_are_stored_and_the_device_catalog_kept(
    client: httpx.AsyncClient, central_server: CentralTestServer, tmp_path: Path
) -> None:
    conn, identity = await open_device(tmp_path / "device")
    try:
        first = tmp_path / "a.csv"
        first.write_text(HEADER + "espresso,Espresso,Drinks,1.80,10,yes,\n", encoding="utf-8")
        one = await import_catalog(conn, identity, "EUR", first)
        second = tmp_path / "b.csv"
        second.write_text(
            HEADER + "espresso,Espresso,Drinks,1.90,10,yes,\ntea,Té,Drinks,2.20,10,yes,\n",
            encoding="utf-8",
        )
        two = await import_catalog(conn, identity, "EUR", second)
        records = [record async for record in journal.iterate(conn)]
    finally:
        await conn.close()

    shop = SimDevice(key=identity.private_key)
    assert (await shop.enroll(client, await central_server.make_code())).status_code == 201
    assert (await shop.push(client, records[:1])).json() == {"held_seq": 1}

    db = await asyncpg.connect(central_server.database_url)
    try:
        held = await of_device(db, identity.device_id)
        assert held is not None
        assert (held["version"], held["sha256"], held["products"], held["seq"]) == (
            1,
            one.applied.sha256,
            1,
            1,
        )
        assert (await shop.push(client, records[1:])).json() == {"held_seq": 2}
        held = await of_device(db, identity.device_id)
        assert held is not None
        assert (held["version"], held["sha256"], held["currency"], held["products"]) == (
            2,
            two.applied.sha256,
            "EUR",
            2,
        )
        kinds = await db.fetch(
            "SELECT kind FROM journal_records WHERE device_id = $1 ORDER BY seq",
            identity.device_id,
        )
        assert [row["kind"] for row in kinds] == ["catalog", "catalog"]
        # Pushing the same records again changes nothing (skipped as already held).
        assert (await shop.push(client, records)).json() == {"held_seq": 2}
        assert (await of_device(db, identity.device_id) or {})["version"] == 2
    finally:
        await db.close()


async def test_a_catalog_record_without_the_expected_fields_is_kept_in_the_chain_only(
    client: httpx.AsyncClient, central_server: CentralTestServer
) -> None:
    shop = SimDevice()
    assert (await shop.enroll(client, await central_server.make_code())).status_code == 201
    shop.seal("catalog", {"version": "three"})
    assert (await shop.push(client)).json() == {"held_seq": 1}
    db = await asyncpg.connect(central_server.database_url)
    try:
        assert await of_device(db, shop.device_id) is None
    finally:
        await db.close()
