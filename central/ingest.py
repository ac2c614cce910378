"""Journal ingest: ``POST /api/v1/journal`` verifies a device's batch and stores it.

A batch is ``{"records": [record.to_dict(), ...]}``, contiguous and ascending, at most
``MAX_BATCH`` records. Each record's own hash and signature are checked first, outside any lock
(so a device's next batch is checked while its previous one is stored); then under a row lock on
the device (so two pushes from one device never both insert), records central already holds are
compared with the held ones and skipped when identical; the rest must extend the held chain. A
batch that reaches the lock before the batch ahead of it is stored is answered ``gap`` (the
uplink sends it again once the one ahead is acknowledged). Answers:

- 200 ``{"held_seq": N}`` (also for an empty batch: a way to ask what central holds)
- 409 ``{"error": "gap", "expected_seq": held + 1, "held_seq": held}``
- 409 ``{"error": "fork", "seq": S, "held_seq": held}``: a different record for a held seq;
  the batch is quarantined and the device flagged
- 422 ``{"error": "invalid_chain", "seq": S, "reason": ...}``
- 400 ``{"error": "malformed", "reason": ...}``
- 400 ``{"error": "invalid_value", "seq": S, "reason": ...}``: a value outside the protocol's
  ranges (``bitagora_protocol.strict_json``), or a running total it would overflow
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse

from bitagora_protocol.journal import JournalError, Record, content_error, verify_chain
from bitagora_protocol.strict_json import MAX_SAFE_INTEGER, StrictJsonError, check_values
from central import alerts, card_payments, catalogs, payouts, sales_ledger
from central.context import central
from central.device_auth import Device, authenticate
from central.errors import ApiError, json_object, malformed
from central.quarantine import quarantine

log = logging.getLogger(__name__)

MAX_BATCH = 500
MAX_BODY_BYTES = 8 * 1024 * 1024


def invalid_value(seq: int | None, reason: str) -> ApiError:
    """A value central cannot hold as the protocol defines it: permanent for that record."""
    return ApiError(400, "invalid_value", seq=seq, reason=reason)


def parse_batch(body: bytes) -> list[Record]:
    """Decode and shape-check a batch; raise a 400 ``malformed`` ApiError if it is not one."""
    data = json_object(body)
    if not isinstance(data.get("records"), list):
        raise malformed('body must be an object with a "records" list')
    items = data["records"]
    if len(items) > MAX_BATCH:
        raise malformed(f"at most {MAX_BATCH} records per batch, got {len(items)}")
    records: list[Record] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise malformed(f"records[{index}] is not an object")
        try:
            record = Record.from_dict(item)
        except JournalError as err:
            raise malformed(f"records[{index}]: {err}") from None
        try:
            _check_values(record, f"records[{index}]")
        except StrictJsonError as err:
            raise invalid_value(record.seq, str(err)) from None
        records.append(record)
    for before, after in zip(records, records[1:], strict=False):
        if after.seq != before.seq + 1:
            raise malformed(
                f"records must be contiguous and ascending: {after.seq} after {before.seq}"
            )
    return records


def _check_values(record: Record, path: str) -> None:
    """Refuse a value outside the protocol anywhere in the record's signed part, naming its
    path: the body through ``Record.body_json``, which checks it once and keeps its canonical
    text for the hash and the insert (walked again only to name what it refuses)."""
    try:
        _ = record.body_json
    except JournalError:
        check_values(record.body, f"{path}.body", depth=1)
    check_values({k: v for k, v in record.signed_part().items() if k != "body"}, path)


def sale_total(record: Record) -> tuple[str, int] | None:
    """(currency, minor) of a sale record's ``body.total``, if it has a well-formed one and is
    not a training sale (practice: kept in the chain, never in a total)."""
    if record.kind != "sale" or record.body.get("training") is True:
        return None
    total = record.body.get("total")
    if not isinstance(total, dict):
        return None
    minor, currency = total.get("minor"), total.get("currency")
    if (
        isinstance(minor, int)
        and not isinstance(minor, bool)
        and abs(minor) <= MAX_SAFE_INTEGER
        and isinstance(currency, str)
    ):
        return currency, minor
    return None


def _same_record(record: Record, held: asyncpg.Record) -> bool:
    try:
        body_json = record.body_json
    except JournalError:
        return False
    return (record.kind, record.at, body_json, record.prev_hash, record.hash, record.sig) == (
        held["kind"],
        held["at"],
        held["body_json"],
        held["prev_hash"],
        held["hash"],
        held["sig"],
    )


def content_errors(records: Sequence[Record], device: Device) -> list[JournalError | None]:
    """Each record's own hash and signature checked (``content_error``): the costly part of a
    batch's verification, made before the device's lock is taken, so that a worker checks one
    batch while another stores the device's batch before it."""
    return [content_error(record, device.public_key) for record in records]


