"""Enrollment, journal push and heartbeat against the real central over HTTP and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest

from bitagora_protocol.journal import Record
from central.device_auth import WINDOW_S, prune_nonces

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def client(central_client: httpx.AsyncClient) -> httpx.AsyncClient:
    return central_client


@pytest.fixture
async def device(
    central_server: CentralTestServer,
    client: httpx.AsyncClient,
    make_device: Callable[[], SimDevice],
) -> SimDevice:
    """An enrolled device with no records yet."""
    sim = make_device()
    response = await sim.enroll(client, await central_server.make_code("Café Zürich"))
    assert response.status_code == 201, response.text
    return sim


async def test_enroll_returns_device_id_and_merchant(
    central_server: CentralTestServer,
    client: httpx.AsyncClient,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    sim = make_device()
    code = await central_server.make_code("Bakery Blum")
    assert len(code) == 14 and code.count("-") == 2
    typed = " " + code.lower().replace("-", " ") + " "  # case and spacing do not matter
    response = await sim.enroll(client, typed)
    assert response.status_code == 201
    answer = response.json()
    merchant_id = await db.fetchval("SELECT id FROM merchants WHERE name = 'Bakery Blum'")
    assert answer == {
        "device_id": sim.device_id,
        "merchant": "Bakery Blum",
        "merchant_id": merchant_id,
        "central_key": answer["central_key"],
    }
    assert len(bytes.fromhex(answer["central_key"])) == 32  # the key the device pins
    stored = await db.fetchval(
        "SELECT count(*) FROM enrollment_codes WHERE code_hash LIKE $1", f"%{code}%"
    )
    assert stored == 0  # only the hash is kept


@pytest.mark.parametrize("case", ["unknown", "used", "expired"])
async def test_enroll_refuses_bad_codes(
    case: str,
    central_server: CentralTestServer,
    client: httpx.AsyncClient,
    make_device: Callable[[], SimDevice],
) -> None:
    if case == "unknown":
        code = "ABCD-EFGH-JKMN"
    elif case == "used":
        code = await central_server.make_code()
        assert (await make_device().enroll(client, code)).status_code == 201
    else:
        code = await central_server.make_code(ttl=timedelta(seconds=-1))
    response = await make_device().enroll(client, code)
    assert response.status_code == 403
    assert response.json() == {"error": "enrollment_code_invalid", "reason": case}


@pytest.mark.parametrize("public_key", ["zz" * 32, "AB" * 32])
async def test_enroll_malformed_key_is_400(
    public_key: str,
    central_server: CentralTestServer,
    client: httpx.AsyncClient,
    make_device: Callable[[], SimDevice],
) -> None:
    # Signed by a real key, but the body names no lowercase-hex key: refused as malformed.
    payload = {"code": await central_server.make_code(), "public_key": public_key, "version": "1"}
    response = await make_device().post(client, "/api/v1/enroll", payload)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed"


async def test_reenroll_same_key_keeps_journal(
    central_server: CentralTestServer, client: httpx.AsyncClient, device: SimDevice
) -> None:
    device.sale(500)
    assert (await device.push(client)).json() == {"held_seq": 1}
    response = await device.enroll(
        client, await central_server.make_code("Café Zürich"), version="2.0"
    )
    assert response.status_code == 201
    assert response.json()["merchant"] == "Café Zürich"
    device.sale(700)
    assert (await device.push(client)).json() == {"held_seq": 2}


async def test_push_chain_then_again_is_idempotent(
    client: httpx.AsyncClient, device: SimDevice, db: asyncpg.Connection
) -> None:
    for minor in (1000, 250, 99):
        device.sale(minor)
    device.seal("drawer_open", {"reason": "change"})
    first = await device.push(client)
    assert first.status_code == 200 and first.json() == {"held_seq": 4}
    again = await device.push(client)
    assert again.status_code == 200 and again.json() == {"held_seq": 4}
    count = await db.fetchval(
        "SELECT count(*) FROM journal_records WHERE device_id = $1", device.device_id
    )
    assert count == 4
    totals = await db.fetchrow(
        "SELECT sales, total_minor FROM device_sales WHERE device_id = $1", device.device_id
    )
    assert (totals["sales"], totals["total_minor"]) == (3, 1349)

    # An overlapping batch (held 3..4 plus new 5..6) stores only the new part.
    device.sale(1)
    device.sale(2)
    overlap = await device.push(client, device.records[2:])
    assert overlap.json() == {"held_seq": 6}
    assert await db.fetchval("SELECT count(*) FROM journal_records") == 6


async def test_empty_batch_reports_held_seq(client: httpx.AsyncClient, device: SimDevice) -> None:
    response = await device.push(client, [])
    assert response.status_code == 200 and response.json() == {"held_seq": 0}


async def test_gap_names_expected_seq(client: httpx.AsyncClient, device: SimDevice) -> None:
    for _ in range(5):
        device.sale(100)
    assert (await device.push(client, device.records[:2])).json() == {"held_seq": 2}
    response = await device.push(client, device.records[3:])
    assert response.status_code == 409
    assert response.json() == {"error": "gap", "expected_seq": 3, "held_seq": 2}


async def test_tampered_amount_is_invalid_chain_at_that_seq(
    client: httpx.AsyncClient, device: SimDevice, db: asyncpg.Connection
) -> None:
    for _ in range(4):
        device.sale(1000)
    tampered = replace(
        device.records[2], body={"total": {"minor": 1, "currency": "EUR"}, "lines": []}
    )
    batch = [*device.records[:2], tampered, device.records[3]]
    response = await device.push(client, batch)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "invalid_chain" and body["seq"] == 3
    assert "hash" in body["reason"]
    # Nothing of the batch is stored: it is one transaction.
    assert await db.fetchval("SELECT count(*) FROM journal_records") == 0


async def test_records_of_another_device_are_invalid(
    client: httpx.AsyncClient, device: SimDevice, make_device: Callable[[], SimDevice]
) -> None:
    stranger = make_device()
    stranger.sale(100)
    response = await device.push(client, stranger.records)
    assert response.status_code == 422
    assert response.json()["seq"] == 1


async def test_batch_signed_by_another_key_is_401(
    client: httpx.AsyncClient, device: SimDevice, make_device: Callable[[], SimDevice]
) -> None:
    device.sale(100)
    impostor = make_device()
    impostor.records = device.records
    body = b'{"records": []}'
    headers = impostor.signed("/api/v1/journal", body)
    forged = {
        **headers,
        "Signature-Input": headers["Signature-Input"].replace(impostor.device_id, device.device_id),
    }
    response = await client.post("/api/v1/journal", content=body, headers=forged)
    assert response.status_code == 401 and response.json() == {"error": "bad_signature"}
    # And a device central never enrolled is unknown.
    response = await impostor.push(client)
    assert response.status_code == 401 and response.json() == {"error": "unknown_device"}


async def test_unsigned_and_bad_digest_are_401(
    client: httpx.AsyncClient, device: SimDevice
) -> None:
    response = await client.post("/api/v1/journal", json={"records": []})
    assert response.status_code == 401 and response.json() == {"error": "missing_signature"}
    headers = device.signed("/api/v1/journal", b'{"records": []}')
    response = await client.post("/api/v1/journal", content=b'{"records":[]}', headers=headers)
    assert response.status_code == 401 and response.json() == {"error": "bad_digest"}


async def test_replayed_request_is_refused(client: httpx.AsyncClient, device: SimDevice) -> None:
    device.sale(100)
    body = json.dumps({"records": [device.records[0].to_dict()]}).encode()
    headers = device.signed("/api/v1/journal", body)
    first = await client.post("/api/v1/journal", content=body, headers=headers)
    assert first.status_code == 200
    replay = await client.post("/api/v1/journal", content=body, headers=headers)
    assert replay.status_code == 401 and replay.json() == {"error": "replay"}


async def test_replayed_heartbeat_is_refused_and_not_stored(
    client: httpx.AsyncClient, device: SimDevice, db: asyncpg.Connection
) -> None:
    beat = {"version": "v-first", "uptime_s": 1, "backlog": 0, "oldest_unsent_age_s": None}
    beat |= {"last_seq": 0, "head": device.head(), "clock": int(time.time())}
    beat["printer"] = {"online": True, "paper": "ok"}
    body = json.dumps(beat).encode()
    headers = device.signed("/api/v1/heartbeat", body)
    first = await client.post("/api/v1/heartbeat", content=body, headers=headers)
    assert first.status_code == 200
    seen = await db.fetchval("SELECT last_seen_at FROM devices")
    replay = await client.post("/api/v1/heartbeat", content=body, headers=headers)
    assert replay.status_code == 401 and replay.json() == {"error": "replay"}
    assert await db.fetchval("SELECT last_seen_at FROM devices") == seen


async def test_clock_skew_answers_server_time(client: httpx.AsyncClient, device: SimDevice) -> None:
    for offset in (-WINDOW_S - 60, WINDOW_S + 60):
        before = int(time.time())
        response = await device.push(client, [], created=before + offset)
        assert response.status_code == 401
        body = response.json()
        assert body["error"] == "clock_skew"
        assert before - 1 <= body["server_time"] <= int(time.time()) + 1
    assert (
        await device.push(client, [], created=int(time.time()) - WINDOW_S + 30)
    ).status_code == 200


async def test_fork_is_refused_quarantined_and_flagged(
    client: httpx.AsyncClient, device: SimDevice, db: asyncpg.Connection
) -> None:
    for _ in range(3):
        device.sale(100)
    assert (await device.push(client)).json() == {"held_seq": 3}
    # The device "restores a backup" after seq 1 and signs a different record 2.
    device.records = device.records[:1]
    device.sale(999_999)
    response = await device.push(client)
    assert response.status_code == 409
    assert response.json() == {"error": "fork", "seq": 2, "held_seq": 3}
    row = await db.fetchrow("SELECT forked_at, fork_seq, held_seq FROM devices")
    assert row["forked_at"] is not None and row["fork_seq"] == 2 and row["held_seq"] == 3
    quarantined = await db.fetchrow("SELECT device_id, seq, batch_json FROM quarantined_batches")
    assert quarantined["device_id"] == device.device_id and quarantined["seq"] == 2
    assert device.records[1].hash in quarantined["batch_json"]
    held = await db.fetchval("SELECT body_json FROM journal_records WHERE seq = 2")
    assert "999999" not in held


async def test_malformed_batches_are_400(client: httpx.AsyncClient, device: SimDevice) -> None:
    a, b, c = device.sale(1), device.sale(2), device.sale(3)
    for payload in (
        {"records": "x"},
        [1, 2],
        {"records": [{"seq": 1}]},
        {"records": [a.to_dict(), c.to_dict()]},
        {"records": [b.to_dict(), a.to_dict()]},
        {"records": [a.to_dict()] * 501},
    ):
        response = await device.post(client, "/api/v1/journal", payload)
        assert response.status_code == 400, payload
        assert response.json()["error"] == "malformed"
    body = b"not json"
    response = await client.post(
        "/api/v1/journal", content=body, headers=device.signed("/api/v1/journal", body)
    )
    assert response.status_code == 400


async def test_concurrent_pushes_from_one_device_store_once(
    client: httpx.AsyncClient, device: SimDevice, db: asyncpg.Connection
) -> None:
    for _ in range(200):
        device.sale(5)
    responses = await asyncio.gather(*(device.push(client) for _ in range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert {r.json()["held_seq"] for r in responses} == {200}
    assert await db.fetchval("SELECT count(*) FROM journal_records") == 200
    assert await db.fetchval("SELECT total_minor FROM device_sales") == 1000


async def test_heartbeat_records_status(
    client: httpx.AsyncClient, device: SimDevice, db: asyncpg.Connection
) -> None:
    device.sale(100)
    await device.push(client)
    now = int(time.time())
    response = await device.post(
        client,
        "/api/v1/heartbeat",
        {
            "version": "1.2.3",
            "uptime_s": 3600,
            "backlog": 4,
            "oldest_unsent_age_s": 90,
            "last_seq": 5,
            "printer": {"online": True, "paper": "near_end"},
            "clock": now + 3,
            "disk": {"free_mb": 900},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["held_seq"] == 1 and abs(body["server_time"] - now) <= 2
    row = await db.fetchrow("SELECT * FROM devices")
    assert row["version"] == "1.2.3" and row["backlog"] == 4 and row["reported_last_seq"] == 5
    assert row["printer_online"] is True and row["printer_paper"] == "near_end"
    assert row["last_seen_at"] is not None and 1 <= row["clock_offset_s"] <= 5
    assert '"free_mb": 900' in row["last_heartbeat"]

    bad = await device.post(client, "/api/v1/heartbeat", {"version": "1", "uptime_s": "x"})
    assert bad.status_code == 400 and bad.json()["error"] == "malformed"


async def test_nonces_are_pruned_after_the_window(
    client: httpx.AsyncClient, device: SimDevice, central_server: CentralTestServer
) -> None:
    assert (await device.push(client, [])).status_code == 200
    pool = await asyncpg.create_pool(central_server.database_url, min_size=1, max_size=1)
    try:
        now = datetime.now(UTC)
        assert await prune_nonces(pool, now) == 0
        assert await prune_nonces(pool, now + timedelta(seconds=WINDOW_S + 5)) == 1
    finally:
        await pool.close()


def test_sale_total_extraction() -> None:
    from central.ingest import sale_total

    def rec(kind: str, body: dict[str, object]) -> Record:
        return Record(1, kind, "t", "dev-x", body, "0" * 64)

    assert sale_total(rec("sale", {"total": {"minor": 5, "currency": "EUR"}})) == ("EUR", 5)
    assert sale_total(rec("refund", {"total": {"minor": 5, "currency": "EUR"}})) is None
    assert sale_total(rec("sale", {"total": {"minor": True, "currency": "EUR"}})) is None
    assert sale_total(rec("sale", {})) is None
