"""Appending to and reading the device journal.

``append`` must run inside the caller's write transaction (``db.transaction``), so that a record is
committed together with whatever it records (a sale's rows, say) and its outbox row, or not at all.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, NamedTuple

import aiosqlite

from appliance.store.db import fetch_one
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import Record, canonical_json, genesis_prev_hash, seal

COLUMNS = "seq, kind, at, device_id, body, prev_hash, hash, sig"


def record_from_row(row: Any) -> Record:
    seq, kind, at, device_id, body, prev_hash, hash_, sig = tuple(row)
    return Record(seq, kind, at, device_id, json.loads(body), prev_hash, hash_, sig)


async def tail(conn: aiosqlite.Connection) -> tuple[int, str | None]:
    """The last seq and its hash, (0, None) for an empty journal."""
    row = await fetch_one(conn, "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1")
    return (row[0], row[1]) if row else (0, None)


async def append(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    kind: str,
    body: Mapping[str, Any],
    after: Record | None = None,
) -> Record:
    """Seal and store the next record; the caller owns the transaction. ``after``: the record
    this transaction appended last, which this one follows (the journal's tail is not read).

    Triggers in the same statement queue it in the outbox and, for a sale, write the sale rows.
    """
    if not conn.in_transaction:
        raise RuntimeError("journal.append needs an open write transaction")
    last_seq, last_hash = (after.seq, after.hash) if after is not None else await tail(conn)
    prev = last_hash or genesis_prev_hash(identity.device_id)
    record = seal(identity.private_key, identity.device_id, last_seq + 1, kind, body, prev)
    await conn.execute(
        f"INSERT INTO journal ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record.seq,
            record.kind,
            record.at,
            record.device_id,
            record.body_json,
            record.prev_hash,
            record.hash,
            record.sig,
        ),
    )
    return record


async def read_range(conn: aiosqlite.Connection, first_seq: int, limit: int) -> list[Record]:
    rows = await conn.execute_fetchall(
        f"SELECT {COLUMNS} FROM journal WHERE seq >= ? ORDER BY seq LIMIT ?", (first_seq, limit)
    )
    return [record_from_row(row) for row in rows]


class WireRecord(NamedTuple):
    """A stored record as the uplink sends it: its seq, and its JSON form."""

    seq: int
    json: str


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def wire_record(row: Any) -> WireRecord:
    """A journal row (``COLUMNS``) as ``Record.to_dict`` encoded compactly (keys in that order,
    UTF-8 unescaped, as the uplink's requests are): the stored body is its canonical JSON
    already, so it goes in as it is, never parsed and encoded again."""
    seq, kind, at, device_id, body, prev_hash, hash_, sig = tuple(row)
    text = (
        f'{{"at":{_string(at)},"body":{body},"device_id":{_string(device_id)},'
        f'"kind":{_string(kind)},"prev_hash":{_string(prev_hash)},"seq":{int(seq)},'
        f'"hash":{_string(hash_)},"sig":{_string(sig)}}}'
    )
    return WireRecord(int(seq), text)


def wire_of(record: Record) -> WireRecord:
    """``wire_record`` of a record in hand rather than read from the store."""
    body = canonical_json(record.body).decode("utf-8")
    fields = (record.seq, record.kind, record.at, record.device_id, body)
    return wire_record((*fields, record.prev_hash, record.hash, record.sig))


async def read_wire_range(
    conn: aiosqlite.Connection, first_seq: int, limit: int
) -> list[WireRecord]:
    """``read_range`` in the uplink's wire form (``wire_record``)."""
    rows = await conn.execute_fetchall(
        f"SELECT {COLUMNS} FROM journal WHERE seq >= ? ORDER BY seq LIMIT ?", (first_seq, limit)
    )
    return [wire_record(row) for row in rows]


async def iterate(conn: aiosqlite.Connection, page: int = 1000) -> AsyncIterator[Record]:
    """Every record in seq order, read a page at a time."""
    next_seq = 1
    while True:
        records = await read_range(conn, next_seq, page)
        for record in records:
            yield record
        if len(records) < page:
            return
        next_seq = records[-1].seq + 1


async def get(conn: aiosqlite.Connection, seq: int) -> Record | None:
    rows = await read_range(conn, seq, 1)
    return rows[0] if rows and rows[0].seq == seq else None


async def last_config(conn: aiosqlite.Connection, setting: str) -> Record | None:
    """The newest ``config`` record that set ``setting`` (the journal is where a till's modes
    live, so a restart comes back in the mode it was left in)."""
    rows = await conn.execute_fetchall(
        f"SELECT {COLUMNS} FROM journal WHERE kind = 'config'"
        " AND json_extract(body, '$.setting') = ? ORDER BY seq DESC LIMIT 1",
        (setting,),
    )
    return next((record_from_row(row) for row in rows), None)
