"""Restoring a backup (central/backup.py) into an empty database, then checking it: the row
count of every table as the backup's snapshot had it, and every device's journal chain verified
record by record (hashes, links, signatures) up to the seq and hash central held.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import asyncpg
import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bitagora_protocol.journal import JournalError, verify_chain
from central.backup import FORMAT, pg_connection, table_rows
from central.db import postgres_tool
from central.held_records import COLUMNS, held_record

PAGE = 5000  # journal records read at a time while verifying


class RestoreError(Exception):
    """A restore refused or failed; the message says why."""


@dataclass(frozen=True)
class Restored:
    rows: int
    tables: int
    devices: int
    records: int
    seconds: float
    problems: list[str]  # what the check found wrong; empty when the restore is good


def identities_from(path: Path) -> list[pyrage.x25519.Identity]:
    """The age identities (AGE-SECRET-KEY-1…) of a key file as ``age-keygen`` writes it."""
    try:
        lines = path.read_text(encoding="ascii").splitlines()
        keys = [line.strip() for line in lines if line.startswith("AGE-SECRET-KEY-")]
        identities = [pyrage.x25519.Identity.from_str(key) for key in keys]
    except (OSError, UnicodeDecodeError, pyrage.IdentityError) as err:
        raise RestoreError(f"cannot read the identity {path}: {err}") from None
    if not identities:
        raise RestoreError(f"{path} holds no age identity (AGE-SECRET-KEY-1…)")
    return identities


class _Unpacker:
    """Takes the decrypted stream: the format line and the manifest, then the archive, which it
    passes on to pg_restore as it comes."""

    def __init__(self, archive: IO[bytes]) -> None:
        self.archive = archive
        self.head = b""
        self.manifest: dict[str, Any] | None = None
        self.refused: str | None = None  # why the plaintext is not a backup, once known

    def write(self, data: bytes) -> int:
        taken = len(data)  # all of it, header included: less would make pyrage write it again
        if self.manifest is None:
            self.head += data
            if self.head.count(b"\n") < 2:
                return taken
            if not self.head.startswith(FORMAT):
                self.refused = "not a bitagora central backup"
                raise RestoreError(self.refused)
            line, rest = self.head[len(FORMAT) :].split(b"\n", 1)
            self.manifest = json.loads(line)
            data = rest
        self.archive.write(data)
        return taken

    def flush(self) -> None:
        self.archive.flush()


def _decrypt_into_database(
    backup: Path, identities: list[pyrage.x25519.Identity], database_url: str
) -> dict[str, Any]:
    url, env = pg_connection(database_url)
    # One transaction: a damaged or truncated file restores nothing at all.
    command = [postgres_tool("pg_restore"), "--single-transaction", "--exit-on-error"]
    command += ["--no-owner", f"--dbname={url}"]
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(command, stdin=subprocess.PIPE, stderr=errors, env=env) as restore,
    ):
        assert restore.stdin is not None
        unpacker = _Unpacker(restore.stdin)
        try:
            with backup.open("rb") as encrypted:
                pyrage.decrypt_io(encrypted, unpacker, identities)
        except (OSError, pyrage.DecryptError, RestoreError) as err:
            restore.kill()
            why = unpacker.refused or "wrong identity, or the file is damaged"
            raise RestoreError(f"cannot restore {backup.name}: {why}") from err
        finally:
            restore.stdin.close()
        if restore.wait() != 0:
            errors.seek(0)
            raise RestoreError(f"pg_restore failed: {errors.read().decode().strip()}")
    if unpacker.manifest is None:
        raise RestoreError(f"{backup.name} is cut short")
    return unpacker.manifest


async def check_chains(conn: asyncpg.Connection) -> tuple[int, int, list[str]]:
    """Verify every device's journal; return devices, records checked and the problems."""
    problems, records = [], 0
    devices = await conn.fetch(
        "SELECT device_id, public_key, held_seq, held_hash FROM devices ORDER BY device_id"
    )
    for device in devices:
        device_id = device["device_id"]
        key = Ed25519PublicKey.from_public_bytes(bytes(device["public_key"]))
        seq, last_hash = 0, None
        try:
            while True:
                rows = await conn.fetch(
                    f"SELECT {COLUMNS} FROM journal_records"
                    " WHERE device_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                    device_id,
                    seq,
                    PAGE,
                )
                if not rows:
                    break
                chunk = [held_record(device_id, r) for r in rows]
                verify_chain(chunk, key, device_id, seq + 1, last_hash)
                seq, last_hash = chunk[-1].seq, chunk[-1].hash
        except JournalError as err:
            problems.append(f"device {device_id}: journal record {err}")
            continue
        records += seq
        if (seq, last_hash) != (device["held_seq"], device["held_hash"]):
            problems.append(
                f"device {device_id}: journal ends at seq {seq}, central held {device['held_seq']}"
            )
    return len(devices), records, problems


async def restore(
    database_url: str, backup: Path, identities: list[pyrage.x25519.Identity]
) -> Restored:
    started = time.monotonic()
    conn = await asyncpg.connect(database_url)
    try:
        if await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"):
            raise RestoreError("the database is not empty: restore into a new one")
        # The role the pages run as belongs to the server, not to the dump (migration 0004).
        await conn.execute(
            "DO $$ BEGIN CREATE ROLE bitagora_web NOLOGIN;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$;"
            " GRANT bitagora_web TO CURRENT_USER"
        )
        manifest = await asyncio.to_thread(_decrypt_into_database, backup, identities, database_url)
        expected: dict[str, int] = manifest["rows"]
        found = await table_rows(conn)
        problems = [
            f"table {table}: {found.get(table)} rows, the backup had {count}"
            for table, count in sorted(expected.items())
            if found.get(table) != count
        ]
        devices, records, chain_problems = await check_chains(conn)
    finally:
        await conn.close()
    return Restored(
        rows=sum(found.values()),
        tables=len(found),
        devices=devices,
        records=records,
        seconds=time.monotonic() - started,
        problems=problems + chain_problems,
    )
