"""Stripe webhooks: ``POST /v1/webhooks/stripe`` takes in card refunds and disputes.

The body is verified against ``Stripe-Signature`` with the endpoint's secret by the official
library (``stripe.Webhook.construct_event``: ``t=<unix s>,v1=<hex HMAC-SHA256 of "t.body">``,
at most five minutes old), then each event is kept once by its id, so Stripe's redeliveries
change nothing. Only the events reconciliation reads are kept: ``charge.refunded``,
``refund.*`` and ``charge.dispute.*``; others are acknowledged and dropped. Reconciliation
against the card payments devices reported (``central.card_payments``) happens when ops look
(``unmatched_refunds``, ``disputes``), so a device's refund record that arrives after Stripe's
event clears the flag.

Answers: 200 ``{"received": true, "duplicate": bool}``; 400 ``{"error": "bad_signature"}``;
413 ``{"error": "too_large"}``; 503 ``{"error": "not_configured"}`` without a secret (Stripe
keeps retrying for three days, so no event is lost while it is set).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from central.context import central
from central.errors import ApiError

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Stripe's events are a few KiB
PAGE = 500
RECONCILED = ("charge.refunded", "refund.", "charge.dispute.")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and "\x00" not in value else None


def _amount(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63
    return value if ok else None


async def _body(request: Request) -> bytes:
    """The body, refused once it passes ``MAX_BODY`` (counted as it streams in)."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "too_large", limit=MAX_BODY)
    return bytes(body)


def event_row(event: dict[str, Any]) -> tuple[Any, ...] | None:
    """The ``stripe_events`` row of a verified event, or None when reconciliation ignores it."""
    kind = _text(event.get("type")) or ""
    data = event.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict) or not kind.startswith(RECONCILED) or not _text(obj.get("id")):
        return None
    amount = obj.get("amount_refunded" if kind == "charge.refunded" else "amount")
    created = event.get("created")
    return (
        _text(event.get("id")),
        kind,
        _text(obj.get("id")),
        _text(obj.get("payment_intent")),
        _amount(amount),
        _text(obj.get("currency")),
        _text(obj.get("status")),
        _text(obj.get("reason")),
        datetime.fromtimestamp(created if isinstance(created, int) else 0, UTC),
    )


async def stripe_webhook(request: Request) -> Response:
    ctx = central(request)
    if not ctx.stripe_webhook_secret:
        raise ApiError(503, "not_configured")
    payload = await _body(request)
    try:
        event = stripe.Webhook.construct_event(
            payload, request.headers.get("stripe-signature"), ctx.stripe_webhook_secret
        )
    except (stripe.SignatureVerificationError, ValueError):  # ValueError: not UTF-8 JSON
        raise ApiError(400, "bad_signature") from None
    row = event_row(event.to_dict())
    if row is None or row[0] is None:
        return JSONResponse({"received": True, "duplicate": False})
    async with ctx.pool.acquire() as conn:
        stored = await conn.fetchval(
            "INSERT INTO stripe_events (event_id, type, object_id, payment_intent, amount,"
            " currency, status, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING true",
            *row,
        )
    if stored:
        log.info("stripe event=%s type=%s object=%s", row[0], row[1], row[2])
    return JSONResponse({"received": True, "duplicate": not stored})


# The newest event of each object: a dispute's or refund's status as Stripe last told it.
_LATEST = (
    "SELECT DISTINCT ON (object_id) * FROM stripe_events WHERE {where}"
    " ORDER BY object_id, created_at DESC, received_at DESC"
)
# The sale a payment intent paid, as a device reported it.
_SALE = (
    " LEFT JOIN LATERAL (SELECT c.device_id, c.seq, c.sale_id, m.name AS merchant"
    " FROM card_payments c JOIN merchants m ON m.id = c.merchant_id"
    " WHERE c.payment_intent = e.payment_intent AND c.kind = 'charge'"
    " ORDER BY c.device_id, c.seq LIMIT 1) s ON true"
)


async def disputes(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every dispute, newest first, with the reported sale its payment intent paid."""
    rows = await conn.fetch(
        "SELECT e.*, s.device_id, s.seq, s.sale_id, s.merchant FROM ("
        + _LATEST.format(where="type LIKE 'charge.dispute.%'")
        + ") e"
        + _SALE
        + " ORDER BY e.created_at DESC LIMIT $1",
        PAGE,
    )
    return [dict(row) for row in rows]


async def unmatched_refunds(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Refunds at Stripe no device reported, newest first: a ``refund.*`` whose refund id no
    device refund names (unless it failed or was cancelled: no money moved), and a
    ``charge.refunded`` whose refunded amount is more than the devices' refunds of its
    payment intent."""
    rows = await conn.fetch(
        "SELECT e.*, s.device_id, s.seq, s.sale_id, s.merchant FROM ("
        + _LATEST.format(where="type LIKE 'refund.%' OR type = 'charge.refunded'")
        + ") e"
        + _SALE
        + " WHERE CASE WHEN e.type = 'charge.refunded'"
        " THEN coalesce(e.amount, 0) > (SELECT coalesce(sum(r.amount), 0) FROM card_payments r"
        "  WHERE r.payment_intent = e.payment_intent AND r.kind = 'refund')"
        " ELSE coalesce(e.status, '') NOT IN ('failed', 'canceled') AND NOT EXISTS"
        " (SELECT 1 FROM card_payments r WHERE r.refund_id = e.object_id) END"
        " ORDER BY e.created_at DESC LIMIT $1",
        PAGE,
    )
    return [dict(row) for row in rows]
