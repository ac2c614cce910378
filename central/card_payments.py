"""The card payments the journals name, kept for reconciling Stripe's refunds and disputes.

One row per card payment entry (docs/PROTOCOL.md 1.4): a ``sale``'s card payments are money
taken (``charge``); a ``refund`` record's card payments, a split sale's ``given_back`` card parts
and a ``part_refunded`` charge are money the device gave back at Stripe (``refund``, with
Stripe's refund id). ``apply`` runs inside the ingest transaction after the records are verified,
like ``central.payouts``; an entry without the fields is skipped (the chain is the truth, this
table is an index of it). Migration 0009 takes in the records held before it, with the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import asyncpg

from bitagora_protocol.journal import Record

BIGINT = 2**63


def _text(value: Any) -> str | None:
    """``value`` if it is a string PostgreSQL can store (text holds no NUL)."""
    return value if isinstance(value, str) and "\x00" not in value else None


def _entries(record: Record) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """(place, kind, payment) of each payment entry of ``record`` that may be a card's."""
    body = record.body
    state = body.get("state") if record.kind == "payment" else None
    if body.get("training") is True:
        return
    if state == "part_refunded":
        payment, refund = body.get("payment"), body.get("refund")
        if isinstance(payment, dict) and isinstance(refund, dict):
            yield 0, "refund", {**payment, "refund_id": refund.get("id")}
        return
    if record.kind not in ("sale", "refund") and state != "given_back":
        return
    payments = body.get("payments")
    for place, payment in enumerate(payments if isinstance(payments, list) else []):
        if isinstance(payment, dict):
            yield place, "charge" if record.kind == "sale" else "refund", payment


def card_rows(record: Record) -> list[tuple[int, str, str, str, str | None, int]]:
    """(place, kind, sale_id, payment_intent, refund_id, amount) of ``record``'s card payments."""
    sale_id = _text(record.body.get("sale_id"))
    if sale_id is None:
        return []
    rows = []
    for place, kind, payment in _entries(record):
        intent, amount = _text(payment.get("payment_intent")), payment.get("amount")
        refund_id = _text(payment.get("refund_id")) if kind == "refund" else None
        if (
            payment.get("method") != "card"
            or intent is None
            or not isinstance(amount, int)
            or isinstance(amount, bool)
            or not 0 <= amount < BIGINT
            or (kind == "refund" and refund_id is None)
        ):
            continue
        rows.append((place, kind, sale_id, intent, refund_id, amount))
    return rows


async def apply(
    conn: asyncpg.Connection, device_id: str, merchant_id: int, records: Sequence[Record]
) -> None:
    """Index the card payments of ``records`` (verified, in the ingest transaction)."""
    await conn.executemany(
        "INSERT INTO card_payments (device_id, seq, payment, merchant_id, kind, sale_id,"
        " payment_intent, refund_id, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT DO NOTHING",
        [
            (device_id, record.seq, row[0], merchant_id, *row[1:])
            for record in records
            for row in card_rows(record)
        ],
    )
