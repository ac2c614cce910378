"""Several centrals over one database take the same device's batches at once: overlapping and
identical batches from concurrent clients never fork, duplicate or lose a record (the push path's
row lock on the device, central/ingest.py). Run against two app instances in this process and
against ``bitagora central --workers 2`` (two real processes on one socket)."""

from __future__ import annotations

import asyncio
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
from conftest import SimDevice
from uplink_helpers import CentralDb, assert_central_matches, open_device_store, uplink_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import fleet  # noqa: E402

from central.app import create_app  # noqa: E402
from central.enroll import create_code  # noqa: E402
from central.serve import start_server  # noqa: E402

pytestmark = pytest.mark.timeout(120)

RECORDS = 600
# (first seq, last seq) of the batches sent in one round: identical ones, overlapping ones,
# and ones that start past what central may hold yet (a gap, answered 409 and sent again).
BATCHES = [(1, 200), (1, 200), (101, 300), (101, 300), (1, 400), (201, 400), (301, 500)]
BATCHES += [(401, 600), (401, 600), (101, 600), (501, 600)]


async def _enrolled_device(database_url: str, base_url: str) -> SimDevice:
    conn = await asyncpg.connect(database_url)
    try:
        code = await create_code(conn, "Concurrent Shop")
    finally:
        await conn.close()
    device = SimDevice()
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        assert (await device.enroll(http, code)).status_code == 201
    for _ in range(RECORDS):
        device.shop_sale(1250)
    return device


async def _push_concurrently(device: SimDevice, base_urls: list[str]) -> None:
    """Send every batch at once, spread over the centrals, round after round until central
    holds the whole chain; every answer must be a success or a gap."""
    clients = [httpx.AsyncClient(base_url=url, timeout=60) for url in base_urls]
    try:
        for _ in range(len(BATCHES)):  # each round stores at least the next batch in line
            answers = await asyncio.gather(
                *(
                    device.push(clients[i % len(clients)], device.records[first - 1 : last])
                    for i, (first, last) in enumerate(BATCHES)
                )
            )
            for answer in answers:
                assert answer.status_code == 200 or answer.json()["error"] == "gap", answer.text
            if any(a.status_code == 200 and a.json()["held_seq"] == RECORDS for a in answers):
                return
        pytest.fail("central never held the whole chain")
    finally:
        for client in clients:
            await client.aclose()


async def _assert_chain_held_once(database_url: str, device: SimDevice) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "SELECT held_seq, held_hash, forked_at FROM devices WHERE device_id = $1",
            device.device_id,
        )
        assert (row["held_seq"], row["held_hash"], row["forked_at"]) == (
            RECORDS,
            device.records[-1].hash,
            None,
        )
        hashes = await conn.fetch(
            "SELECT hash FROM journal_records WHERE device_id = $1 ORDER BY seq",
            device.device_id,
        )
        assert [h["hash"] for h in hashes] == [r.hash for r in device.records]
        assert await conn.fetchval("SELECT count(*) FROM quarantined_batches") == 0
        # Totals kept at ingest count each sale once, whichever central stored it.
        assert await conn.fetchrow(
            "SELECT sales, total_minor FROM device_sales WHERE device_id = $1", device.device_id
        ) == (RECORDS, RECORDS * 1250)
    finally:
        await conn.close()


async def test_two_app_instances_over_one_database(central_db_url: str) -> None:
    servers = [
        await start_server(create_app(central_db_url, secrets.token_urlsafe(16))) for _ in range(2)
    ]
    try:
        urls = [server.base_url for server in servers]
        device = await _enrolled_device(central_db_url, urls[0])
        await _push_concurrently(device, urls)
        await _assert_chain_held_once(central_db_url, device)
    finally:
        for server in servers:
            await server.stop()


@pytest.fixture
async def two_workers(central_db_url: str, pg_tmp_path: Path) -> AsyncIterator[str]:
    """``bitagora central --workers 2`` on ``central_db_url``; yields its address."""
    proc, base_url = await fleet.start_central(central_db_url, pg_tmp_path / "data", 2)
    try:
        assert len(psutil.Process(proc.pid).children()) == 2
        yield base_url
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_two_worker_processes_on_one_socket(central_db_url: str, two_workers: str) -> None:
    device = await _enrolled_device(central_db_url, two_workers)
    await _push_concurrently(device, [two_workers] * 4)  # four connections over two workers
    await _assert_chain_held_once(central_db_url, device)


async def test_a_worker_that_dies_stops_central(central_db_url: str, pg_tmp_path: Path) -> None:
    """Central never serves with fewer workers than asked: it stops and exits 1 (for systemd)."""
    proc, _ = await fleet.start_central(central_db_url, pg_tmp_path / "data", 2)
    try:
        first, second = psutil.Process(proc.pid).children()
        first.kill()
        assert await asyncio.wait_for(proc.wait(), 30) == 1
        assert not second.is_running()  # stopped and reaped before central exits
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_the_uplink_with_two_batches_in_flight_over_two_workers(
    central_db_url: str, two_workers: str, tmp_path: Path
) -> None:
    # Each worker may take one of the two batches in flight: the second is checked while the
    # first is stored, and answered gap if it takes the lock first (then sent again). Whichever
    # happens, central ends up with the chain once, stored in order.
    conn = await asyncpg.connect(central_db_url)
    try:
        code = await create_code(conn, "Pipelined Shop")
    finally:
        await conn.close()
    async with open_device_store(tmp_path) as device:
        await device.enroll(two_workers, code)
        await device.write(RECORDS)
        async with uplink_for(device, two_workers, batch_size=25, in_flight=2) as (uplink, _):
            assert await uplink.push_once() == RECORDS
        assert await device.outbox_count() == 0
        await assert_central_matches(CentralDb(central_db_url), device)
