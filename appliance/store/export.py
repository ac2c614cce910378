"""Journal export (JSON Lines) and verification of a device database or an export.

Export format (docs/PROTOCOL.md 1.5): the first line is a header object
``{"format": "bitagora-journal/1", "device_id": ..., "public_key": <64 hex>, "head": {"seq",
"hash", "sig"}}`` (the chain head the device signed, ``bitagora_protocol.chain_head``); every
further line is one record object with exactly the fields seq, kind, at, device_id, body,
prev_hash, hash, sig. Every line is strict JSON (no duplicate key). An export verifies when its
chain does and it holds the record the head names with the head's hash: a copy cut short fails
at the first seq it lacks.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from appliance.store import device, journal
from appliance.store.identity import DeviceIdentity
from appliance.store.readonly import journal_records
from bitagora_protocol import strict_json
from bitagora_protocol.chain_head import ChainHead, sign_head, verify_head
from bitagora_protocol.journal import (
    JournalError,
    Record,
    genesis_prev_hash,
    is_lower_hex,
    verify_chain,
)

EXPORT_FORMAT = "bitagora-journal/1"
HEADER_FIELDS = frozenset({"format", "device_id", "public_key", "head"})


class VerifyError(RuntimeError):
    """The file cannot be read as a journal at all (not a chain that fails: see JournalError)."""


@dataclass(frozen=True)
class VerifyResult:
    device_id: str
    count: int
    last_hash: str | None


async def export_journal(conn: aiosqlite.Connection, out: Path, identity: DeviceIdentity) -> int:
    """Write the journal to ``out`` with a head signed by ``identity`` (the device's key) over
    the last record written; return how many records."""
    info = await device.read(conn)
    if info is None:
        raise VerifyError("this database has no device identity yet; nothing to export")
    device_id, public_key = info
    if identity.device_id != device_id:
        raise VerifyError(f"the key given is {identity.device_id}'s, not {device_id}'s")
    count, last_hash = 0, genesis_prev_hash(device_id)
    tmp = out.with_name(out.name + ".tmp")
    body = out.with_name(out.name + ".records")
    with body.open("w", encoding="utf-8") as handle:
        async for record in journal.iterate(conn):
            handle.write(json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
            count, last_hash = record.seq, record.hash
    head = sign_head(identity.private_key, device_id, count, last_hash)
    header = {
        "format": EXPORT_FORMAT,
        "device_id": device_id,
        "public_key": public_key,
        "head": head.to_dict(),
    }
    with tmp.open("w", encoding="utf-8") as handle, body.open(encoding="utf-8") as records:
        handle.write(json.dumps(header, ensure_ascii=False) + "\n")
        for line in records:
            handle.write(line)
    body.unlink()
    tmp.replace(out)
    return count


def _verify(
    device_id: str,
    public_key_hex: str,
    records: Iterator[Record],
    head_data: object | None = None,
) -> VerifyResult:
    """Verify a chain; with ``head_data`` (an export's signed head) also that the chain holds
    the record it names, with its hash."""
    derived_id, public_key = device.public_key_from_hex(public_key_hex)
    if derived_id != device_id:
        raise VerifyError(f"public key belongs to {derived_id}, not {device_id}")
    head = None if head_data is None else ChainHead.from_dict(head_data)
    if head is not None:
        verify_head(head, public_key, device_id)
    hashes = {0: genesis_prev_hash(device_id)}
    last: list[str] = []

    def remembering() -> Iterator[Record]:
        for record in records:
            last[:] = [record.hash]
            if head is not None and record.seq == head.seq:
                hashes[head.seq] = record.hash
            yield record

    count = verify_chain(remembering(), public_key, device_id)
    if head is not None:
        if count < head.seq:
            raise JournalError(
                count + 1,
                f"record {count + 1} is missing: the signed head names seq {head.seq}, "
                f"the export ends at {count}",
            )
        if hashes[head.seq] != head.hash:
            raise JournalError(head.seq, "differs from the signed chain head's hash")
    return VerifyResult(device_id, count, last[0] if last else None)


def verify_database(path: Path) -> VerifyResult:
    """Verify a device database file, read-only (safe while the kiosk runs)."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        info = dict(conn.execute("SELECT key, value FROM device_info").fetchall())
    except sqlite3.Error as err:
        raise VerifyError(f"{path} is not a BitAgora device database: {err}") from None
    try:
        if "public_key" not in info:
            raise VerifyError(f"{path} has no device identity")
        return _verify(info["device_id"], info["public_key"], journal_records(conn))
    finally:
        conn.close()


def _export_records(lines: Iterator[tuple[int, str]]) -> Iterator[Record]:
    for number, line in lines:
        try:
            data: Any = strict_json.loads(line)
        except strict_json.StrictJsonError as err:
            raise VerifyError(f"line {number}: not strict JSON ({err})") from None
        if not isinstance(data, dict):
            raise VerifyError(f"line {number}: not a record object")
        yield Record.from_dict(data)


def verify_export(path: Path) -> VerifyResult:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as err:
        raise VerifyError(f"cannot read {path}: {err.strerror}") from None
    with handle:
        numbered = ((n, line) for n, line in enumerate(handle, 1) if line.strip())
        try:
            _, first = next(numbered)
            header = strict_json.loads(first)
        except (StopIteration, strict_json.StrictJsonError):
            raise VerifyError(f"{path}: no export header on the first line") from None
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            raise VerifyError(f"{path}: not a {EXPORT_FORMAT} export")
        if set(header) != HEADER_FIELDS:
            missing = "no signed chain head" if "head" not in header else "unknown header fields"
            raise VerifyError(f"{path}: {missing}: the header is exactly {sorted(HEADER_FIELDS)}")
        key = header["public_key"]
        if not (isinstance(key, str) and is_lower_hex(key, 64)):
            raise VerifyError(f"{path}: public_key must be 64 lowercase hex digits")
        return _verify(str(header["device_id"]), key, _export_records(numbered), header["head"])


def verify_path(path: Path) -> VerifyResult:
    """Verify whichever a path is: an export (JSON Lines) or a device database."""
    with path.open("rb") as handle:
        magic = handle.read(16)
    if magic.startswith(b"SQLite format 3"):
        return verify_database(path)
    return verify_export(path)
