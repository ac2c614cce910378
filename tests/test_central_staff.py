"""Central takes a device's `staff` records like any other kind, in the chain: changes made by
the till's staff service on a real device store, pushed over real HTTP to the live central on
an embedded PostgreSQL. No PIN or PIN hash reaches it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from conftest import SimDevice
from store_helpers import open_device

from appliance.services.access import AccessService
from appliance.services.staff import CLI, StaffService
from appliance.store import journal
from appliance.store.staff import Staff

if TYPE_CHECKING:
    from conftest import CentralTestServer

pytestmark = pytest.mark.timeout(60)


async def test_staff_records_are_stored_in_the_chain(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    conn, identity = await open_device(tmp_path / "device")
    try:
        service = StaffService(conn, identity, AccessService(conn, identity))
        marco = (await service.add("Marco", "manager", "9999", CLI)).staff
        await service.add("Ana", "cashier", "1234", marco)
        await service.deactivate("ana", marco)
        records = [record async for record in journal.iterate(conn)]
        hashes = [str(row[0]) for row in await conn.execute_fetchall("SELECT pin_hash FROM staff")]
    finally:
        await conn.close()
    assert marco == Staff("marco", "Marco", "manager")

    shop = SimDevice(key=identity.private_key)
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        assert (await shop.enroll(client, await central_server.make_code())).status_code == 201
        assert (await shop.push(client, records)).json() == {"held_seq": 3}

    db = await asyncpg.connect(central_server.database_url)
    try:
        rows = await db.fetch(
            "SELECT kind, body_json FROM journal_records WHERE device_id = $1 ORDER BY seq",
            identity.device_id,
        )
    finally:
        await db.close()
    assert [row["kind"] for row in rows] == ["staff", "staff", "staff"]
    assert json.loads(rows[2]["body_json"]) == {
        "action": "deactivated",
        "staff": {"id": "ana", "name": "Ana", "role": "cashier", "active": False},
        "by": {"id": "marco", "name": "Marco"},
    }
    stored = "".join(row["body_json"] for row in rows)
    for secret in ("9999", "1234", *hashes):
        assert secret not in stored
