"""Staff in the device store: who may use the till, their PIN hashes, badges, whether they are
active (migration 0016) and the screen language they chose (None: the shop's).

A PIN says who is typing it, so it belongs to one active person (``PinTaken``); it is stored
only as a scrypt hash, each with its own salt, so finding a PIN's owner checks every hash. A
deactivated person keeps their row and badges (records name them) but unlocks nothing: the
lookups still find them, so that the till can say "deactivated" rather than "wrong PIN".

``add_staff`` writes without a journal record: for the demo staff and the setup file's first
manager. Changes of staff made at the till or its shell go through ``services.staff``, which
writes with ``insert``/``update`` inside its own transaction, beside the ``staff`` record."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.core.pin import check_pin, hash_pin
from appliance.store.db import fetch_one, transaction
from bitagora_protocol.badge_uid import BadgeUidError, normalize_uid

COLUMNS = "id, name, role, active, language"
# The stored hash of someone who has no PIN yet (added on central: a manager sets one at the
# till, or they use a badge). No PIN matches it.
NO_PIN = ""


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    role: str
    active: bool = True
    language: str | None = None  # the screens speak it from their login; None: the shop's


class PinTaken(ValueError):
    """A PIN that already unlocks the till for someone else."""


class BadgeError(ValueError):
    """A badge UID that cannot be bound: malformed, or already someone else's."""


def _staff(row: Any) -> Staff:
    staff_id, name, role, active, language = tuple(row)
    return Staff(staff_id, name, role, bool(active), language)


def _in_transaction(conn: aiosqlite.Connection) -> None:
    if not conn.in_transaction:
        raise RuntimeError("staff changes need an open write transaction")


async def add_staff(
    conn: aiosqlite.Connection,
    staff_id: str,
    name: str,
    role: str,
    pin: str,
    language: str | None = None,
) -> Staff:
    """Add ``staff_id`` or give them this name, role, PIN and language (and make them active),
    without a journal record (the demo staff, the setup file's first manager). ``PinTaken``
    when the PIN already unlocks the till for someone else."""
    staff = Staff(staff_id, name, role, language=language)
    async with transaction(conn):  # checked inside: two adds at once cannot both pass
        await refuse_taken_pin(conn, pin, staff_id)
        if await get(conn, staff_id) is None:
            await insert(conn, staff, pin)
        else:
            await update(conn, staff, pin)
    return staff


async def refuse_taken_pin(conn: aiosqlite.Connection, pin: str, staff_id: str) -> None:
    """``PinTaken`` when ``pin`` unlocks the till for an active person other than ``staff_id``
    (the till would unlock as whoever it finds first)."""
    holder = await staff_by_pin(conn, pin)
    if holder is not None and holder.active and holder.id != staff_id:
        raise PinTaken("that PIN already belongs to someone else: choose another")


async def insert(conn: aiosqlite.Connection, staff: Staff, pin: str | None) -> None:
    """A new person, with no PIN yet when ``pin`` is None; the caller owns the transaction (and
    has checked the PIN is free)."""
    _in_transaction(conn)
    await conn.execute(
        "INSERT INTO staff (id, name, role, active, language, pin_hash) VALUES (?, ?, ?, ?, ?, ?)",
        (
            staff.id,
            staff.name,
            staff.role,
            int(staff.active),
            staff.language,
            NO_PIN if pin is None else hash_pin(pin),
        ),
    )


async def forget_pin(conn: aiosqlite.Connection, staff_id: str) -> None:
    """Leave ``staff_id`` without a PIN until one is set at the till; the caller owns the
    transaction."""
    _in_transaction(conn)
    await conn.execute("UPDATE staff SET pin_hash = ? WHERE id = ?", (NO_PIN, staff_id))


