"""Central's pruning (central/housekeeping.py): enrollment codes go a week after they expire,
used or not; codes still valid or recently expired stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from conftest import CentralTestServer, SimDevice

from central.housekeeping import CODE_KEPT_AFTER_EXPIRY, prune_enrollment_codes


async def test_enrollment_codes_are_purged_a_week_after_expiry(
    central_server: CentralTestServer, central_client: httpx.AsyncClient
) -> None:
    used = await central_server.make_code(ttl=timedelta(hours=1))
    assert (await SimDevice().enroll(central_client, used)).status_code == 201
    await central_server.make_code(ttl=timedelta(hours=24))
    pool = await asyncpg.create_pool(central_server.database_url, min_size=1, max_size=1)
    try:
        now = datetime.now(UTC)
        assert await prune_enrollment_codes(pool, now + CODE_KEPT_AFTER_EXPIRY) == 0
        # Past the used one's expiry plus a week, but not yet the other's.
        later = now + timedelta(hours=2) + CODE_KEPT_AFTER_EXPIRY
        assert await prune_enrollment_codes(pool, later) == 1
        assert await pool.fetchval("SELECT count(*) FROM enrollment_codes") == 1
        assert await pool.fetchval("SELECT count(*) FROM devices") == 1  # the device stays
    finally:
        await pool.close()
