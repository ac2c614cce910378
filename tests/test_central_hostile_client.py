"""The device API against a hostile client written from docs/PROTOCOL.md: enrollment hijack,
poison batches, unsigned bodies, expired signatures and a flood of forked batches, each refused
with a 4xx that names the reason, over real HTTP on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from bitagora_protocol.journal import genesis_prev_hash, seal
from bitagora_protocol.strict_json import MAX_SAFE_INTEGER

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def victim(
    central_server: CentralTestServer,
    central_client: httpx.AsyncClient,
    make_device: Callable[[], SimDevice],
) -> SimDevice:
    """A device enrolled with "Victim Shop", one sale held by central."""
    sim = make_device()
    assert (
        await sim.enroll(central_client, await central_server.make_code("Victim Shop"))
    ).status_code == 201
    sim.sale(500)
    assert (await sim.push(central_client)).status_code == 200
    return sim


async def _merchant_of(db: asyncpg.Connection, device_id: str) -> str:
    return str(
        await db.fetchval(
            "SELECT m.name FROM devices d JOIN merchants m ON m.id = d.merchant_id"
            " WHERE d.device_id = $1",
            device_id,
        )
    )


# -- 1. enrollment proves possession of the key; moving a device is an ops action -------------


async def test_a_public_key_and_a_code_do_not_move_a_device(
    central_server: CentralTestServer,
    central_client: httpx.AsyncClient,
    db: asyncpg.Connection,
    victim: SimDevice,
    make_device: Callable[[], SimDevice],
) -> None:
    code = await central_server.make_code("Attacker Shop")
    stolen = {"code": code, "public_key": victim.public_key_hex, "version": "evil"}
    attacker = make_device()

    unsigned = await central_client.post("/api/v1/enroll", json=stolen)
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "missing_signature")
    # Signed by the attacker's own key: the body names a key the signer does not hold.
    own_key = await attacker.post(central_client, "/api/v1/enroll", stolen)
    assert (own_key.status_code, own_key.json()["error"]) == (401, "bad_signature")
    # The victim's device id as keyid, but signed by the attacker: the signature fails.
    body = json.dumps(stolen).encode()
    headers = attacker.signed("/api/v1/enroll", body)
    headers["Signature-Input"] = headers["Signature-Input"].replace(
        attacker.device_id, victim.device_id
    )
    forged = await central_client.post("/api/v1/enroll", content=body, headers=headers)
    assert (forged.status_code, forged.json()["error"]) == (401, "bad_signature")

    assert await _merchant_of(db, victim.device_id) == "Victim Shop"
    # The code was not spent by the refused attempts: it still enrolls the attacker's own till.
    assert (await attacker.enroll(central_client, code)).status_code == 201


async def test_moving_a_device_takes_the_ops_command(
    central_server: CentralTestServer,
    central_client: httpx.AsyncClient,
    db: asyncpg.Connection,
    victim: SimDevice,
) -> None:
    # Even the device itself cannot change merchant with a code.
    refused = await victim.enroll(central_client, await central_server.make_code("Other Shop"))
    assert refused.status_code == 409 and refused.json() == {"error": "enrolled_elsewhere"}
    assert await _merchant_of(db, victim.device_id) == "Victim Shop"

    env = {**os.environ, "DATABASE_URL": central_server.database_url}
    command = [sys.executable, "-m", "central.cli", "device", "move", victim.device_id]
    proc = await asyncio.create_subprocess_exec(
        *command,
        "--merchant",
        "Other Shop",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "moved from 'Victim Shop' to 'Other Shop'" in out.decode()
    assert await _merchant_of(db, victim.device_id) == "Other Shop"
    move = await db.fetchrow(
        "SELECT moved_by FROM device_moves WHERE device_id = $1", victim.device_id
    )
    assert move is not None and move["moved_by"].startswith("cli:")
    audit = await db.fetchrow("SELECT actor, action, target FROM audit_log")
    assert audit is not None and (audit["actor"], audit["action"], audit["target"]) == (
        move["moved_by"],
        "device.move",
        f"{victim.device_id} to Other Shop",
    )
    # Its journal stays: the next sale links to the one central held before the move.
    victim.sale(700)
    assert (await victim.push(central_client)).json() == {"held_seq": 2}

    again = await asyncio.create_subprocess_exec(
        *command, "--merchant", "Nobody", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(again.communicate(), 30)
    assert again.returncode == 1 and "no merchant named 'Nobody'" in err.decode()


# -- 2. poison batches: 400 with the reason, nothing stored, never a 500 ----------------------


@pytest.mark.parametrize(
    ("kind", "body", "reason"),
    [
        ("sa\x00le", {"total": {"minor": 1, "currency": "EUR"}}, "records[0].kind contains U+0000"),
        ("payout", {"amount": 2**70}, "records[0].body.amount is beyond ±(2^53 − 1)"),
        ("sale", {"total": {"minor": 2**62 - 1, "currency": "EUR"}}, "beyond ±(2^53 − 1)"),
        ("sale", {"note": "a\x00b"}, "records[0].body.note contains U+0000"),
        ("sale", {"deep": json.loads("[" * 900 + "]" * 900)}, "nests 64 levels deep or more"),
    ],
)
async def test_a_poison_record_is_refused_with_its_reason(
    kind: str,
    body: dict,
    reason: str,
    central_client: httpx.AsyncClient,
    db: asyncpg.Connection,
    victim: SimDevice,
) -> None:
    # Built past the device's own checks, as a hostile central_client would.
    from bitagora_protocol.journal import Record

    poison = Record(
        2, kind, "2026-01-01T00:00:00.000000Z", victim.device_id, body, victim.records[-1].hash
    )
    payload = {"records": [{**poison.to_dict(), "hash": "0" * 64, "sig": "0" * 128}]}
    response = await victim.post(central_client, "/api/v1/journal", payload)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_value" and response.json()["seq"] == 2
    assert reason in response.json()["reason"]
    assert await db.fetchval("SELECT held_seq FROM devices") == 1


async def test_three_huge_sales_are_refused_not_overflowed(
    central_client: httpx.AsyncClient, db: asyncpg.Connection, victim: SimDevice
) -> None:
    for _ in range(3):
        victim.records.append(
            seal(
                victim.key,
                victim.device_id,
                len(victim.records) + 1,
                "sale",
                {"total": {"minor": MAX_SAFE_INTEGER, "currency": "EUR"}, "lines": []},
                victim.records[-1].hash,
            )
        )
    # Every value is in range; the running total is what would leave PostgreSQL's bigint.
    await db.execute(
        "UPDATE device_sales SET total_minor = $2 WHERE device_id = $1",
        victim.device_id,
        2**63 - 2 * MAX_SAFE_INTEGER,
    )
    response = await victim.push(central_client, victim.records[1:])
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_value",
        "seq": 2,
        "reason": "a running total would overflow",
    }
    assert await db.fetchval("SELECT held_seq FROM devices") == 1
    assert await db.fetchval("SELECT count(*) FROM journal_records") == 1


@pytest.mark.parametrize(
    "beat",
    [
        {"printer": {"online": True, "paper": "o\x00k"}},
        {"disk": {"free_bytes": 2**70}},
        {"nfc": {"reader": "\x00"}},
        {"nfc": json.loads("[" * 900 + "]" * 900)},
    ],
)
async def test_a_poison_heartbeat_is_refused_with_its_reason(
    beat: dict,
    central_client: httpx.AsyncClient,
    db: asyncpg.Connection,
    victim: SimDevice,
) -> None:
    response = await victim.heartbeat(central_client, **beat)
    assert response.status_code == 400 and response.json()["error"] == "invalid_value"
    assert await db.fetchval("SELECT last_seen_at FROM devices") is None


async def test_duplicate_keys_and_unsigned_fields_make_a_batch_invalid(
    central_client: httpx.AsyncClient, db: asyncpg.Connection, victim: SimDevice
) -> None:
    record = victim.sale(360).to_dict()
    text = json.dumps({"records": [record]})
    # A fake first "minor" that a last-one-wins parser would drop and a first-one-wins one keep.
    duplicated = text.replace('"minor": 360', '"minor": 1, "minor": 360')
    assert duplicated != text
    path = "/api/v1/journal"
    response = await central_client.post(
        path, content=duplicated.encode(), headers=victim.signed(path, duplicated.encode())
    )
    assert response.status_code == 400 and "duplicate key 'minor'" in response.json()["reason"]
    extra = await victim.post(central_client, path, {"records": [{**record, "note": "unsigned"}]})
    assert extra.status_code == 400 and "unsigned field(s) note" in extra.json()["reason"]
    assert await db.fetchval("SELECT held_seq FROM devices") == 1


# -- 3. no body is read before the signature headers and the key are known --------------------


async def _answer_to_a_body_never_sent(base_url: str, headers: dict[str, str]) -> bytes:
    """Send a request that announces 1 MB but sends 1 KB of it, and return central's answer.
    Central answers only if it did not wait for the rest of the body."""
    address = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(
            (
                f"POST /api/v1/journal HTTP/1.1\r\nHost: {address.netloc}\r\n"
                f"Content-Type: application/json\r\nContent-Length: 1000000\r\n{head}\r\n"
            ).encode()
            + b"x" * 1024
        )
        await writer.drain()
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) + await asyncio.wait_for(
            reader.read(200), 5
        )
    finally:
        writer.close()


async def test_an_unsigned_or_unknown_request_is_refused_unread(
    central_server: CentralTestServer, make_device: Callable[[], SimDevice]
) -> None:
    unsigned = await _answer_to_a_body_never_sent(central_server.base_url, {})
    assert unsigned.startswith(b"HTTP/1.1 401") and b"missing_signature" in unsigned
    stranger = make_device()  # signs properly, but central has never enrolled its key
    headers = stranger.signed("/api/v1/journal", b"x" * 1_000_000)
    unknown = await _answer_to_a_body_never_sent(central_server.base_url, headers)
    assert unknown.startswith(b"HTTP/1.1 401") and b"unknown_device" in unknown


@pytest.mark.parametrize(
    ("path", "limit"), [("/api/v1/heartbeat", 64 * 1024), ("/api/v1/enroll", 16 * 1024)]
)
async def test_each_route_caps_its_body(
    path: str, limit: int, central_client: httpx.AsyncClient, victim: SimDevice
) -> None:
    payload = {"version": "x" * limit}
    response = await victim.post(central_client, path, payload)
    assert response.status_code == 413 and response.json() == {"error": "too_large", "limit": limit}

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield json.dumps(payload).encode()

    body = json.dumps(payload).encode()
    chunked = await central_client.post(path, content=streamed(), headers=victim.signed(path, body))
    assert chunked.status_code == 413


async def test_a_configuration_request_carries_no_body(
    central_client: httpx.AsyncClient, victim: SimDevice
) -> None:
    path, body = "/api/v1/config", b"x" * 2048
    headers = victim.signed(path, body, method="GET")
    response = await central_client.request("GET", path, content=body, headers=headers)
    assert response.status_code == 413 and response.json() == {"error": "too_large", "limit": 1024}


# -- 4. expires is honoured; forked batches are kept once, within a cap ------------------------


async def test_an_expired_signature_is_refused(
    central_client: httpx.AsyncClient, victim: SimDevice
) -> None:
    now = int(time.time())
    expired = await victim.post(
        central_client, "/api/v1/heartbeat", {}, created=now - 20, expires=now - 10
    )
    assert expired.status_code == 401 and expired.json()["error"] == "expired"
    fresh = await victim.heartbeat(central_client)
    assert fresh.status_code == 200


async def test_forked_batches_are_kept_once_and_capped(
    central_client: httpx.AsyncClient,
    db: asyncpg.Connection,
    victim: SimDevice,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from central import quarantine

    monkeypatch.setattr(quarantine, "MAX_BATCHES_PER_DEVICE", 2)

    def fork(n: int) -> dict:
        other = seal(
            victim.key,
            victim.device_id,
            1,
            "sale",
            {"total": {"minor": n, "currency": "EUR"}},
            genesis_prev_hash(victim.device_id),
            at="2026-01-01T00:00:00.000000Z",
        )
        return {"records": [other.to_dict()]}

    for _ in range(3):  # the same forked batch re-sent: one row
        response = await victim.post(central_client, "/api/v1/journal", fork(1))
        assert response.status_code == 409 and response.json()["error"] == "fork"
    assert await db.fetchval("SELECT count(*) FROM quarantined_batches") == 1
    for n in (2, 3, 4):
        assert (await victim.post(central_client, "/api/v1/journal", fork(n))).status_code == 409
    assert await db.fetchval("SELECT count(*) FROM quarantined_batches") == 2
    assert await db.fetchval("SELECT quarantine_dropped FROM devices") == 2
    assert await db.fetchval("SELECT fork_seq FROM devices") == 1
