"""Remote actions on the device (migration 0018; docs/PROTOCOL.md 2.7): stored by the uplink
once verified, claimed and finished by the process that runs their kind, reported to central
by the uplink.

A claim is a conditional update (``queued`` → ``running``) in a write transaction, so the kiosk
and the uplink (two processes on one database) never both take an action, and the uplink
expiring an action (a conditional update too) cannot race the kiosk starting it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.store.db import fetch_one, transaction
from bitagora_protocol.journal import utc_now
from bitagora_protocol.remote_action import RemoteAction

# Reported actions are kept this long past their expiry (then they could not be replayed anyway).
KEEP_AFTER_EXPIRY_S = 7 * 86400


@dataclass(frozen=True)
class StoredAction:
    id: int
    kind: str
    parameters: dict[str, Any]
    expires_at: int


@dataclass(frozen=True)
class Finished:
    id: int
    state: str
    result: dict[str, Any]


async def receive(conn: aiosqlite.Connection, action: RemoteAction, signed: str) -> bool:
    """Store a verified action; False when its id is known already (a replay, or a second
    fetch before the first result reached central)."""
    async with transaction(conn):
        cursor = await conn.execute(
            "INSERT INTO remote_actions (id, kind, parameters, signed, expires_at, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                action.id,
                action.kind,
                json.dumps(action.parameters),
                signed,
                action.expires_at,
                utc_now(),
            ),
        )
        return cursor.rowcount == 1


async def claim(
    conn: aiosqlite.Connection, kinds: Sequence[str], now: float
) -> StoredAction | None:
    """The oldest queued action of ``kinds`` not expired at ``now`` (unix s), now running. Looked
    for first without a write transaction (the kiosk asks every few seconds, mostly in vain);
    taken only if it is still queued."""
    marks = ", ".join("?" * len(kinds))
    row = await fetch_one(
        conn,
        "SELECT id, kind, parameters, expires_at FROM remote_actions"
        f" WHERE state = 'queued' AND kind IN ({marks}) AND expires_at > ? ORDER BY id LIMIT 1",
        (*kinds, int(now)),
    )
    if row is None:
        return None
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE remote_actions SET state = 'running' WHERE id = ? AND state = 'queued'",
            (row[0],),
        )
        if cursor.rowcount != 1:
            return None  # the other process took it, or expired it, in between
    return StoredAction(int(row[0]), str(row[1]), json.loads(row[2]), int(row[3]))


async def finish(
    conn: aiosqlite.Connection, action_id: int, state: str, result: dict[str, Any]
) -> bool:
    """Record an action's outcome (``done`` or ``failed``); False if it was finished already."""
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE remote_actions SET state = ?, result = ?, finished_at = ?"
            " WHERE id = ? AND finished_at IS NULL",
            (state, json.dumps(result), utc_now(), action_id),
        )
        return cursor.rowcount == 1


async def running(conn: aiosqlite.Connection, kinds: Sequence[str]) -> list[StoredAction]:
    """Actions of ``kinds`` left running (their process stopped while running them)."""
    marks = ", ".join("?" * len(kinds))
    rows = await conn.execute_fetchall(
        "SELECT id, kind, parameters, expires_at FROM remote_actions"
        f" WHERE state = 'running' AND kind IN ({marks}) ORDER BY id",
        tuple(kinds),
    )
    return [StoredAction(int(r[0]), str(r[1]), json.loads(r[2]), int(r[3])) for r in rows]


async def expire(conn: aiosqlite.Connection, now: float) -> int:
    """Fail the queued actions whose expiry passed before anyone ran them; return how many."""
    async with transaction(conn):
        cursor = await conn.execute(
            "UPDATE remote_actions SET state = 'failed', result = ?, finished_at = ?"
            " WHERE state = 'queued' AND expires_at <= ?",
            (
                json.dumps({"error": "expired on the device before it could run"}),
                utc_now(),
                int(now),
            ),
        )
        return cursor.rowcount


async def unreported(conn: aiosqlite.Connection) -> list[Finished]:
    rows = await conn.execute_fetchall(
        "SELECT id, state, result FROM remote_actions"
        " WHERE finished_at IS NOT NULL AND reported_at IS NULL ORDER BY id"
    )
    return [Finished(int(r[0]), str(r[1]), json.loads(r[2])) for r in rows]


async def mark_reported(conn: aiosqlite.Connection, action_id: int, now: float) -> None:
    """Central took the result; forget actions reported long after their expiry."""
    async with transaction(conn):
        await conn.execute(
            "UPDATE remote_actions SET reported_at = ? WHERE id = ?", (utc_now(), action_id)
        )
        await conn.execute(
            "DELETE FROM remote_actions WHERE reported_at IS NOT NULL AND expires_at < ?",
            (int(now) - KEEP_AFTER_EXPIRY_S,),
        )


async def get(conn: aiosqlite.Connection, action_id: int) -> dict[str, Any] | None:
    """One action's row (for the technician and tests): kind, state, result."""
    row = await fetch_one(
        conn, "SELECT kind, state, result FROM remote_actions WHERE id = ?", (action_id,)
    )
    if row is None:
        return None
    return {"kind": row[0], "state": row[1], "result": json.loads(row[2]) if row[2] else None}
