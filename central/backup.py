"""Backups of central's database, encrypted to public keys so the host that keeps them cannot
read them, with retention by count and age, and a record that readiness watches.

A backup file ``central-<UTC time>.dump.age`` is an age file (age-encryption.org/v1, X25519
recipients, written with pyrage) whose plaintext is:

    bitagora-central-backup/1\\n
    {"created_at": …, "rows": {table: count, …}}\\n
    <pg_dump custom-format archive (compressed)>

The row counts are taken in the very snapshot pg_dump dumps (``pg_export_snapshot``), so a
restore can check it got exactly them (central/restore.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pyrage

from central.db import postgres_tool

FORMAT = b"bitagora-central-backup/1\n"
_STAMP = "%Y%m%dT%H%M%S%fZ"
_PREFIX, _SUFFIX = "central-", ".dump.age"


class BackupError(Exception):
    """A backup that could not be made; nothing was recorded."""


@dataclass(frozen=True)
class BackupDone:
    path: Path
    bytes: int
    rows: int
    seconds: float
    recorded: bool


def recipients_from(keys: Sequence[str]) -> list[pyrage.x25519.Recipient]:
    try:
        return [pyrage.x25519.Recipient.from_str(key.strip()) for key in keys]
    except pyrage.RecipientError as err:
        raise BackupError(f"not an age public key (age1…): {err}") from None


def pg_connection(database_url: str) -> tuple[str, dict[str, str]]:
    """The URL for a libpq program without its password (command lines are public on the
    machine) and the environment that carries it instead."""
    parts = urlsplit(database_url)
    env = dict(os.environ)
    if parts.password is not None:
        env["PGPASSWORD"] = parts.password
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        parts = parts._replace(netloc=f"{user}@{host}" if user else host)
    return urlunsplit(parts), env


async def table_rows(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows of every table of the public schema, as this transaction sees them."""
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
    )
    return {
        t["tablename"]: await conn.fetchval(f'SELECT count(*) FROM public."{t["tablename"]}"')
        for t in tables
    }


def backup_time(path: Path) -> datetime | None:
    name = path.name
    if not (name.startswith(_PREFIX) and name.endswith(_SUFFIX)):
        return None
    try:
        return datetime.strptime(name[len(_PREFIX) : -len(_SUFFIX)], _STAMP).replace(tzinfo=UTC)
    except ValueError:
        return None


def prune(folder: Path, keep: int, keep_days: float, now: datetime) -> list[Path]:
    """Delete backups beyond the newest ``keep`` and those older than ``keep_days``; the newest
    one always stays. Ages come from the names, which copying does not change."""
    dated = sorted(
        ((when, path) for path in folder.iterdir() if (when := backup_time(path)) is not None),
        reverse=True,
    )
    removed = []
    for index, (when, path) in enumerate(dated):
        if index > 0 and (index >= keep or now - when > timedelta(days=keep_days)):
            path.unlink()
            removed.append(path)
    return removed


class _Prefixed:
    """A reader giving ``head`` first, then what ``rest`` gives (pyrage reads in chunks)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if self.head:
            size = len(self.head) if size < 0 else size
            chunk, self.head = self.head[:size], self.head[size:]
            return chunk
        return self.rest.read(size)


class _Hashing:
    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.sha256, self.bytes = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.bytes += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def _dump_encrypted(
    database_url: str,
    snapshot: str,
    head: bytes,
    target: Path,
    recipients: list[pyrage.x25519.Recipient],
) -> tuple[int, str]:
    url, env = pg_connection(database_url)
    command = [postgres_tool("pg_dump"), "--format=custom", "--compress=6"]
    command += [f"--snapshot={snapshot}", f"--dbname={url}"]
    partial = target.with_name(f".{target.name}.partial")
    # Errors go to a file: a pipe nobody reads while the dump streams could fill and stall it.
    with (
        tempfile.TemporaryFile() as errors_file,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors_file, env=env) as dump,
    ):
        assert dump.stdout is not None
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                written = _Hashing(out)
                pyrage.encrypt_io(_Prefixed(head, dump.stdout), written, recipients)
                out.flush()
                os.fsync(out.fileno())
            if dump.wait() != 0:
                errors_file.seek(0)
                raise BackupError(f"pg_dump failed: {errors_file.read().decode().strip()}")
        except BaseException:
            dump.kill()
            partial.unlink(missing_ok=True)
            raise
    partial.rename(target)  # a file named like a backup is always a whole one
    return written.bytes, written.sha256.hexdigest()


async def back_up(
    database_url: str,
    folder: Path,
    recipients: list[pyrage.x25519.Recipient],
) -> BackupDone:
    if not recipients:
        raise BackupError("no recipient: give the public key (age1…) the backup is encrypted to")
    started, clock = datetime.now(UTC), time.monotonic()
    target = folder / f"{_PREFIX}{started.strftime(_STAMP)}{_SUFFIX}"
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            rows = await table_rows(conn)
            manifest: dict[str, Any] = {"created_at": started.isoformat(), "rows": rows}
            head = FORMAT + json.dumps(manifest, sort_keys=True).encode() + b"\n"
            size, sha256 = await asyncio.to_thread(
                _dump_encrypted, database_url, snapshot, head, target, recipients
            )
        # Older schemas (before migration 0008) have nowhere to record it; the file is still good.
        recorded = bool(await conn.fetchval("SELECT to_regclass('central_backups') IS NOT NULL"))
        if recorded:
            await conn.execute(
                "INSERT INTO central_backups (file, bytes, sha256, rows, started_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                target.name,
                size,
                sha256,
                sum(rows.values()),
                started,
            )
    finally:
        await conn.close()
    return BackupDone(target, size, sum(rows.values()), time.monotonic() - clock, recorded)
