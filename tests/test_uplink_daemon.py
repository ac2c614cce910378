"""The uplink daemon against the real central on a real PostgreSQL, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from central_helpers import log_in
from http_helpers import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uplink_helpers import (
    CentralDb,
    FlakyProxy,
    ScriptedCentral,
    assert_central_matches,
    open_device_store,
    restartable_central,
    running,
    uplink_for,
    wait_until,
    wired,
)

from appliance import __version__
from appliance.doctor import uplink_check
from appliance.store import outbox
from appliance.uplink import daemon
from appliance.uplink.backoff import Backoff
from appliance.uplink.client import ForkRejected
from appliance.uplink.daemon import NOT_ENROLLED, NotEnrolled, Uplink, load_enrollment
from bitagora_protocol.journal import genesis_prev_hash, seal

if TYPE_CHECKING:
    from conftest import CentralTestServer
    from uplink_helpers import Device

pytestmark = pytest.mark.timeout(60)


async def test_enroll_then_push_everything(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path) as device:
        state = await device.enroll(central_server.base_url, await central_server.make_code("Shop"))
        assert await load_enrollment(device.conn) == state
        assert state.device_id == device.identity.device_id and state.merchant == "Shop"
        await device.write(25)
        async with uplink_for(device, central_server.base_url, batch_size=10) as (uplink, _):
            assert await uplink.push_once() == 25
            assert await device.outbox_count() == 0
            assert await outbox.get_state(device.conn, "acked_seq") == "25"
            assert await uplink.push_once() == 0
        await assert_central_matches(db, device)
        sales = await db.fetchval(
            "SELECT sales FROM device_sales WHERE device_id = $1", device.identity.device_id
        )
        assert sales == 25


async def test_refuses_to_push_when_not_enrolled(
    central_server: CentralTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_device_store(tmp_path) as device:
        await device.write(2)
        async with uplink_for(device, central_server.base_url) as (uplink, _):
            with caplog.at_level(logging.ERROR), pytest.raises(NotEnrolled):
                await uplink.push_once()
        assert NOT_ENROLLED in caplog.text
        assert "bitagora uplink enroll --code CODE" in caplog.text
        assert await device.outbox_count() == 2


async def test_daemon_notices_new_records_by_polling(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path) as device:
        await device.enroll(central_server.base_url, await central_server.make_code())
        async with (
            uplink_for(device, central_server.base_url, batch_size=7) as (uplink, _),
            running(uplink),
        ):
            for _ in range(3):
                await device.write(9)
                await wait_until(lambda: _empty(device), what="the outbox to empty")
        await assert_central_matches(db, device)


async def _empty(device: Device) -> bool:
    return await device.outbox_count() == 0


# The outbox empties inside a push; the uplink's error clears when that push returns.
async def _drained_and_clear(uplink: Uplink, device: Device) -> bool:
    return await _empty(device) and uplink.last_error is None


async def test_central_down_while_selling_then_up(central_db_url: str, tmp_path: Path) -> None:
    db = CentralDb(central_db_url)
    async with (
        restartable_central(central_db_url) as central,
        open_device_store(tmp_path) as device,
    ):
        await device.enroll(central.base_url, await db.make_code())
        await device.write(3)
        async with uplink_for(device, central.base_url, batch_size=4) as (uplink, _):
            assert await uplink.push_once() == 3
            await central.stop()
            await device.write(6)
            async with running(uplink):
                await wait_until(lambda: _failed(uplink, 2), what="failed pushes")
                await device.write(5)  # the kiosk sells on while central is down
                await wait_until(lambda: _failed(uplink, 4), what="more failed pushes")
                assert await device.outbox_count() == 11  # nothing acknowledged meanwhile
                assert uplink.last_error is not None
                await central.start()
                await wait_until(
                    lambda: _drained_and_clear(uplink, device), what="the outbox to empty"
                )
            assert uplink.backoff.failures == 0
        await assert_central_matches(db, device)


async def _failed(uplink: Uplink, at_least: int) -> bool:
    return uplink.backoff.failures >= at_least


async def test_central_answering_500_backs_off_then_succeeds(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    proxy = FlakyProxy(central_server.base_url)
    async with serve(proxy.app()) as proxy_url, open_device_store(tmp_path) as device:
        await device.enroll(central_server.base_url, await central_server.make_code())
        await device.write(12)
        async with uplink_for(device, proxy_url, batch_size=5) as (uplink, _), running(uplink):
            await wait_until(lambda: _failed(uplink, 3), what="three failed pushes")
            proxy.failure = (429, {"Retry-After": "0"})
            await wait_until(lambda: _failed(uplink, 5), what="two refused pushes")
            assert await device.outbox_count() == 12
            assert await db.held_seq(device.identity.device_id) == 0
            assert "/api/v1/journal" in proxy.failed and not proxy.forwarded
            proxy.failing = False
            await wait_until(lambda: _empty(device), what="the outbox to empty")
        await assert_central_matches(db, device)


async def test_a_heartbeat_that_gets_through_ends_the_push_backoff(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    """Pushing waits out a long backoff while central fails; once a heartbeat gets through,
    the backlog drains at once instead of at the end of the backoff."""
    proxy = FlakyProxy(central_server.base_url)
    async with serve(proxy.app()) as proxy_url, open_device_store(tmp_path) as device:
        await device.enroll(central_server.base_url, await central_server.make_code())
        await device.write(4)
        long_wait = Backoff(600, 600)  # the test's bound is far shorter
        async with (
            uplink_for(device, proxy_url, backoff=long_wait, heartbeat_s=1) as (uplink, _),
            running(uplink),
        ):
            await wait_until(lambda: _failed(uplink, 1), what="a failed push")
            assert uplink.last_error is not None and "HTTP 500" in uplink.last_error
            proxy.failing = False
            await wait_until(
                lambda: _drained_and_clear(uplink, device),
                timeout_s=15,
                what="the outbox to empty and the error to clear",
            )
            assert uplink.backoff.failures == 0


async def test_gap_central_lost_records_are_sent_again_from_the_journal(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path) as device:
        device_id = (
            await device.enroll(central_server.base_url, await central_server.make_code())
        ).device_id
        await device.write(5)
        async with uplink_for(device, central_server.base_url, batch_size=2) as (uplink, _):
            assert await uplink.push_once() == 5
            await db.forget_after(device_id, 2)  # central restored from an older backup
            await device.write(3)
            # Central answers gap (expects 3); the device re-sends 3..5 from its journal.
            assert await uplink.push_once() == 3
            assert await device.outbox_count() == 0
        await assert_central_matches(db, device)


async def test_heartbeat_notices_central_lost_records(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path) as device:
        device_id = (
            await device.enroll(central_server.base_url, await central_server.make_code())
        ).device_id
        await device.write(6)
        async with uplink_for(device, central_server.base_url) as (uplink, _):
            assert await uplink.push_once() == 6
            await db.forget_after(device_id, 1)
            assert await uplink.push_once() == 0  # an empty outbox sends nothing...
            assert await uplink.heartbeat_once() == 1  # ...but the heartbeat shows the loss
            assert await uplink.push_once() == 0
        await assert_central_matches(db, device)


async def test_gap_central_already_holds_more_acknowledges_it(tmp_path: Path) -> None:
    scripted = ScriptedCentral(script=[(409, {"error": "gap", "expected_seq": 4, "held_seq": 3})])
    async with serve(scripted.app()) as url, open_device_store(tmp_path) as device:
        await device.mark_enrolled(url)
        await device.write(6)
        # One batch in flight: the scripted answers go to the batches in the order sent.
        async with uplink_for(device, url, batch_size=5, in_flight=1) as (uplink, _):
            assert await uplink.push_once() == 6
        assert scripted.pushes == [[1, 2, 3, 4, 5], [4, 5, 6]]
        assert await device.outbox_count() == 0


async def test_a_batch_that_overtakes_the_one_ahead_is_sent_again(tmp_path: Path) -> None:
    # Two batches in flight (uplink.in_flight = 2): the second reaches central first and is
    # answered gap, central not holding the first yet; the first is then stored, and the device
    # sends the second again rather than re-sending from the journal (docs/PROTOCOL.md 2.3).
    pushes: list[list[int]] = []
    overtaken = asyncio.Event()

    async def push(request: Request) -> Response:
        seqs = [record["seq"] for record in json.loads(await request.body())["records"]]
        pushes.append(seqs)
        if seqs[0] == 1:
            await overtaken.wait()  # stored only after the batch behind it was answered
            return JSONResponse({"held_seq": 2})
        if not overtaken.is_set():
            overtaken.set()
            return JSONResponse({"error": "gap", "expected_seq": 1, "held_seq": 0}, 409)
        return JSONResponse({"held_seq": seqs[-1]})

    app = Starlette(routes=[Route("/api/v1/journal", push, methods=["POST"])])
    async with serve(app) as url, open_device_store(tmp_path) as device:
        await device.mark_enrolled(url)
        await device.write(4)
        async with uplink_for(device, url, batch_size=2, in_flight=2) as (uplink, _):
            assert await uplink.push_once() == 4
        assert sorted(pushes[:2]) == [[1, 2], [3, 4]] and pushes[2:] == [[3, 4]]
        assert await device.outbox_count() == 0


async def test_too_large_batches_are_halved(tmp_path: Path) -> None:
    scripted = ScriptedCentral(script=[(413, {"error": "too_large"}), (413, {"error": "x"})])
    async with serve(scripted.app()) as url, open_device_store(tmp_path) as device:
        await device.mark_enrolled(url)
        await device.write(8)
        async with uplink_for(device, url, batch_size=8, in_flight=1) as (uplink, _):
            assert await uplink.push_once() == 8
            assert uplink.batch_size == 2
        assert scripted.pushes == [
            [1, 2, 3, 4, 5, 6, 7, 8],
            [1, 2, 3, 4],
            [1, 2],
            [3, 4],
            [5, 6],
            [7, 8],
        ]


async def test_fork_stops_pushing_and_heartbeats_report_it(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path) as device:
        device_id = (
            await device.enroll(central_server.base_url, await central_server.make_code())
        ).device_id
        # One batch in flight: the one forked batch is quarantined, none sent behind it.
        async with uplink_for(
            device, central_server.base_url, batch_size=2, heartbeat_s=1, in_flight=1
        ) as (uplink, http):
            # Central already holds a different chain for this key (a restored SD card, say).
            key, prev, other = device.identity.private_key, genesis_prev_hash(device_id), []
            for seq in (1, 2, 3):
                other.append(seal(key, device_id, seq, "config", {"n": seq}, prev))
                prev = other[-1].hash
            assert await uplink.client.push(wired(other)) == 3
            await device.write(5)
            async with running(uplink):
                await wait_until(
                    lambda: _halted_heartbeat(db, device_id),
                    what="a heartbeat that reports the fork",
                )
                await device.write(2)
                uplink.wake()
                await wait_until(
                    lambda: _halted_heartbeat(db, device_id, after_write=True),
                    what="a later heartbeat",
                )
            assert isinstance(uplink.problem, ForkRejected) and uplink.problem.seq == 1
            with pytest.raises(ForkRejected):
                await uplink.push_once()
        assert await db.held_seq(device_id) == 3
        assert await db.fetchval("SELECT count(*) FROM quarantined_batches") == 1
        assert await db.fetchval("SELECT fork_seq FROM devices") == 1
        assert await device.outbox_count() == 7  # nothing lost, nothing acknowledged


async def _halted_heartbeat(db: CentralDb, device_id: str, after_write: bool = False) -> bool:
    raw = await db.fetchval("SELECT last_heartbeat FROM devices WHERE device_id = $1", device_id)
    if raw is None:
        return False
    beat = json.loads(raw)
    return bool(
        beat["uplink"]["state"] == "halted"
        and beat["uplink"]["problem"]["error"] == "fork"
        and (not after_write or beat["backlog"] == 7)
    )


async def test_heartbeat_reports_status(
    central_server: CentralTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = CentralDb(central_server.database_url)
    throttled = tmp_path / "get_throttled"  # as a Raspberry Pi's firmware shows it
    throttled.write_text("0x50005\n", encoding="ascii")
    monkeypatch.setattr(daemon, "THROTTLED", throttled)
    async with open_device_store(tmp_path) as device:
        device_id = (
            await device.enroll(central_server.base_url, await central_server.make_code())
        ).device_id
        await device.write(3)
        async with uplink_for(device, central_server.base_url) as (uplink, _):
            assert await uplink.heartbeat_once() == 0
            row = (await db.fetch("SELECT * FROM devices WHERE device_id = $1", device_id))[0]
            assert (row["backlog"], row["reported_last_seq"]) == (3, 3)
            assert (row["printer_online"], row["printer_paper"]) == (False, "unknown")
            assert row["version"] == __version__
            assert row["oldest_unsent_age_s"] is not None and row["oldest_unsent_age_s"] < 600
            assert abs(row["clock_offset_s"]) <= 2

            assert (await uplink.heartbeat_payload())["drawer"] == {
                "open": None,
                "open_too_long": False,
            }
            printer = {"online": True, "paper": "near_end", "cover_open": True}
            drawer = {"open": True, "open_too_long": True}
            await outbox.set_state(device.conn, outbox.PRINTER_STATUS, json.dumps(printer))
            await outbox.set_state(device.conn, outbox.DRAWER_STATUS, json.dumps(drawer))
            payments = {"rates": None, "lightning": "node unreachable"}
            await outbox.set_state(device.conn, outbox.PAYMENT_STATUS, json.dumps(payments))
            await uplink.push_once()
            assert await uplink.heartbeat_once() == 3
            row = (await db.fetch("SELECT * FROM devices WHERE device_id = $1", device_id))[0]
            assert (row["backlog"], row["oldest_unsent_age_s"]) == (0, None)
            assert (row["printer_online"], row["printer_paper"]) == (True, "near_end")
            last = json.loads(row["last_heartbeat"])
            assert last["drawer"] == {"open": True, "open_too_long": True}
            assert last["printer"]["cover_open"] is True
            assert last["payments"] == payments
            assert last["throttled"] == 0x50005
            assert last["heartbeat_s"] == uplink.settings.uplink.heartbeat_s
            assert json.loads(row["last_heartbeat"])["uplink"]["state"] == "ok"

            await outbox.set_state(device.conn, outbox.PRINTER_STATUS, "not json")
            payload = await uplink.heartbeat_payload()
            assert payload["printer"] == {"online": False, "paper": "unknown", "cover_open": False}
            assert 0 < payload["disk"]["free_bytes"] <= payload["disk"]["total_bytes"]


async def test_a_permanent_refusal_is_kept_reported_and_retried_slowly(
    central_server: CentralTestServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Central refuses a batch for good (a 400 that re-sending cannot change): the records stay,
    the daemon stops hammering, the heartbeat and the ops dashboard show the refusal."""
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path) as device:
        device_id = (
            await device.enroll(central_server.base_url, await central_server.make_code())
        ).device_id
        await device.write(1)
        async with uplink_for(device, central_server.base_url, heartbeat_s=1) as (uplink, _):
            assert await uplink.push_once() == 1
            # Central's running total is at its limit: the next sales cannot be counted.
            await db.fetchval("UPDATE device_sales SET total_minor = $1", 2**63 - 10)
            await device.write(2)
            with caplog.at_level(logging.INFO, logger="appliance.uplink.daemon"):
                async with running(uplink):
                    await wait_until(lambda: _refusal_reported(db, device_id), what="the report")
                    seen = await db.fetchval("SELECT last_seen_at FROM devices")
                    await wait_until(
                        lambda: _seen_after(db, seen), what="a later heartbeat (1 s on)"
                    )
        refusals = [r for r in caplog.records if getattr(r, "event", None) == "refused"]
        assert len(refusals) == 1  # not retried in that second: the next try is 900 s away
        assert uplink.refused is not None and uplink.refused.error == "invalid_value"
        assert await device.outbox_count() == 2  # nothing dropped
        assert await db.held_seq(device_id) == 1
        beat = json.loads(await db.fetchval("SELECT last_heartbeat FROM devices"))
        assert beat["uplink"]["state"] == "refused"
        assert beat["uplink"]["refused"]["seq"] == 2
        doctor, _ = await uplink_check(device.settings(), offline=True)
        assert doctor.status == "FAIL" and "HTTP 400 invalid_value" in doctor.detail
        async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
            await log_in(http, central_server.ops_user, central_server.ops_password)
            page = (await http.get("/")).text
        assert "1 whose batches central refuses" in page
        assert "HTTP 400 invalid_value: a running total would overflow" in page


async def _refusal_reported(db: CentralDb, device_id: str) -> bool:
    refused = await db.fetchval(
        "SELECT uplink_refused FROM devices WHERE device_id = $1", device_id
    )
    return refused is not None


async def _seen_after(db: CentralDb, seen: object) -> bool:
    return bool(await db.fetchval("SELECT last_seen_at > $1 FROM devices", seen))