def record_body(action: str, staff: Staff, by: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """The body of the ``staff`` record of a change (docs/PROTOCOL.md 1.4): never a PIN, nor
    its hash; the person's ``language`` only when they have their own."""
    person = {"id": staff.id, "name": staff.name, "role": staff.role, "active": staff.active}
    if staff.language is not None:
        person["language"] = staff.language
    return {"action": action, "staff": person, "by": dict(by), **extra}


def previous(staff: Staff) -> dict[str, Any]:
    """What a ``changed`` record says the person was before: name, role, and their own
    language when they had one."""
    before: dict[str, Any] = {"name": staff.name, "role": staff.role}
    if staff.language is not None:
        before["language"] = staff.language
    return before


async def update(conn: aiosqlite.Connection, staff: Staff, pin: str | None = None) -> None:
    """Give ``staff.id`` the name, role, active flag and language of ``staff``, and ``pin``
    unless None; the caller owns the transaction."""
    _in_transaction(conn)
    values: tuple[Any, ...] = (staff.name, staff.role, int(staff.active), staff.language)
    set_pin = ""
    if pin is not None:
        set_pin, values = ", pin_hash = ?", (*values, hash_pin(pin))
    await conn.execute(
        f"UPDATE staff SET name = ?, role = ?, active = ?, language = ?{set_pin} WHERE id = ?",
        (*values, staff.id),
    )


async def get(conn: aiosqlite.Connection, staff_id: str) -> Staff | None:
    row = await fetch_one(conn, f"SELECT {COLUMNS} FROM staff WHERE id = ?", (staff_id,))
    return _staff(row) if row else None


async def ids(conn: aiosqlite.Connection) -> set[str]:
    """Every id given so far, deactivated people's too (an id is never given twice)."""
    return {str(row[0]) for row in await conn.execute_fetchall("SELECT id FROM staff")}


async def active_managers(conn: aiosqlite.Connection) -> int:
    row = await fetch_one(conn, "SELECT count(*) FROM staff WHERE role = 'manager' AND active = 1")
    return int(row[0]) if row else 0


async def has_staff(conn: aiosqlite.Connection) -> bool:
    """Whether anybody may use the till: someone active."""
    row = await fetch_one(conn, "SELECT EXISTS (SELECT 1 FROM staff WHERE active = 1)")
    return bool(row and row[0])


async def all_staff(conn: aiosqlite.Connection) -> list[tuple[Staff, list[str]]]:
    """Everyone who was ever added (deactivated people too), with the UIDs of their badges."""
    people = await conn.execute_fetchall(f"SELECT {COLUMNS} FROM staff ORDER BY id")
    badges = await conn.execute_fetchall("SELECT staff_id, uid FROM staff_badges ORDER BY uid")
    held: dict[str, list[str]] = {}
    for staff_id, uid in badges:
        held.setdefault(staff_id, []).append(uid)
    return [(_staff(row), held.get(row[0], [])) for row in people]


async def staff_by_pin(conn: aiosqlite.Connection, pin: str) -> Staff | None:
    """The person whose PIN this is: an active one first, else a deactivated one (whose PIN may
    since have been given to someone active; the caller refuses them). Each stored hash has its
    own salt, so each is checked."""
    rows = await conn.execute_fetchall(
        f"SELECT {COLUMNS}, pin_hash FROM staff ORDER BY active DESC, id"
    )

    def match() -> Staff | None:
        for row in rows:
            *person, pin_hash = tuple(row)
            if check_pin(pin, pin_hash):
                return _staff(person)
        return None

    # scrypt is slow on purpose; off the event loop so the screen and drivers keep running.
    return await asyncio.to_thread(match)


def normalize_badge_uid(uid: str) -> str:
    """``04:a2:24:…`` or ``04A224…`` → ``04A224…`` (``bitagora_protocol.badge_uid``)."""
    try:
        return normalize_uid(uid)
    except BadgeUidError as err:
        raise BadgeError(str(err)) from None


async def bind_badge(conn: aiosqlite.Connection, staff_id: str, uid: str) -> str:
    """Bind a badge to a staff member; binding it again to the same person is a no-op, to
    somebody else an error (a lost badge is unbound first, on purpose)."""
    uid = normalize_badge_uid(uid)
    async with transaction(conn):
        rows = list(
            await conn.execute_fetchall("SELECT staff_id FROM staff_badges WHERE uid = ?", (uid,))
        )
        if rows:
            owner = rows[0][0]
            if owner != staff_id:
                raise BadgeError(f"badge …{uid[-4:]} is already bound to {owner}")
            return uid
        if await get(conn, staff_id) is None:
            raise BadgeError(f"no staff member {staff_id!r}")
        await conn.execute(
            "INSERT INTO staff_badges (uid, staff_id) VALUES (?, ?)", (uid, staff_id)
        )
    return uid


async def replace_badges(conn: aiosqlite.Connection, staff_id: str, uids: Sequence[str]) -> None:
    """Make ``uids`` (normalized) all of ``staff_id``'s badges, taking any of them from whoever
    held it; the caller owns the transaction."""
    _in_transaction(conn)
    await conn.execute("DELETE FROM staff_badges WHERE staff_id = ?", (staff_id,))
    await conn.executemany("DELETE FROM staff_badges WHERE uid = ?", [(uid,) for uid in uids])
    await conn.executemany(
        "INSERT INTO staff_badges (uid, staff_id) VALUES (?, ?)", [(uid, staff_id) for uid in uids]
    )


async def unbind_badge(conn: aiosqlite.Connection, uid: str) -> bool:
    """Forget a badge (lost, or handed back); False when it was not bound."""
    uid = normalize_badge_uid(uid)
    async with transaction(conn):
        cursor = await conn.execute("DELETE FROM staff_badges WHERE uid = ?", (uid,))
    return cursor.rowcount > 0


async def staff_by_badge(conn: aiosqlite.Connection, uid: str) -> Staff | None:
    """The staff member a badge belongs to (deactivated too: the caller refuses them); None for
    an unknown or malformed UID."""
    try:
        uid = normalize_badge_uid(uid)
    except BadgeError:
        return None
    row = await fetch_one(
        conn,
        "SELECT s.id, s.name, s.role, s.active, s.language FROM staff_badges b"
        " JOIN staff s ON s.id = b.staff_id WHERE b.uid = ?",
        (uid,),
    )
    return _staff(row) if row else None
