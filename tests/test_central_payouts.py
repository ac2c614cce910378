"""Bitcoin refunds owed, as central keeps them from the journals: a refund with payouts adds
rows, the merchant's payout record marks one paid, the dashboard lists what is still owed; and a
central that held refunds before the table existed finds them after its migration. Real HTTP
against the live central on an embedded PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from central_helpers import log_in

from bitagora_protocol.journal import canonical_json
from central.schema import apply_migrations, list_migrations

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)

ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
INVOICE = "lnbc1pexample"


def refund_body(refund_id: str) -> dict[str, Any]:
    return {
        "refund_id": refund_id,
        "sale_id": f"sale-{refund_id}",
        "original_seq": 1,
        "currency": "EUR",
        "total": {"minor": 900, "currency": "EUR"},
        "payments": [
            {"method": "cash", "amount": 300},
            {
                "method": "lightning",
                "amount": 350,
                "payout": {"kind": "bolt11", "destination": INVOICE, "status": "pending"},
            },
            {
                "method": "onchain",
                "amount": 250,
                "payout": {"kind": "address", "destination": ADDRESS, "status": "pending"},
            },
        ],
    }


@pytest.fixture
async def client(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
        login = await log_in(http, central_server.ops_user, central_server.ops_password)
        assert login.status_code == 303
        yield http


async def test_refund_payouts_listed_until_the_merchant_pays_them(
    client: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    shop = make_device()
    assert (
        await shop.enroll(client, await central_server.make_code("Café Sol"))
    ).status_code == 201
    shop.sale(900)
    shop.seal("refund", refund_body("r1"))
    assert (await shop.push(client)).json() == {"held_seq": 2}

    page = (await client.get("/")).text
    assert '<a href="/payouts">2 bitcoin refunds to pay</a>' in page
    owed = (await client.get("/payouts")).text
    assert owed.count("<code>r1</code>") == 2 and "Café Sol" in owed
    assert "€3.50" in owed and INVOICE in owed and "€2.50" in owed and ADDRESS in owed
    assert "€3.00" not in owed  # cash went back from the drawer: nothing to pay

    proof = "ab" * 32
    shop.seal(
        "payout",
        {
            "refund_id": "r1",
            "sale_id": "sale-r1",
            "method": "onchain",
            "amount": 250,
            "currency": "EUR",
            "destination": ADDRESS,
            "proof": proof,
            "by": {"via": "cli"},
        },
    )
    assert (await shop.push(client)).json() == {"held_seq": 3}
    assert '<a href="/payouts">1 bitcoin refund to pay</a>' in (await client.get("/")).text
    owed = (await client.get("/payouts")).text
    assert INVOICE in owed and ADDRESS not in owed

    conn = await asyncpg.connect(central_server.database_url)
    try:
        paid = await conn.fetchrow(
            "SELECT paid_seq, proof FROM device_payouts WHERE refund_id = 'r1'"
            " AND method = 'onchain'"
        )
    finally:
        await conn.close()
    assert (paid["paid_seq"], paid["proof"]) == (3, proof)

    # The same batch again (a device retrying after a lost answer) changes nothing.
    assert (await shop.push(client)).json() == {"held_seq": 3}
    assert '<a href="/payouts">1 bitcoin refund to pay</a>' in (await client.get("/")).text


async def test_a_split_sale_given_back_owes_its_bitcoin_part(
    client: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    shop = make_device()
    assert (await shop.enroll(client, await central_server.make_code("Bar"))).status_code == 201
    shop.seal(
        "payment",
        {
            "sale_id": "split-1",
            "state": "given_back",
            "currency": "EUR",
            "payments": [
                {"method": "cash", "amount": 340, "part": 1},
                {
                    "method": "lightning",
                    "amount": 500,
                    "part": 2,
                    "payout": {
                        "kind": "lnurl",
                        "destination": "al@example.com",
                        "status": "pending",
                    },
                },
            ],
        },
    )
    assert (await shop.push(client)).json() == {"held_seq": 1}
    owed = (await client.get("/payouts")).text
    assert "<code>split-1</code>" in owed and "€5.00" in owed and "al@example.com" in owed
    assert "€3.40" not in owed


async def test_payouts_page_needs_a_login(central_server: CentralTestServer) -> None:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
        response = await http.get("/payouts")
    assert response.status_code == 303 and response.headers["location"] == "/login"


async def test_refunds_held_before_the_payouts_table_are_found_by_its_migration(
    pg_server: Any, tmp_path: Path, make_device: Callable[[], SimDevice]
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    shutil.copy(list_migrations()[0], first)
    name = f"payouts_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.get_uri())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(pg_server.get_uri(name))
        try:
            await apply_migrations(conn, first)
            shop = make_device()
            merchant = await conn.fetchval(
                "INSERT INTO merchants (name) VALUES ('Old shop') RETURNING id"
            )
            await conn.execute(
                "INSERT INTO devices (device_id, merchant_id, public_key) VALUES ($1, $2, $3)",
                shop.device_id,
                merchant,
                bytes.fromhex(shop.public_key_hex),
            )
            for record in (shop.sale(900), shop.seal("refund", refund_body("old"))):
                await conn.execute(
                    "INSERT INTO journal_records (device_id, seq, kind, at, body_json,"
                    " prev_hash, hash, sig) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    shop.device_id,
                    record.seq,
                    record.kind,
                    record.at,
                    canonical_json(record.body).decode(),
                    record.prev_hash,
                    record.hash,
                    record.sig,
                )
            applied = await apply_migrations(conn)
            assert applied and applied[0].startswith("0002_")
            rows = await conn.fetch(
                "SELECT method, amount_minor, destination, refund_seq FROM device_payouts"
                " WHERE refund_id = 'old' ORDER BY method"
            )
            assert [tuple(r) for r in rows] == [
                ("lightning", 350, INVOICE, 2),
                ("onchain", 250, ADDRESS, 2),
            ]
        finally:
            await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
