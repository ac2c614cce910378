"""Opening the device database: WAL, synchronous=FULL, versioned migrations.

Migrations are the numbered SQL files in ``migrations/``; ``PRAGMA user_version`` records the last
applied one. Each migration runs in its own transaction, so a crash mid-upgrade leaves the previous
version intact.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# How long a sale's commit waits for the write lock, where other writes give up after
# BUSY_TIMEOUT_MS: a catalog import holds the lock while it writes (seconds at 500,000 products,
# longer on a Pi), and a sale that is paid must not fail for that (docs/CATALOG.md).
SALE_LOCK_WAIT_S = 300.0
# SQLite's own default: a commit that fills the WAL past this many pages copies it back into the
# database file (a checkpoint, with an fsync) before it returns.
DEFAULT_CHECKPOINT_PAGES = 1000
# For a connection whose owner checkpoints after its latency-sensitive commits (the till, after a
# sale): SQLite's own checkpoint stays only as a backstop, so a sale rarely pays for one.
BACKSTOP_CHECKPOINT_PAGES = 10000


class StoreError(RuntimeError):
    """The database cannot be opened or migrated."""


def migrations(folder: Traversable | None = None) -> list[tuple[int, str]]:
    """The numbered migrations of ``folder`` (default: the package's own), in order."""
    folder = folder or resources.files("appliance.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        match = re.fullmatch(r"(\d{4})_\w+\.sql", entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    # A gap would let a database that skipped a number never receive it: refuse to start.
    numbers = [version for version, _ in found]
    if numbers != list(range(1, len(found) + 1)):
        raise StoreError(f"migrations must be numbered 1..N without gaps, found {numbers}")
    return found


async def open_db(
    path: Path, checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES
) -> aiosqlite.Connection:
    """Open (creating if needed) and migrate the store; the caller closes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = await fetch_one(conn, "PRAGMA journal_mode = WAL")
        if mode is None or mode[0] != "wal":
            raise StoreError(f"{path}: cannot switch to WAL journal mode")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA wal_autocheckpoint = {int(checkpoint_pages)}")
        await _migrate(conn)
    except BaseException:
        await conn.close()
        raise
    conn.row_factory = aiosqlite.Row
    return conn


async def fetch_one(
    conn: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()
) -> tuple[Any, ...] | None:
    """The first row of ``sql``, read to the end: ``(await conn.execute(...)).fetchone()`` leaves
    the statement open, and an open statement makes SQLite refuse a checkpoint on the connection
    ("database table is locked")."""
    rows = list(await conn.execute_fetchall(sql, params))
    return tuple(rows[0]) if rows else None


async def checkpoint(conn: aiosqlite.Connection) -> None:
    """Copy committed WAL pages into the database file without blocking other connections
    (PASSIVE). Durability does not depend on it: a commit is durable once its WAL is synced."""
    async with _WRITERS.setdefault(conn, asyncio.Lock()):  # not inside another task's BEGIN
        await conn.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")


async def _migrate(conn: aiosqlite.Connection) -> None:
    row = await fetch_one(conn, "PRAGMA user_version")
    current = row[0] if row else 0
    for version, sql in migrations():
        if version <= current:
            continue
        async with transaction(conn):
            # executescript would commit our transaction; run statement by statement instead.
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")


def _statements(sql: str) -> list[str]:
    """Split a migration into statements, keeping trigger bodies (BEGIN ... END;) whole."""
    import sqlite3

    statements, buffer = [], ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not buffer.strip().startswith("--"):
        raise StoreError("migration ends with an incomplete statement")
    return statements


# One lock per connection: tasks sharing a connection (a sale, the bitcoin payment watchers) take
# turns, or the second BEGIN would land inside the first task's transaction.
_WRITERS: weakref.WeakKeyDictionary[aiosqlite.Connection, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


# The task inside each connection's transaction, so that a store call made inside it (a seed of
# catalog, staff and badges, say) joins it instead of waiting for it for ever.
_OWNERS: weakref.WeakKeyDictionary[aiosqlite.Connection, tuple[asyncio.Task[Any], list[int]]] = (
    weakref.WeakKeyDictionary()
)


@asynccontextmanager
async def transaction(
    conn: aiosqlite.Connection, lock_wait_s: float = 0.0
) -> AsyncIterator[aiosqlite.Connection]:
    """One write transaction, taken with BEGIN IMMEDIATE so writers queue instead of failing
    (other connections by SQLite's busy timeout, other tasks on this one by a lock). Another
    connection holding the write lock past the busy timeout fails it ("database is locked"),
    unless ``lock_wait_s`` says to keep asking that long (``SALE_LOCK_WAIT_S``).

    Inside a transaction the same task already holds on ``conn``, it is a savepoint of that one:
    steps that must land together (a first start's seeding, for one) wrap the store calls that
    each take a transaction in one more, and a failure or a kill anywhere leaves none of them."""
    task = asyncio.current_task()
    owner = _OWNERS.get(conn)
    if owner is not None and task is not None and owner[0] is task:
        depth = owner[1]
        name = f"nested_{len(depth) + 1}"
        depth.append(0)
        try:
            await conn.execute(f"SAVEPOINT {name}")
            try:
                yield conn
            except BaseException:
                await conn.execute(f"ROLLBACK TO {name}")
                await conn.execute(f"RELEASE {name}")
                raise
            await conn.execute(f"RELEASE {name}")
        finally:
            depth.pop()
        return
    lock = _WRITERS.setdefault(conn, asyncio.Lock())
    async with lock:
        await _begin(conn, lock_wait_s)
        if task is not None:
            _OWNERS[conn] = (task, [])
        try:
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
        finally:
            _OWNERS.pop(conn, None)


async def _begin(conn: aiosqlite.Connection, lock_wait_s: float) -> None:
    """BEGIN IMMEDIATE, asked again while another connection holds the write lock, until
    ``lock_wait_s`` has passed (each attempt waits the busy timeout inside SQLite)."""
    deadline = time.monotonic() + lock_wait_s
    while True:
        try:
            await conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
            log.warning("the store's write lock is held elsewhere: still waiting")


async def integrity_check(conn: aiosqlite.Connection) -> list[str]:
    """SQLite's own check of the whole file: ``["ok"]``, or what is damaged."""
    rows = await conn.execute_fetchall("PRAGMA integrity_check")
    return [str(row[0]) for row in rows]


async def prove_writable(conn: aiosqlite.Connection) -> None:
    """Take the write lock and let it go, writing nothing: sqlite3.Error if this process could
    not write (a read-only file or folder, another writer holding the lock too long)."""
    await conn.execute("BEGIN IMMEDIATE")
    await conn.execute("ROLLBACK")
