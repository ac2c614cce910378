"""The whole path in one process: kiosk app → till → printer simulator, journal → uplink →
central on a real PostgreSQL, and the ops dashboard showing the sales."""

from __future__ import annotations

import json
from pathlib import Path

import asyncpg
import httpx
import pytest
from central_helpers import log_in
from tui_helpers import till_with_printer
from uplink_helpers import fast_backoff

from appliance.uplink.client import CentralClient
from appliance.uplink.daemon import Uplink, save_enrollment
from bitagora_devtools.script import run_scripted_sales
from bitagora_protocol.journal import Record, verify_chain

pytestmark = pytest.mark.timeout(120)


async def test_cash_sales_reach_central_signed_printed_and_counted(
    tmp_path: Path,
    central_server,  # type: ignore[no-untyped-def]
) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        results = await run_scripted_sales(till, 2)

        receipts = await sim.wait_receipts(2)
        assert "TOTAL" in receipts[0] and "VAT" in receipts[0]
        assert results[0].total.format() in receipts[0]
        assert f"Journal #{results[1].record.seq}" in receipts[1]
        assert len(await sim.wait_drawer_kicks(2)) == 2

        async with httpx.AsyncClient(timeout=10) as http:
            client = CentralClient(central_server.base_url, till.identity, http)
            enrollment = await client.enroll(await central_server.make_code("E2E Café"))
            await save_enrollment(till.conn, enrollment, central_server.base_url)
            uplink = Uplink(till.settings, till.conn, till.identity, client, backoff=fast_backoff())
            # Two sales, each followed by its drawer_open record.
            assert await uplink.push_once() == 4
            assert await uplink.heartbeat_once() == 4

    conn = await asyncpg.connect(central_server.database_url)
    try:
        rows = await conn.fetch(
            "SELECT seq, kind, at, device_id, body_json, prev_hash, hash, sig"
            " FROM journal_records WHERE device_id = $1 ORDER BY seq",
            till.identity.device_id,
        )
        totals = await conn.fetchrow(
            "SELECT sales, total_minor FROM device_sales WHERE device_id = $1",
            till.identity.device_id,
        )
    finally:
        await conn.close()
    held = [
        Record(
            r["seq"],
            r["kind"],
            r["at"],
            r["device_id"],
            json.loads(r["body_json"]),
            r["prev_hash"],
            r["hash"],
            r["sig"],
        )
        for r in rows
    ]
    assert verify_chain(held, till.identity.public_key, till.identity.device_id) == 4
    assert [(r.kind, r.body["sale_id"]) for r in held] == [
        (kind, r.sale_id) for r in results for kind in ("sale", "drawer_open")
    ]
    assert totals["sales"] == 2  # drawer openings are not sales
    assert totals["total_minor"] == sum(r.total.minor for r in results)

    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as ops:
        login = await log_in(ops, central_server.ops_user, central_server.ops_password)
        assert login.status_code == 303
        page = (await ops.get("/")).text
    assert till.identity.device_id in page and "E2E Café" in page
