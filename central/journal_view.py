"""A device's journal as central holds it, a page at a time, newest first, each record with its
verification: the chain link to the previous held record and its hash and signature checked
with ``bitagora_protocol`` against the device's enrolled key (docs/PROTOCOL.md 1.3)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg

from bitagora_protocol.journal import (
    JournalError,
    Record,
    device_public_key,
    genesis_prev_hash,
    verify_record,
)
from central.held_records import COLUMNS, held_record

PAGE_SIZE = 20


@dataclass(frozen=True)
class CheckedRecord:
    record: Record
    body: str  # indented JSON, escaped by the template
    chain: str  # "linked", or what is wrong with the link
    signature: str  # "verified", or what is wrong with the hash or signature

    @property
    def ok(self) -> bool:
        return self.chain == "linked" and self.signature == "verified"


def _chain(record: Record, previous: Record | None, device_id: str) -> str:
    if record.seq == 1:
        expected = genesis_prev_hash(device_id)
    elif previous is None or previous.seq != record.seq - 1:
        return f"record {record.seq - 1} not held"
    else:
        expected = previous.hash
    return "linked" if record.prev_hash == expected else "prev_hash is not the previous hash"


async def journal_page(
    conn: asyncpg.Connection, device_id: str, public_key: bytes, page: int
) -> list[CheckedRecord]:
    """Page ``page`` (1 = newest) of the device's held records, each checked."""
    key = device_public_key(public_key)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM journal_records"
        " WHERE device_id = $1 ORDER BY seq DESC LIMIT $2 OFFSET $3",
        device_id,
        PAGE_SIZE + 1,  # and the record before the page's oldest, for its chain link
        (page - 1) * PAGE_SIZE,
    )
    records = [held_record(device_id, row) for row in rows]
    checked = []
    for index, record in enumerate(records[:PAGE_SIZE]):
        previous = records[index + 1] if index + 1 < len(records) else None
        try:
            verify_record(record, key, device_id, record.seq, record.prev_hash)
            signature = "verified"
        except JournalError as err:
            signature = err.reason
        checked.append(
            CheckedRecord(
                record,
                json.dumps(record.body, indent=2, ensure_ascii=False, sort_keys=True),
                _chain(record, previous, device_id),
                signature,
            )
        )
    return checked
