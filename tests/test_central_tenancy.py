"""Tenants kept apart by PostgreSQL: queries that name no merchant, run as the web role with a
merchant's claims, return only that merchant's rows; ops claims see every merchant; no claims see
nothing. Real PostgreSQL, journals pushed through central's real ingest."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from central.audit import Actor, record
from central.schema import apply_migrations
from central.tenancy import as_user
from central.users import add_user

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)


@dataclass
class Shops:
    a_id: int
    b_id: int
    a_devices: set[str]
    b_devices: set[str]


def merchant_claims(merchant_id: int, role: str = "owner") -> dict[str, Any]:
    return {"sub": "u", "app_metadata": {"bitagora_role": role, "merchant_id": merchant_id}}


OPS = {"sub": "o", "app_metadata": {"bitagora_role": "ops"}}


async def enroll_and_sell(
    client: httpx.AsyncClient,
    server: CentralTestServer,
    device: SimDevice,
    merchant: str,
    *sales: int,
) -> None:
    assert (await device.enroll(client, await server.make_code(merchant))).status_code == 201
    for minor in sales:
        device.sale(minor)
    device.seal("drawer_open", {"reason": "float"})
    assert (await device.push(client)).status_code == 200


@pytest.fixture
async def shops(central_server: CentralTestServer, make_device: Callable[[], SimDevice]) -> Shops:
    """Merchant A with two tills (1000 + 250 and 40 EUR), merchant B with one (9900 EUR)."""
    a1, a2, b1 = make_device(), make_device(), make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        await enroll_and_sell(client, central_server, a1, "Shop A", 1000, 250)
        await enroll_and_sell(client, central_server, a2, "Shop A", 40)
        await enroll_and_sell(client, central_server, b1, "Shop B", 9900)
    conn = await asyncpg.connect(central_server.database_url)
    try:
        ids = dict(await conn.fetch("SELECT name, id FROM merchants"))
    finally:
        await conn.close()
    return Shops(ids["Shop A"], ids["Shop B"], {a1.device_id, a2.device_id}, {b1.device_id})


@pytest.fixture
async def pool(central_server: CentralTestServer) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(central_server.database_url, min_size=1, max_size=2)
    try:
        yield pool
    finally:
        await pool.close()


async def unfiltered(conn: asyncpg.Connection) -> dict[str, Any]:
    """What a page would see if it forgot its merchant filter everywhere."""
    return {
        "merchants": {r["name"] for r in await conn.fetch("SELECT name FROM merchants")},
        "devices": {r["device_id"] for r in await conn.fetch("SELECT device_id FROM devices")},
        "records": await conn.fetchval("SELECT count(*) FROM journal_records"),
        "record_devices": {
            r["device_id"]
            for r in await conn.fetch("SELECT DISTINCT device_id FROM journal_records")
        },
        "sales_total": await conn.fetchval(
            "SELECT coalesce(sum(total_minor), 0) FROM device_sales"
        ),
        "codes": await conn.fetchval("SELECT count(*) FROM enrollment_codes"),
    }


async def test_a_query_without_a_merchant_filter_sees_only_the_users_merchant(
    shops: Shops, pool: asyncpg.Pool
) -> None:
    async with as_user(pool, merchant_claims(shops.a_id)) as conn:
        seen = await unfiltered(conn)
    assert seen == {
        "merchants": {"Shop A"},
        "devices": shops.a_devices,
        "records": 5,  # 2 sales + drawer, 1 sale + drawer
        "record_devices": shops.a_devices,
        "sales_total": 1290,
        "codes": 2,
    }
    async with as_user(pool, merchant_claims(shops.b_id, "manager")) as conn:
        seen = await unfiltered(conn)
    assert seen["devices"] == shops.b_devices and seen["sales_total"] == 9900
    assert seen["merchants"] == {"Shop B"} and seen["records"] == 2

    async with as_user(pool, OPS) as conn:
        seen = await unfiltered(conn)
    assert seen["devices"] == shops.a_devices | shops.b_devices
    assert seen["merchants"] == {"Shop A", "Shop B"}
    assert (seen["records"], seen["sales_total"], seen["codes"]) == (7, 11190, 3)


async def test_the_web_role_without_claims_or_with_strange_ones_sees_nothing(
    shops: Shops, pool: asyncpg.Pool
) -> None:
    nothing = {
        "merchants": set(),
        "devices": set(),
        "records": 0,
        "record_devices": set(),
        "sales_total": 0,
        "codes": 0,
    }
    for claims in ({}, {"sub": "x"}, {"app_metadata": {"bitagora_role": "owner"}}):
        async with as_user(pool, claims) as conn:
            assert await unfiltered(conn) == nothing, claims
    # The settings end with the transaction: the pooled connection is central's own again.
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM devices") == 3
        assert await conn.fetchval("SELECT current_setting('request.jwt.claims', true)") in (
            "",
            None,
        )


async def test_the_web_role_cannot_write_what_devices_sent_nor_read_secrets(
    shops: Shops, pool: asyncpg.Pool
) -> None:
    forbidden = [
        "UPDATE devices SET version = 'x'",
        "DELETE FROM journal_records",
        "INSERT INTO merchants (name) VALUES ('Shop C')",
        "SELECT password_hash FROM web_users",
        "SELECT count(*) FROM request_nonces",
        "DELETE FROM quarantined_batches",
        "UPDATE audit_log SET reason = 'x'",
    ]
    for claims in (OPS, merchant_claims(shops.a_id)):
        for statement in forbidden:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with as_user(pool, claims) as conn:
                    await conn.execute(statement)
    # Quarantined batches and device actions are for ops' device page only.
    await pool.execute(
        "INSERT INTO quarantined_batches (device_id, seq, reason, batch_json, batch_sha256)"
        " SELECT device_id, 1, 'fork', '{}', '' FROM devices LIMIT 1"
    )
    for claims, seen in ((OPS, 1), (merchant_claims(shops.a_id), 0)):
        async with as_user(pool, claims) as conn:
            assert await conn.fetchval("SELECT count(*) FROM quarantined_batches") == seen
    # In the audit log, an ops action on a device (no merchant) is ops' alone, and a merchant
    # sees its own merchant's rows, never another's.
    (a_device,), (b_device,) = sorted(shops.a_devices)[:1], shops.b_devices
    actor = Actor("ops@example.org", None, datetime.now(UTC))
    async with as_user(pool, OPS) as conn:
        await record(conn, actor, "device.revoke", a_device, device_id=a_device, reason="lost")
        await record(conn, actor, "device.label", b_device, shops.b_id, device_id=b_device)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # nor can it write another's
        async with as_user(pool, merchant_claims(shops.a_id)) as conn:
            await record(conn, actor, "device.label", b_device, shops.b_id, device_id=b_device)
    for claims, seen in (
        (OPS, {a_device, b_device}),
        (merchant_claims(shops.a_id), set()),
        (merchant_claims(shops.b_id), {b_device}),
    ):
        async with as_user(pool, claims) as conn:
            rows = await conn.fetch(
                "SELECT device_id FROM audit_log WHERE device_id = ANY($1)", [a_device, b_device]
            )
            assert {r["device_id"] for r in rows} == seen, claims


async def test_only_ops_add_users_and_a_merchant_sees_only_its_own(
    shops: Shops, pool: asyncpg.Pool
) -> None:
    async with as_user(pool, OPS) as conn:
        await add_user(conn, "owner@a.example", "password-a", "owner", "Shop A")
        await add_user(conn, "owner@b.example", "password-b", "owner", "Shop B")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # row level security refuses it
        async with as_user(pool, merchant_claims(shops.a_id)) as conn:
            await add_user(conn, "intruder@a.example", "password-x", "owner", "Shop A")
    async with as_user(pool, merchant_claims(shops.a_id)) as conn:
        emails = {r["email"] for r in await conn.fetch("SELECT email FROM web_users")}
        changed = await conn.execute("UPDATE web_users SET active = false")
    assert emails == {"owner@a.example"}
    assert changed == "UPDATE 0"


async def test_on_supabase_signed_in_callers_get_the_web_roles_rights_and_anon_none(
    pg_server: Any,
) -> None:
    """Supabase's API roles, as a Supabase project has them: every table of "public" granted to
    ``anon`` and ``authenticated`` by default. The migration takes that back."""
    name = f"supabase_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.get_uri())
    made = []
    try:
        for role in ("anon", "authenticated"):
            if not await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
                await admin.execute(f"CREATE ROLE {role} NOLOGIN")
                made.append(role)
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(pg_server.get_uri(name))
        try:
            await conn.execute(
                "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
                " GRANT ALL ON TABLES TO anon, authenticated"
            )
            await apply_migrations(conn)
            ids = []
            for shop in ("A", "B"):
                merchant = await conn.fetchval(
                    "INSERT INTO merchants (name) VALUES ($1) RETURNING id", shop
                )
                await conn.execute(
                    "INSERT INTO devices (device_id, merchant_id, public_key) VALUES ($1, $2, $3)",
                    f"dev-{shop}",
                    merchant,
                    secrets.token_bytes(32),
                )
                ids.append(merchant)
            await add_user(conn, "owner@b.example", "password-b", "owner", "B")

            async def as_api_role(role: str, claims: dict[str, Any], query: str) -> Any:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT set_config('role', $1, true),"
                        " set_config('request.jwt.claims', $2, true)",
                        role,
                        json.dumps(claims),
                    )
                    return await conn.fetch(query)

            seen = await as_api_role(
                "authenticated", merchant_claims(ids[0]), "SELECT * FROM devices"
            )
            assert [r["device_id"] for r in seen] == ["dev-A"]
            for query in (
                "SELECT password_hash FROM web_users",
                "INSERT INTO journal_records (device_id, seq, kind, at, body_json, prev_hash, hash,"
                " sig, merchant_id) SELECT 'dev-A', 1, 'sale', '', '{}', '', '', '', id"
                " FROM merchants",
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await as_api_role("authenticated", merchant_claims(ids[1]), query)
            for table in ("devices", "merchants", "web_users"):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await as_api_role("anon", {}, f"SELECT * FROM {table}")
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in made:
            await admin.execute(f"DROP ROLE {role}")
        await admin.close()
