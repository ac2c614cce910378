"""Bitcoin refunds owed to customers, kept from the journals as they arrive.

A ``refund`` record whose payment has a ``payout`` (Lightning or on-chain money the merchant
must pay from their own wallet), or a split sale's give-back (a ``payment`` record in state
``given_back``, named by its sale id), adds a row to ``device_payouts``; the merchant's ``payout``
record for that refund and method marks it paid, with its proof. ``apply`` runs inside the
ingest transaction, after the records are verified, so the table never disagrees with the
stored journals; bodies the device signed but that lack a field are skipped, not refused (the
chain is what matters, this table is a convenience for operations).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from bitagora_protocol.journal import Record

PENDING_PAGE = 500


def owed(record: Record) -> list[tuple[str, str, str, int, str, str, str]]:
    """(refund_id, method, sale_id, amount, currency, kind, destination) of each payout a
    ``refund`` record, or a split sale's give-back (named by its sale id), asks the merchant to
    pay."""
    body = record.body
    given_back = record.kind == "payment" and body.get("state") == "given_back"
    if record.kind != "refund" and not given_back:
        return []
    rows = []
    for payment in body.get("payments") or []:
        payout = payment.get("payout") if isinstance(payment, dict) else None
        if not isinstance(payout, dict):
            continue
        try:
            rows.append(
                (
                    str(body["sale_id"] if given_back else body["refund_id"]),
                    str(payment["method"]),
                    str(body["sale_id"]),
                    int(payment["amount"]),
                    str(body["currency"]),
                    str(payout["kind"]),
                    str(payout["destination"]),
                )
            )
        except (KeyError, TypeError, ValueError):
            continue
    return rows


async def apply(
    conn: asyncpg.Connection, device_id: str, merchant_id: int, records: Sequence[Record]
) -> None:
    """Record the payouts ``records`` owe and those they mark paid (in seq order)."""
    for record in records:
        for refund_id, method, sale_id, amount, currency, kind, destination in owed(record):
            await conn.execute(
                "INSERT INTO device_payouts (device_id, refund_id, method, sale_id, amount_minor,"
                " currency, kind, destination, refund_seq, refunded_at, merchant_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
                device_id,
                refund_id,
                method,
                sale_id,
                amount,
                currency,
                kind,
                destination,
                record.seq,
                record.at,
                merchant_id,
            )
        if record.kind == "payout":
            await conn.execute(
                "UPDATE device_payouts SET paid_seq = $4, paid_at = $5, proof = $6"
                " WHERE device_id = $1 AND refund_id = $2 AND method = $3 AND paid_seq IS NULL",
                device_id,
                str(record.body.get("refund_id")),
                str(record.body.get("method")),
                record.seq,
                record.at,
                str(record.body.get("proof")),
            )


async def pending(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Payouts not yet paid across the fleet, oldest first, with the device's merchant."""
    rows = await conn.fetch(
        "SELECT p.device_id, m.name AS merchant, p.refund_id, p.sale_id, p.method,"
        " p.amount_minor, p.currency, p.kind, p.destination, p.refund_seq, p.refunded_at"
        " FROM device_payouts p JOIN devices d ON d.device_id = p.device_id"
        " JOIN merchants m ON m.id = d.merchant_id"
        " WHERE p.paid_seq IS NULL ORDER BY p.refunded_at, p.device_id LIMIT $1",
        PENDING_PAGE,
    )
    return [dict(row) for row in rows]


async def pending_count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM device_payouts WHERE paid_seq IS NULL"))
