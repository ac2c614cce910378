"""PIN lockout state in the store (table ``pin_lockout``, migration 0007), with the journal.

The rules are ``core.lockout``'s; this module reads and writes each subject's state in a write
transaction (so two processes, the kiosk and ``bitagora doctor``, count into the same row), and
appends the ``staff_lockout`` record of a lockout or an unlock in that same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from appliance.core import lockout as rules
from appliance.core.lockout import Lockout, LockoutPolicy
from appliance.store import journal
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.journal import Record

COLUMNS = "failures, level, last_failure_at, locked_at, locked_for_s"


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else rules.rfc3339(moment)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _read(conn: aiosqlite.Connection, subject: str) -> Lockout:
    rows = list(
        await conn.execute_fetchall(
            f"SELECT {COLUMNS} FROM pin_lockout WHERE subject = ?", (subject,)
        )
    )
    if not rows:
        return Lockout()
    failures, level, last_failure_at, locked_at, locked_for_s = tuple(rows[0])
    return Lockout(
        failures,
        level,
        _time(last_failure_at),
        _time(locked_at),
        timedelta(seconds=locked_for_s),
    )


async def _write(conn: aiosqlite.Connection, subject: str, state: Lockout) -> None:
    if state == Lockout():
        await conn.execute("DELETE FROM pin_lockout WHERE subject = ?", (subject,))
        return
    await conn.execute(
        f"INSERT OR REPLACE INTO pin_lockout (subject, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
        (
            subject,
            state.failures,
            state.level,
            _text(state.last_failure_at),
            _text(state.locked_at),
            int(state.locked_for.total_seconds()),
        ),
    )


async def current(
    conn: aiosqlite.Connection, subject: str, now: datetime, policy: LockoutPolicy
) -> Lockout:
    """``subject``'s state as of ``now``; a state the clock changed (a lock that ended, a clock
    that went back) is stored, so the next reader agrees."""
    stored = await _read(conn, subject)
    state = rules.observe(stored, now, policy)
    if state != stored:
        async with transaction(conn):
            if await _read(conn, subject) == stored:  # nobody counted meanwhile
                await _write(conn, subject, state)
    return state


@dataclass(frozen=True)
class Failure:
    state: Lockout
    record: Record | None  # the ``staff_lockout`` record when this PIN started a lockout


async def fail(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    subject: str,
    now: datetime,
    policy: LockoutPolicy,
    action: str,
    staff: tuple[str, str] | None = None,
) -> Failure:
    """Count a wrong PIN against ``subject``; a lockout it starts is journalled in the same
    transaction. ``staff`` is (id, name) of a ``staff:`` subject."""
    async with transaction(conn):
        state, locked = rules.fail(await _read(conn, subject), now, policy)
        await _write(conn, subject, state)
        record = None
        if locked:
            body = rules.locked_body(subject, state, action, staff, policy)
            record = await journal.append(conn, identity, "staff_lockout", body)
    return Failure(state, record)


async def lift(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    subject: str,
    now: datetime,
    via: str,
    staff: tuple[str, str] | None = None,
    by: tuple[str, str] | None = None,
) -> Record | None:
    """Lift ``subject``'s lockout before its time, forgetting its wrong PINs and its escalation,
    with a ``staff_lockout`` record in the same transaction. None (and nothing written) when it
    is not locked."""
    async with transaction(conn):
        state = await _read(conn, subject)
        if not state.locked(now):
            return None
        await _write(conn, subject, Lockout())
        body = rules.unlocked_body(subject, via, staff, by)
        return await journal.append(conn, identity, "staff_lockout", body)


async def locked_subjects(conn: aiosqlite.Connection, now: datetime) -> dict[str, timedelta]:
    """Every subject locked at ``now``, with how long it still lasts."""
    rows = await conn.execute_fetchall(
        "SELECT subject FROM pin_lockout WHERE locked_at IS NOT NULL"
    )
    found = {}
    for (subject,) in rows:
        left = (await _read(conn, subject)).remaining(now)
        if left:
            found[subject] = left
    return found