async def store_batch(
    conn: asyncpg.Connection,
    device: Device,
    records: Sequence[Record],
    contents: Sequence[JournalError | None],
    raw_batch: str,
) -> tuple[int, dict[str, Any]]:
    """Verify (with each record's ``content_errors``) and store a parsed batch in one
    transaction; return (HTTP status, JSON payload).

    A fork is answered only after its quarantine row and the device flag are committed, which
    is why outcomes are returned rather than raised inside the transaction.
    """
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT held_seq, held_hash, merchant_id FROM devices WHERE device_id = $1 FOR UPDATE",
            device.device_id,
        )
        held_seq: int = row["held_seq"]
        held_hash: str | None = row["held_hash"]
        # Every row kept from the batch carries the merchant, for the tenancy policies.
        merchant_id: int = row["merchant_id"]
        if not records:
            return 200, {"held_seq": held_seq}
        first, last = records[0].seq, records[-1].seq
        if first > held_seq + 1:
            return 409, {"error": "gap", "expected_seq": held_seq + 1, "held_seq": held_seq}

        if first <= held_seq:
            held_rows = await conn.fetch(
                "SELECT seq, kind, at, body_json, prev_hash, hash, sig FROM journal_records"
                " WHERE device_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq",
                device.device_id,
                first,
                min(last, held_seq),
            )
            overlap = [record for record in records if record.seq <= held_seq]
            for record, held in zip(overlap, held_rows, strict=True):
                if record.hash != held["hash"]:
                    await quarantine(conn, device.device_id, record.seq, raw_batch)
                    return 409, {"error": "fork", "seq": record.seq, "held_seq": held_seq}
                if not _same_record(record, held):
                    return 422, {
                        "error": "invalid_chain",
                        "seq": record.seq,
                        "reason": "differs from the held record with the same hash",
                    }

        skipped = max(0, held_seq + 1 - first)
        new = records[skipped:]
        if not new:
            return 200, {"held_seq": held_seq}
        try:
            verify_chain(
                new,
                device.public_key,
                device.device_id,
                held_seq + 1,
                held_hash,
                contents[skipped:],
            )
        except JournalError as err:
            return 422, {"error": "invalid_chain", "seq": err.seq, "reason": err.reason}

        # Stored now, under the lock: the transaction's start (received_at's default) may come
        # before the one of a batch ahead that took the lock first (two in flight, 2.3).
        await conn.executemany(
            "INSERT INTO journal_records"
            " (device_id, seq, kind, at, body_json, prev_hash, hash, sig, merchant_id, received_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, clock_timestamp())",
            [
                (
                    device.device_id,
                    r.seq,
                    r.kind,
                    r.at,
                    r.body_json,  # encoded once, by content_error's hash
                    r.prev_hash,
                    r.hash,
                    r.sig,
                    merchant_id,
                )
                for r in new
            ],
        )
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for record in new:
            sale = sale_total(record)
            if sale is not None:
                totals[sale[0]][0] += 1
                totals[sale[0]][1] += sale[1]
        if totals:
            await conn.executemany(
                "INSERT INTO device_sales (device_id, currency, sales, total_minor, merchant_id)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id, currency) DO UPDATE SET"
                " sales = device_sales.sales + EXCLUDED.sales,"
                " total_minor = device_sales.total_minor + EXCLUDED.total_minor",
                [
                    (device.device_id, currency, count, amount, merchant_id)
                    for currency, (count, amount) in sorted(totals.items())
                ],
            )
        await payouts.apply(conn, device.device_id, merchant_id, new)
        await card_payments.apply(conn, device.device_id, merchant_id, new)
        await catalogs.apply(conn, device.device_id, merchant_id, new)
        await sales_ledger.apply(conn, device.device_id, merchant_id, new)
        await conn.execute(
            "UPDATE devices SET held_seq = $2, held_hash = $3 WHERE device_id = $1",
            device.device_id,
            new[-1].seq,
            new[-1].hash,
        )
        return 200, {"held_seq": new[-1].seq, "stored": len(new)}


async def push_journal(request: Request) -> JSONResponse:
    ctx = central(request)
    try:
        device, body = await authenticate(request, ctx, body_limit=MAX_BODY_BYTES)
        records = parse_batch(body)
    except ApiError as err:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="journal", outcome=err.error)
        ctx.metrics.inc("bitagora_central_ingest_refused_total", reason=err.error)
        raise
    # Hashing and Ed25519 checks of up to 500 records: off the event loop, and before the lock.
    contents = await asyncio.to_thread(content_errors, records, device)
    # The quarantine keeps the batch as sent; it was valid UTF-8 JSON to get this far.
    try:
        async with ctx.pool.acquire() as conn:
            status, payload = await store_batch(
                conn, device, records, contents, body.decode("utf-8")
            )
    except asyncpg.NumericValueOutOfRangeError:
        # Every value is in range, but a running total (sales, refunds, payouts) would leave
        # bigint: the transaction is rolled back and the batch refused, never half stored.
        status = 400
        payload = invalid_value(records[0].seq, "a running total would overflow").payload()
    outcome = payload.get("error", "ok")
    if outcome == "fork":
        await alerts.evaluate_device(ctx, device.device_id, ctx.now())
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="journal", outcome=outcome)
    if outcome != "ok":
        ctx.metrics.inc("bitagora_central_ingest_refused_total", reason=outcome)
    stored = payload.pop("stored", 0)
    if stored:
        ctx.metrics.inc("bitagora_central_records_ingested_total", stored)
    return JSONResponse(payload, status_code=status)
