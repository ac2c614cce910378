"""A reduced run of the fleet benchmark (bench/fleet.py) against a real central: 200 devices
heartbeating every 2 s for 6 s, then each pushing 600 records, with no error (nothing is timed)."""

from __future__ import annotations

import sys
from pathlib import Path

import asyncpg
import pytest
from conftest import CentralTestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import fleet  # noqa: E402

# A hang guard: 20-40 s alone; over 300 s seen beside two other suites on a 2-core machine.
pytestmark = pytest.mark.timeout(900)


@pytest.mark.long
async def test_reduced_fleet_run_has_no_errors(central_server: CentralTestServer) -> None:
    url = central_server.base_url
    devices = await fleet.enroll(url, central_server.database_url, 200, concurrency=50)
    beats = await fleet.heartbeats(url, devices, duration_s=6, interval_s=2, concurrency=50)
    assert (beats.errors, beats.requests) == ([], 600)
    pushes = await fleet.ingest(url, devices[:10], 600, concurrency=10)
    assert (pushes.errors, pushes.records) == ([], 6000)
    conn = await asyncpg.connect(central_server.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM journal_records") == 6000
    finally:
        await conn.close()
