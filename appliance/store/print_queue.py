"""The persistent print queue (migration 0002): receipts waiting for the printer.

Jobs are written by triggers in the same INSERT that appends a ``sale`` or ``reprint`` journal
record, so this module only reads them and records what happened to them. A job leaves the
waiting list only through ``mark_printed``, which the print worker calls once the printer took
every byte and reported afterwards that it is fine.
"""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from appliance.store.db import fetch_one, transaction
from bitagora_protocol.journal import utc_now


@dataclass(frozen=True)
class PrintJob:
    job_id: int
    journal_seq: int  # the record that asked for the print (the sale itself, or a reprint)
    sale_seq: int  # the sale record whose receipt is printed
    copy: bool
    queued_at: str
    attempts: int
    last_error: str | None


@dataclass(frozen=True)
class QueueSummary:
    waiting: int
    oldest_queued_at: str | None
    last_error: str | None


_COLUMNS = "job_id, journal_seq, sale_seq, copy, queued_at, attempts, last_error"


def _job(row: aiosqlite.Row | tuple[object, ...]) -> PrintJob:
    job_id, journal_seq, sale_seq, copy, queued_at, attempts, last_error = tuple(row)
    return PrintJob(
        int(job_id),
        int(journal_seq),
        int(sale_seq),
        bool(copy),
        str(queued_at),
        int(attempts),
        None if last_error is None else str(last_error),
    )


async def waiting(conn: aiosqlite.Connection, limit: int = 100) -> list[PrintJob]:
    """Jobs not printed yet, oldest first."""
    rows = await conn.execute_fetchall(
        f"SELECT {_COLUMNS} FROM print_queue WHERE printed_at IS NULL ORDER BY job_id LIMIT ?",
        (limit,),
    )
    return [_job(row) for row in rows]


async def next_job(conn: aiosqlite.Connection) -> PrintJob | None:
    jobs = await waiting(conn, 1)
    return jobs[0] if jobs else None


async def summary(conn: aiosqlite.Connection) -> QueueSummary:
    row = await fetch_one(
        conn,
        "SELECT count(*), min(queued_at),"
        " (SELECT last_error FROM print_queue WHERE printed_at IS NULL"
        "  ORDER BY job_id LIMIT 1)"
        " FROM print_queue WHERE printed_at IS NULL",
    )
    assert row is not None
    return QueueSummary(row[0], row[1], row[2])


async def get(conn: aiosqlite.Connection, journal_seq: int) -> PrintJob | None:
    row = await fetch_one(
        conn, f"SELECT {_COLUMNS} FROM print_queue WHERE journal_seq = ?", (journal_seq,)
    )
    return _job(row) if row else None


async def printed_at(conn: aiosqlite.Connection, journal_seq: int) -> str | None:
    """When the receipt record ``journal_seq`` queued was printed (None: not yet, or none)."""
    row = await fetch_one(
        conn, "SELECT printed_at FROM print_queue WHERE journal_seq = ?", (journal_seq,)
    )
    return None if row is None or row[0] is None else str(row[0])


async def is_printed(conn: aiosqlite.Connection, journal_seq: int) -> bool:
    row = await fetch_one(
        conn, "SELECT printed_at IS NOT NULL FROM print_queue WHERE journal_seq = ?", (journal_seq,)
    )
    return bool(row and row[0])


async def mark_printed(conn: aiosqlite.Connection, job_id: int) -> None:
    async with transaction(conn):
        await conn.execute(
            "UPDATE print_queue SET printed_at = ?, attempts = attempts + 1"
            " WHERE job_id = ? AND printed_at IS NULL",
            (utc_now(), job_id),
        )


# What a job's ``last_error`` says while an attempt is on its way to the printer: left there by a
# crash or power cut before the outcome was written, it tells the next attempt that the receipt
# may be on paper already, so that one prints as a copy (services/printing.py).
INTERRUPTED = "interrupted: the till stopped while printing this receipt"


async def mark_sending(conn: aiosqlite.Connection, job_id: int) -> None:
    """Just before a job's bytes go to the printer: committed first, so that a crash before the
    outcome is written leaves ``INTERRUPTED`` on the job."""
    async with transaction(conn):
        await conn.execute(
            "UPDATE print_queue SET last_error = ? WHERE job_id = ? AND printed_at IS NULL",
            (INTERRUPTED, job_id),
        )


async def mark_failed(conn: aiosqlite.Connection, job_id: int, error: str) -> None:
    async with transaction(conn):
        await conn.execute(
            "UPDATE print_queue SET attempts = attempts + 1, last_error = ? WHERE job_id = ?",
            (error[:500], job_id),
        )


async def last_sale_seq(conn: aiosqlite.Connection) -> int | None:
    """The newest sale record's seq (what "reprint the last receipt" copies)."""
    row = await fetch_one(conn, "SELECT max(journal_seq) FROM sales")
    return row[0] if row and row[0] is not None else None


async def waiting_before(conn: aiosqlite.Connection, journal_seq: int) -> int:
    """How many receipts still wait ahead of the one record ``journal_seq`` queued."""
    row = await fetch_one(
        conn,
        "SELECT count(*) FROM print_queue WHERE printed_at IS NULL AND journal_seq < ?",
        (journal_seq,),
    )
    return int(row[0]) if row else 0
