"""Stripe webhooks on central: events signed as Stripe signs them are taken in once by event id,
a bad or stale signature is refused, and ops see every dispute with the sale it hits and every
refund at Stripe that no device reported; card payments held before migration 0009 are indexed
by it as ingest indexes new ones. Real HTTP against the live central on PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from central_helpers import log_in
from conftest import STRIPE_WEBHOOK_SECRET

from bitagora_protocol.journal import canonical_json
from central.app import create_app
from central.card_payments import card_rows
from central.schema import apply_migrations, list_migrations
from central.serve import start_server
from central.stripe_webhooks import MAX_BODY

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)

WEBHOOK = "/v1/webhooks/stripe"


def stripe_id(prefix: str) -> str:
    """An id shaped like Stripe's (``pi_3Q…``, ``re_3Q…``, ``evt_1Q…``)."""
    return f"{prefix}_3Q{secrets.token_hex(11)}"


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> bytes:
    """A webhook event as Stripe sends it (API version 2025-…, snapshot payload)."""
    return json.dumps(
        {
            "id": event_id or stripe_id("evt"),
            "object": "event",
            "api_version": "2025-08-27.basil",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": obj},
        },
        indent=2,
    ).encode()


def signature(payload: bytes, secret: str = STRIPE_WEBHOOK_SECRET, at: int | None = None) -> str:
    """``Stripe-Signature`` as Stripe computes it: HMAC-SHA256 of ``"<t>.<body>"``, hex, v1."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


async def deliver(
    client: httpx.AsyncClient, payload: bytes, sig: str | None = None
) -> httpx.Response:
    return await client.post(
        WEBHOOK,
        content=payload,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature(payload) if sig is None else sig,
        },
    )


def dispute(intent: str, amount: int = 1250) -> dict[str, Any]:
    return {
        "id": stripe_id("dp"),
        "object": "dispute",
        "amount": amount,
        "currency": "eur",
        "charge": stripe_id("ch"),
        "payment_intent": intent,
        "reason": "fraudulent",
        "status": "needs_response",
    }


def refund(intent: str, refund_id: str, amount: int, status: str = "succeeded") -> dict[str, Any]:
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "currency": "eur",
        "charge": stripe_id("ch"),
        "payment_intent": intent,
        "reason": "requested_by_customer",
        "status": status,
    }


def card_sale(device: SimDevice, sale_id: str, intent: str, amount: int) -> None:
    device.seal(
        "sale",
        {
            "sale_id": sale_id,
            "currency": "EUR",
            "total": {"minor": amount, "currency": "EUR"},
            "lines": [],
            "payments": [
                {
                    "method": "card",
                    "amount": amount,
                    "tendered": None,
                    "change": None,
                    "brand": "visa",
                    "last4": "4242",
                    "payment_intent": intent,
                    "charge": stripe_id("ch"),
                    "capture": "automatic",
                }
            ],
        },
    )


def card_refund(device: SimDevice, sale_id: str, intent: str, refund_id: str, amount: int) -> None:
    device.seal(
        "refund",
        {
            "refund_id": secrets.token_hex(8),
            "sale_id": sale_id,
            "original_seq": 1,
            "currency": "EUR",
            "total": {"minor": amount, "currency": "EUR"},
            "lines": [],
            "payments": [
                {
                    "method": "card",
                    "amount": amount,
                    "payment_intent": intent,
                    "refund_id": refund_id,
                }
            ],
        },
    )


@pytest.fixture
async def ops(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
        login = await log_in(http, central_server.ops_user, central_server.ops_password)
        assert login.status_code == 303
        yield http


async def test_a_dispute_on_a_reported_sale_is_shown_to_ops_with_the_sale(
    ops: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    till = make_device()
    assert (await till.enroll(ops, await central_server.make_code("Café <Sol>"))).status_code == 201
    intent = stripe_id("pi")
    card_sale(till, "sale-<1>", intent, 1250)
    assert (await till.push(ops)).json() == {"held_seq": 1}

    case = dispute(intent)
    answer = await deliver(ops, event("charge.dispute.created", case))
    assert answer.status_code == 200 and answer.json() == {"received": True, "duplicate": False}

    page = (await ops.get("/stripe")).text
    assert case["id"] in page and "needs_response" in page and "fraudulent" in page
    assert "€12.50" in page and intent in page
    # the sale as the device reported it, its merchant's and sale's names escaped
    assert "Café &lt;Sol&gt;" in page and f"<code>{till.device_id}</code> #1" in page
    assert "sale <code>sale-&lt;1&gt;</code>" in page and "<Sol>" not in page
    assert "no sale reported" not in page

    # the newest event of a dispute gives its state; a dispute on no reported sale says so
    closed = {**case, "status": "lost"}
    stranger = dispute(stripe_id("pi"))
    assert (await deliver(ops, event("charge.dispute.closed", closed))).status_code == 200
    assert (await deliver(ops, event("charge.dispute.created", stranger))).status_code == 200
    page = (await ops.get("/stripe")).text
    assert page.count(case["id"]) == 1 and "lost" in page and "needs_response" in page
    assert stranger["id"] in page and "no sale reported" in page
    assert '<a href="/stripe">' in (await ops.get("/")).text


async def test_a_bad_or_stale_signature_or_a_huge_body_is_refused_and_nothing_kept(
    ops: httpx.AsyncClient, central_server: CentralTestServer
) -> None:
    payload = event("charge.dispute.created", dispute(stripe_id("pi")))
    other_secret = signature(payload, secret="whsec_someone_else")
    stale = signature(payload, at=int(time.time()) - 600)  # Stripe's tolerance is 300 s
    tampered = payload.replace(b'"amount": 1250', b'"amount": 1')
    for body, sig in (
        (payload, other_secret),
        (payload, stale),
        (payload, ""),
        (payload, "garbage"),
        (tampered, signature(payload)),
        (b"\xff\xfe not json", signature(b"\xff\xfe not json")),
    ):
        answer = await deliver(ops, body, sig)
        assert answer.status_code == 400, sig
        assert answer.json() == {"error": "bad_signature"}
    huge = b" " * (MAX_BODY + 1)
    assert (await deliver(ops, huge)).json() == {"error": "too_large", "limit": MAX_BODY}
    conn = await asyncpg.connect(central_server.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM stripe_events") == 0
    finally:
        await conn.close()
    assert "No dispute." in (await ops.get("/stripe")).text


async def test_a_replayed_event_is_processed_once(
    ops: httpx.AsyncClient, central_server: CentralTestServer
) -> None:
    event_id = stripe_id("evt")
    case = dispute(stripe_id("pi"))
    first = await deliver(ops, event("charge.dispute.created", case, event_id))
    # Stripe redelivers the same event (same id), signed afresh
    again = await deliver(ops, event("charge.dispute.created", {**case, "status": "won"}, event_id))
    assert first.json() == {"received": True, "duplicate": False}
    assert again.status_code == 200 and again.json() == {"received": True, "duplicate": True}
    conn = await asyncpg.connect(central_server.database_url)
    try:
        rows = await conn.fetch("SELECT event_id, status FROM stripe_events")
    finally:
        await conn.close()
    assert [tuple(row) for row in rows] == [(event_id, "needs_response")]
    page = (await ops.get("/stripe")).text
    assert page.count(case["id"]) == 1 and "won" not in page
    # events reconciliation does not read are acknowledged, not kept
    ignored = await deliver(ops, event("payment_intent.succeeded", {"id": stripe_id("pi")}))
    assert ignored.json() == {"received": True, "duplicate": False}


async def test_refunds_at_stripe_that_no_device_reported_are_flagged(
    ops: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    till = make_device()
    assert (await till.enroll(ops, await central_server.make_code("Café Sol"))).status_code == 201
    intent, at_till, in_dashboard = stripe_id("pi"), stripe_id("re"), stripe_id("re")
    card_sale(till, "sale-1", intent, 2000)
    card_refund(till, "sale-1", intent, at_till, 500)
    assert (await till.push(ops)).json() == {"held_seq": 2}

    reported = refund(intent, at_till, 500)
    extra = refund(intent, in_dashboard, 700)
    failed = refund(intent, stripe_id("re"), 300, status="failed")
    charge = {
        "id": stripe_id("ch"),
        "object": "charge",
        "amount": 2000,
        "amount_refunded": 1200,
        "currency": "eur",
        "payment_intent": intent,
        "refunded": False,
        "status": "succeeded",
    }
    for kind, obj in (
        ("refund.created", reported),
        ("refund.created", extra),
        ("refund.failed", failed),
        ("charge.refunded", charge),
    ):
        assert (await deliver(ops, event(kind, obj))).status_code == 200

    page = (await ops.get("/stripe")).text
    flagged = page.split("Refunds no device reported")[1]
    assert in_dashboard in flagged and "€7.00" in flagged  # made in Stripe's dashboard
    assert charge["id"] in flagged and "€12.00" in flagged  # Stripe gave back 12, the till 5
    assert at_till not in flagged and failed["id"] not in flagged
    assert "sale <code>sale-1</code>" in flagged

    # the till's journal catches up (a refund it made offline): the flags go
    card_refund(till, "sale-1", intent, in_dashboard, 700)
    assert (await till.push(ops)).json() == {"held_seq": 3}
    page = (await ops.get("/stripe")).text
    assert "Every refund at Stripe matches a device's refund record." in page
    assert in_dashboard not in page and charge["id"] not in page


async def test_card_payments_held_before_migration_0009_are_indexed_as_ingest_would(
    pg_server: Any, tmp_path: Path, make_device: Callable[[], SimDevice]
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in list_migrations():
        if path.name < "0009":
            shutil.copy(path, before)
    till = make_device()
    intent, part_intent = stripe_id("pi"), stripe_id("pi")
    card_sale(till, "sale-1", intent, 2000)
    card_refund(till, "sale-1", intent, stripe_id("re"), 500)
    till.seal(
        "sale",
        {
            "sale_id": "practice",
            "training": True,
            "payments": [{"method": "card", "amount": 100, "payment_intent": stripe_id("pi")}],
        },
    )
    till.seal(
        "payment",
        {
            "sale_id": "split-1",
            "state": "part_refunded",
            "payment": {"method": "card", "amount": 1620, "payment_intent": part_intent},
            "refund": {"refund_id": "part-split-1", "id": stripe_id("re")},
        },
    )
    till.seal(
        "payment",
        {
            "sale_id": "split-2",
            "state": "given_back",
            "currency": "EUR",
            "payments": [
                {"method": "cash", "amount": 300, "part": 1},
                {
                    "method": "card",
                    "amount": 1000,
                    "part": 2,
                    "payment_intent": part_intent,
                    "refund_id": stripe_id("re"),
                },
            ],
        },
    )
    name = f"stripe_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.get_uri())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(pg_server.get_uri(name))
        try:
            await apply_migrations(conn, before)
            merchant = await conn.fetchval(
                "INSERT INTO merchants (name) VALUES ('Old shop') RETURNING id"
            )
            await conn.execute(
                "INSERT INTO devices (device_id, merchant_id, public_key) VALUES ($1, $2, $3)",
                till.device_id,
                merchant,
                bytes.fromhex(till.public_key_hex),
            )
            await conn.executemany(
                "INSERT INTO journal_records (device_id, seq, kind, at, body_json,"
                " prev_hash, hash, sig, merchant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                [
                    (
                        till.device_id,
                        r.seq,
                        r.kind,
                        r.at,
                        canonical_json(r.body).decode(),
                        r.prev_hash,
                        r.hash,
                        r.sig,
                        merchant,
                    )
                    for r in till.records
                ],
            )
            assert "0009" in [n[:4] for n in await apply_migrations(conn)]
            rows = await conn.fetch(
                "SELECT seq, payment, kind, sale_id, payment_intent, refund_id, amount"
                " FROM card_payments WHERE merchant_id = $1 ORDER BY seq, payment",
                merchant,
            )
        finally:
            await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
    # the migration reads the held records as ingest reads new ones
    expected = [(r.seq, *row) for r in till.records for row in card_rows(r)]
    assert [tuple(row) for row in rows] == expected
    assert [row[:3] for row in expected] == [
        (1, 0, "charge"),
        (2, 0, "refund"),
        (4, 0, "refund"),
        (5, 1, "refund"),
    ]


async def test_without_a_secret_events_are_refused_for_stripe_to_retry(
    central_db_url: str,
) -> None:
    running = await start_server(create_app(central_db_url, secrets.token_urlsafe(16)))
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=10) as http:
            payload = event("charge.dispute.created", dispute(stripe_id("pi")))
            answer = await deliver(http, payload)
    finally:
        await running.stop()
    assert answer.status_code == 503 and answer.json() == {"error": "not_configured"}
