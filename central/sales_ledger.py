"""The sales ledger: every device's sales, refunds and Z closings as rows a report can sum.

``apply`` runs inside the ingest transaction after a batch is verified, so the ledger never
disagrees with the stored journals; ``catch_up`` takes in, once, the journals that arrived
before the ledger existed. A record whose body does not have the shape docs/PROTOCOL.md 1.4
gives (or is a training sale) stays in the chain and is left out of the ledger: the chain is the
truth, the ledger a convenience for reports. Refunds go in negative, so a sum is the net.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bitagora_protocol.journal import Record
from central.held_records import COLUMNS, held_record

log = logging.getLogger(__name__)

BIGINT = 2**62  # amounts beyond this are not money a till took


@dataclass(frozen=True)
class Entry:
    """A sale or refund as the ledger keeps it (amounts signed: negative for a refund)."""

    seq: int
    kind: str
    sale_id: str
    at: datetime
    currency: str
    total: int
    staff: tuple[str, str]
    lines: tuple[tuple[str, str, int, int], ...]  # sku, name, quantity, amount
    payments: tuple[tuple[str, int], ...]  # method, amount
    rounding: int = 0  # a sale's cash rounding: its payments add up to total + rounding


@dataclass(frozen=True)
class ZClosing:
    seq: int
    z_number: int
    closed_at: datetime
    currency: str
    # sales_count, sales, refunds, net_sales, expected_cash, counted cash, difference, grand_total
    figures: tuple[int, ...]
    staff_name: str


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < BIGINT:
        return value
    return None


def _ints(*values: Any) -> tuple[int, ...] | None:
    """The values as ints, or None when any is not an int a till could have written."""
    ints = tuple(_int(value) for value in values)
    return None if None in ints else ints  # type: ignore[return-value]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and "\x00" not in value else None


def _when(record: Record) -> datetime | None:
    try:
        return datetime.fromisoformat(record.at)
    except ValueError:
        return None


def _staff(body: Mapping[str, Any]) -> tuple[str, str] | None:
    staff = body.get("staff")
    if not isinstance(staff, dict):
        return None
    staff_id, name = _text(staff.get("id")), _text(staff.get("name"))
    return (staff_id, name) if staff_id is not None and name is not None else None


def _lines(items: Any, sign: int) -> tuple[tuple[str, str, int, int], ...] | None:
    if not isinstance(items, list):
        return None
    lines = []
    for item in items:
        if not isinstance(item, dict):
            return None
        sku, name = _text(item.get("sku")), _text(item.get("name"))
        quantity, amount = _int(item.get("quantity")), _int(item.get("amount"))
        if sku is None or name is None or quantity is None or amount is None:
            return None
        lines.append((sku, name, sign * quantity, sign * amount))
    return tuple(lines)


def _payments(items: Any, sign: int) -> tuple[tuple[str, int], ...] | None:
    if not isinstance(items, list):
        return None
    payments = []
    for item in items:
        method = _text(item.get("method")) if isinstance(item, dict) else None
        amount = _int(item.get("amount")) if isinstance(item, dict) else None
        if method is None or amount is None:
            return None
        payments.append((method, sign * amount))
    return tuple(payments)


def entry_of(record: Record) -> Entry | None:
    """The ledger entry of a well-formed ``sale`` (not training) or ``refund`` record."""
    body = record.body
    if record.kind not in ("sale", "refund") or body.get("training") is True:
        return None
    sign = -1 if record.kind == "refund" else 1
    total = body.get("total")
    minor = _int(total.get("minor")) if isinstance(total, dict) else None
    currency = _text(body.get("currency"))
    sale_id, at, staff = _text(body.get("sale_id")), _when(record), _staff(body)
    lines, payments = _lines(body.get("lines"), sign), _payments(body.get("payments"), sign)
    rounding = _int(body.get("rounding", 0))
    if (
        minor is None
        or currency is None
        or sale_id is None
        or at is None
        or staff is None
        or lines is None
        or payments is None
        or rounding is None
    ):
        log.warning("ledger: %s record %d has no report shape; left out", record.kind, record.seq)
        return None
    return Entry(
        record.seq,
        record.kind,
        sale_id,
        at,
        currency,
        sign * minor,
        staff,
        lines,
        payments,
        sign * rounding,
    )


def closing_of(record: Record) -> ZClosing | None:
    """The Z closing of a well-formed ``z_close`` record."""
    if record.kind != "z_close":
        return None
    body = record.body
    totals, counted = body.get("totals"), body.get("counted")
    if not isinstance(totals, dict) or not isinstance(counted, dict):
        return None
    figures = _ints(
        *(totals.get(name) for name in ("sales_count", "sales", "refunds", "net_sales")),
        body.get("expected_cash"),
        counted.get("total"),
        body.get("difference"),
        body.get("grand_total"),
    )
    z_number, currency = _int(body.get("z_number")), _text(body.get("currency"))
    at, staff = _when(record), _staff(body)
    if figures is None or z_number is None or currency is None or at is None or staff is None:
        log.warning("ledger: z_close record %d has no report shape; left out", record.seq)
        return None
    return ZClosing(record.seq, z_number, at, currency, figures, staff[1])


async def apply(
    conn: asyncpg.Connection, device_id: str, merchant_id: int, records: Sequence[Record]
) -> None:
    """Take ``records`` (verified, in the ingest transaction) of a device of ``merchant_id``
    into the ledger."""
    entries = [e for e in map(entry_of, records) if e is not None]
    closings = [z for z in map(closing_of, records) if z is not None]
    if not entries and not closings:
        return
    await conn.executemany(
        "INSERT INTO ledger_entries (device_id, seq, merchant_id, kind, sale_id, at, currency,"
        " total, staff_id, staff_name, rounding)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        [
            (
                device_id,
                e.seq,
                merchant_id,
                e.kind,
                e.sale_id,
                e.at,
                e.currency,
                e.total,
                *e.staff,
                e.rounding,
            )
            for e in entries
        ],
    )
    await conn.executemany(
        "INSERT INTO ledger_lines (device_id, seq, line, merchant_id, at, currency, sku, name,"
        " quantity, amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        " ON CONFLICT DO NOTHING",
        [
            (device_id, e.seq, n, merchant_id, e.at, e.currency, *line)
            for e in entries
            for n, line in enumerate(e.lines)
        ],
    )
    await conn.executemany(
        "INSERT INTO ledger_payments (device_id, seq, payment, merchant_id, at, currency, method,"
        " amount) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        [
            (device_id, e.seq, n, merchant_id, e.at, e.currency, *payment)
            for e in entries
            for n, payment in enumerate(e.payments)
        ],
    )
    await conn.executemany(
        "INSERT INTO z_closings (device_id, seq, merchant_id, z_number, closed_at, currency,"
        " sales_count, sales, refunds, net_sales, expected_cash, counted_cash, difference,"
        " grand_total, staff_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
        " $13, $14, $15) ON CONFLICT DO NOTHING",
        [
            (
                device_id,
                z.seq,
                merchant_id,
                z.z_number,
                z.closed_at,
                z.currency,
                *z.figures,
                z.staff_name,
            )
            for z in closings
        ],
    )


CATCH_UP_CHUNK = 2000


async def catch_up(pool: asyncpg.Pool) -> int:
    """Take the journals that arrived before the ledger existed into it, a device at a time,
    each in one transaction (re-run safely after a crash); return how many devices."""
    done = 0
    async with pool.acquire() as conn:
        pending = await conn.fetch(
            "SELECT c.device_id, d.merchant_id FROM ledger_catch_up c"
            " JOIN devices d USING (device_id) ORDER BY c.device_id"
        )
        for device_id, merchant_id in pending:
            async with conn.transaction():
                # Every worker of a central catches up at start: the row lock makes one of
                # them take a device in, and the others find it done.
                if not await conn.fetchval(
                    "SELECT true FROM ledger_catch_up WHERE device_id = $1 FOR UPDATE",
                    device_id,
                ):
                    continue
                after = 0
                while True:
                    rows = await conn.fetch(
                        f"SELECT {COLUMNS} FROM journal_records"
                        " WHERE device_id = $1 AND seq > $2"
                        " AND kind IN ('sale', 'refund', 'z_close') ORDER BY seq LIMIT $3",
                        device_id,
                        after,
                        CATCH_UP_CHUNK,
                    )
                    if not rows:
                        break
                    await apply(
                        conn, device_id, merchant_id, [held_record(device_id, row) for row in rows]
                    )
                    after = rows[-1]["seq"]
                await conn.execute("DELETE FROM ledger_catch_up WHERE device_id = $1", device_id)
            done += 1
    if done:
        log.info("ledger: took in the journals of %d device(s) held before it existed", done)
    return done
