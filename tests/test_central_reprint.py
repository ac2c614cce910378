"""Central stores a device's ``reprint`` records in the chain and does not count them as sales."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)


async def test_reprint_records_are_stored_but_not_sales(
    central_server: CentralTestServer, make_device: Callable[[], SimDevice]
) -> None:
    device = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        assert (await device.enroll(client, await central_server.make_code())).status_code == 201
        sale = device.sale(1250)
        device.seal(
            "reprint",
            {"sale_id": "s-1", "original_seq": sale.seq, "staff": {"id": "ana", "name": "Ana"}},
        )
        response = await device.push(client)
    assert response.status_code == 200 and response.json() == {"held_seq": 2}
    conn = await asyncpg.connect(central_server.database_url)
    try:
        kinds = await conn.fetch(
            "SELECT kind FROM journal_records WHERE device_id = $1 ORDER BY seq", device.device_id
        )
        totals = await conn.fetchrow(
            "SELECT sales, total_minor FROM device_sales WHERE device_id = $1", device.device_id
        )
    finally:
        await conn.close()
    assert [row["kind"] for row in kinds] == ["sale", "reprint"]
    assert (totals["sales"], totals["total_minor"]) == (1, 1250)
