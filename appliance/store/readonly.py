"""A device database file read beside the running kiosk, never written (``mode=ro``): the
reports, the journal's verification and a restore's checks read it this way."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.store import journal
from bitagora_protocol.journal import JournalError, Record


@contextmanager
def open_read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """``path`` opened read-only; FileNotFoundError when there is no such file (SQLite would
    make an empty one, or fail later with a vaguer error)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


def journal_records(conn: sqlite3.Connection, kind: str | None = None) -> Iterator[Record]:
    """The journal's records in order (only those of ``kind``, if given); JournalError names a
    record that cannot be read."""
    where = " WHERE kind = ?" if kind else ""
    sql = f"SELECT {journal.COLUMNS} FROM journal{where} ORDER BY seq"
    for row in conn.execute(sql, (kind,) if kind else ()):
        try:
            yield journal.record_from_row(row)
        except ValueError as err:
            raise JournalError(row[0], f"unreadable record: {err}") from None


def uplink_value(path: Path, key: str) -> str | None:
    """What the uplink saved under ``key`` in the database at ``path`` (None: nothing, or no
    readable database there)."""
    try:
        return state_value(path, key)
    except (OSError, sqlite3.Error):
        return None


def state_value(path: Path, key: str) -> str | None:
    """The ``uplink_state`` value of ``key`` at ``path`` (None: no such key); OSError or
    sqlite3.Error when the database cannot be read."""
    with open_read_only(path) as conn:
        row = conn.execute("SELECT value FROM uplink_state WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def sold_since_last_z(path: Path) -> bool:
    """Whether the journal at ``path`` holds a sale after its last Z closing (or a sale and no
    Z at all)."""
    with open_read_only(path) as conn:
        row = conn.execute(
            "SELECT (SELECT max(seq) FROM journal WHERE kind = 'sale'),"
            " (SELECT max(seq) FROM journal WHERE kind = 'z_close')"
        ).fetchone()
    last_sale, last_z = row
    return last_sale is not None and (last_z is None or last_sale > last_z)
