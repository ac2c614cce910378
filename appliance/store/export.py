"""Journal export (JSON Lines) and verification of a device database or an export.

Export format (docs/PROTOCOL.md): the first line is a header object
``{"format": "bitagora-journal/1", "device_id": ..., "public_key": <64 hex>}``; every further line
is one record object with the fields seq, kind, at, device_id, body, prev_hash, hash, sig.
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
from appliance.store.readonly import journal_records
from bitagora_protocol.journal import Record, verify_chain

EXPORT_FORMAT = "bitagora-journal/1"


class VerifyError(RuntimeError):
    """The file cannot be read as a journal at all (not a chain that fails: see JournalError)."""


@dataclass(frozen=True)
class VerifyResult:
    device_id: str
    count: int
    last_hash: str | None


async def export_journal(conn: aiosqlite.Connection, out: Path) -> int:
    info = await device.read(conn)
    if info is None:
        raise VerifyError("this database has no device identity yet; nothing to export")
    device_id, public_key = info
    count = 0
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        header = {"format": EXPORT_FORMAT, "device_id": device_id, "public_key": public_key}
        handle.write(json.dumps(header, ensure_ascii=False) + "\n")
        async for record in journal.iterate(conn):
            handle.write(json.dumps(record.to_dict(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    tmp.replace(out)
    return count


def _verify(device_id: str, public_key_hex: str, records: Iterator[Record]) -> VerifyResult:
    derived_id, public_key = device.public_key_from_hex(public_key_hex)
    if derived_id != device_id:
        raise VerifyError(f"public key belongs to {derived_id}, not {device_id}")
    seen: list[str] = []

    def remembering_last() -> Iterator[Record]:
        for record in records:
            seen[:] = [record.hash]
            yield record

    count = verify_chain(remembering_last(), public_key, device_id)
    return VerifyResult(device_id, count, seen[0] if seen else None)


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
            data: Any = json.loads(line)
        except json.JSONDecodeError as err:
            raise VerifyError(f"line {number}: not JSON ({err.msg})") from None
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
            header = json.loads(first)
        except (StopIteration, json.JSONDecodeError):
            raise VerifyError(f"{path}: no export header on the first line") from None
        if not isinstance(header, dict) or header.get("format") != EXPORT_FORMAT:
            raise VerifyError(f"{path}: not a {EXPORT_FORMAT} export")
        return _verify(
            str(header["device_id"]), str(header["public_key"]), _export_records(numbered)
        )


def verify_path(path: Path) -> VerifyResult:
    """Verify whichever a path is: an export (JSON Lines) or a device database."""
    with path.open("rb") as handle:
        magic = handle.read(16)
    if magic.startswith(b"SQLite format 3"):
        return verify_database(path)
    return verify_export(path)
