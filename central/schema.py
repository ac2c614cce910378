"""Central's schema migrations: apply, roll back, and refuse a database that does not match them.

Each step is ``NNNN_name.sql`` in ``supabase/migrations`` (packaged as ``central/migrations``),
with its rollback ``NNNN_name.down.sql`` beside it. ``schema_migrations`` records every applied
step with the SHA-256 of its file, so a file edited after it was applied is refused rather than
silently differing from what the database holds.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

# Installed wheels carry the SQL in central/migrations (pyproject force-include); a source checkout
# reads the project's supabase/migrations directly.
_PACKAGED_MIGRATIONS = Path(__file__).parent / "migrations"
_SOURCE_MIGRATIONS = Path(__file__).resolve().parents[1] / "supabase" / "migrations"
_UP_NAME = re.compile(r"^(\d{4})_[A-Za-z0-9_]+\.sql$")
# Any constant works; it only has to be the same for every central sharing one database.
_MIGRATION_LOCK = 0x62697461676F7261  # "bitagora"
# The runner's own table. The checksum column came after the table: ADD COLUMN brings an older
# central's table up to date (its rows get the checksum of the file found at the next start).
# Row level security keeps it from Supabase's API, as 0001 does for every table.
_SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version text PRIMARY KEY, name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now());"
    " ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text;"
    " ALTER TABLE schema_migrations ENABLE ROW LEVEL SECURITY"
)


class MigrationError(Exception):
    """The database and the migration files disagree; the message says how and what to do."""


@dataclass(frozen=True)
class Migration:
    version: str
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def down_path(self) -> Path:
        return self.path.with_name(self.path.name.removesuffix(".sql") + ".down.sql")

    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Applied:
    version: str
    name: str
    checksum: str | None


@dataclass(frozen=True)
class Status:
    """Where a database stands against the files: ``problems`` empty means current."""

    applied: list[Applied]
    pending: list[Migration]
    problems: list[str]


def migrations_dir() -> Path:
    return _PACKAGED_MIGRATIONS if _PACKAGED_MIGRATIONS.is_dir() else _SOURCE_MIGRATIONS


def list_migrations(directory: Path | None = None) -> list[Path]:
    """The up migration files, in the order they apply (by their four-digit prefix)."""
    return [m.path for m in migration_files(directory)]


def migration_files(directory: Path | None = None) -> list[Migration]:
    folder = directory or migrations_dir()
    found = sorted(
        (Migration(m.group(1), p) for p in folder.iterdir() if (m := _UP_NAME.match(p.name))),
        key=lambda m: m.name,
    )
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a number in {folder}")
    return found


async def _applied(conn: asyncpg.Connection) -> list[Applied]:
    rows = await conn.fetch(
        "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
    )
    return [Applied(r["version"], r["name"], r["checksum"]) for r in rows]


def compare(applied: Sequence[Applied], files: Sequence[Migration]) -> Status:
    """What is pending, and every way the recorded steps differ from the files."""
    by_version = {m.version: m for m in files}
    problems = []
    for step in applied:
        file = by_version.get(step.version)
        if file is None:
            problems.append(
                f"migration {step.name} is applied but this central has no such file: "
                "run the central that applied it (or roll it back with it)"
            )
        elif step.checksum is not None and step.checksum != file.checksum():
            problems.append(
                f"migration {file.name} was edited after it was applied (checksum differs): "
                "restore the file as applied; changes go in a new migration"
            )
    done = {step.version for step in applied}
    return Status(list(applied), [m for m in files if m.version not in done], problems)


async def status(conn: asyncpg.Connection, directory: Path | None = None) -> Status:
    await conn.execute(_SCHEMA_TABLE)
    return compare(await _applied(conn), migration_files(directory))


async def apply_migrations(
    conn: asyncpg.Connection, directory: Path | None = None, *, to: str | None = None
) -> list[str]:
    """Apply the pending migrations (up to version ``to``, default all); return their names.

    Refuses (``MigrationError``) when an applied file was edited or is missing. Each runs in its
    own transaction. A session advisory lock serialises centrals that start at the same time.
    """
    files = migration_files(directory)
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(_SCHEMA_TABLE)
        await _record_missing_checksums(conn, files)
        current = compare(await _applied(conn), files)
        if current.problems:
            raise MigrationError("; ".join(current.problems))
        for migration in current.pending:
            if to is not None and migration.version > to:
                break
            async with conn.transaction():
                # No arguments: asyncpg uses the simple protocol, which runs a multi-statement file.
                await conn.execute(migration.path.read_text(encoding="utf-8"))
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum(),
                )
            log.info("applied migration %s", migration.name)
            applied_now.append(migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied_now


async def _record_missing_checksums(conn: asyncpg.Connection, files: Sequence[Migration]) -> None:
    # Steps applied by a central from before checksums: the file found now is taken as the one
    # applied (nothing else is known), and it is held to that from here on.
    for migration in files:
        await conn.execute(
            "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL",
            migration.version,
            migration.checksum(),
        )


async def roll_back(conn: asyncpg.Connection, to: str, directory: Path | None = None) -> list[str]:
    """Undo the applied migrations above version ``to``, newest first; return their names.

    Every one of them needs its ``.down.sql``; if one lacks it, nothing is undone.
    """
    files = migration_files(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(_SCHEMA_TABLE)
        current = compare(await _applied(conn), files)
        if current.problems:
            raise MigrationError("; ".join(current.problems))
        by_version = {m.version: m for m in files}
        undo = [by_version[a.version] for a in reversed(current.applied) if a.version > to]
        missing = [m.down_path.name for m in undo if not m.down_path.is_file()]
        if missing:
            raise MigrationError(f"no rollback file: {', '.join(missing)}")
        undone = []
        for migration in undo:
            async with conn.transaction():
                await conn.execute(migration.down_path.read_text(encoding="utf-8"))
                await conn.execute(
                    "DELETE FROM schema_migrations WHERE version = $1", migration.version
                )
            log.info("rolled back migration %s", migration.name)
            undone.append(migration.name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return undone
