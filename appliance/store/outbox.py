"""The outbox: journal records not yet acknowledged by central, and the uplink's saved state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import aiosqlite

from appliance.store import journal
from appliance.store.db import fetch_one, transaction
from bitagora_protocol.journal import Record


@dataclass(frozen=True)
class Backlog:
    count: int
    oldest_queued_at: str | None
    first_seq: int | None
    last_seq: int | None

    def oldest_age_s(self, now: datetime | None = None) -> int | None:
        if self.oldest_queued_at is None:
            return None
        queued = datetime.strptime(self.oldest_queued_at, "%Y-%m-%dT%H:%M:%S.%fZ")
        age = (now or datetime.now(UTC)) - queued.replace(tzinfo=UTC)
        return max(0, int(age.total_seconds()))


async def backlog(conn: aiosqlite.Connection) -> Backlog:
    row = await fetch_one(conn, "SELECT count(*), min(queued_at), min(seq), max(seq) FROM outbox")
    assert row is not None
    return Backlog(row[0], row[1], row[2], row[3])


async def pending(conn: aiosqlite.Connection, limit: int) -> list[Record]:
    """The oldest unacknowledged records, a contiguous run starting at the lowest queued seq."""
    first = await first_pending(conn)
    return [] if first is None else await journal.read_range(conn, first, limit)


async def first_pending(conn: aiosqlite.Connection) -> int | None:
    """The lowest unacknowledged seq (None: nothing to send); every later record is queued too."""
    row = await fetch_one(conn, "SELECT min(seq) FROM outbox")
    return None if row is None or row[0] is None else int(row[0])


async def acknowledge(conn: aiosqlite.Connection, held_seq: int) -> int:
    """Central holds everything up to ``held_seq``: drop those rows; return how many went."""
    async with transaction(conn):
        cursor = await conn.execute("DELETE FROM outbox WHERE seq <= ?", (held_seq,))
        await set_state(conn, "acked_seq", str(held_seq), in_transaction=True)
    return cursor.rowcount


# The enrollment (written by the uplink; read by a restore, which checks the backup against
# central).
DEVICE_ID = "device_id"
MERCHANT = "merchant"
CENTRAL_URL = "central_url"
# What the kiosk last saw of its devices, for the uplink's heartbeat: one key a device, so the
# print worker and the drawer watch never overwrite each other's part.
PRINTER_STATUS = "printer_status"
DRAWER_STATUS = "drawer_status"
# The payment services' problems ({"lightning" | "chain" | "rates": words or null}).
PAYMENT_STATUS = "payment_status"
# Whether a sale is under way at the kiosk (services/activity.py): the update installer waits
# for "idle". A kiosk that never wrote it (none running) leaves the till idle.
TILL_STATE = "till_state"
TILL_IDLE = "idle"
TILL_BUSY = "busy"
# The uplink's permanent refusal (its heartbeat's uplink.refused as JSON, "null" when none), for
# `bitagora doctor`, which runs in another process.
UPLINK_REFUSED = "uplink_refused"


async def get_state(conn: aiosqlite.Connection, key: str) -> str | None:
    row = await fetch_one(conn, "SELECT value FROM uplink_state WHERE key = ?", (key,))
    return row[0] if row else None


async def get_states(conn: aiosqlite.Connection, *keys: str) -> dict[str, str]:
    """The saved values of those of ``keys`` that have one."""
    marks = ", ".join("?" * len(keys))
    rows = await conn.execute_fetchall(
        f"SELECT key, value FROM uplink_state WHERE key IN ({marks})", keys
    )
    return {str(row[0]): str(row[1]) for row in rows}


async def set_state(
    conn: aiosqlite.Connection, key: str, value: str, in_transaction: bool = False
) -> None:
    sql = (
        "INSERT INTO uplink_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
    )
    if in_transaction:
        await conn.execute(sql, (key, value))
        return
    async with transaction(conn):
        await conn.execute(sql, (key, value))
