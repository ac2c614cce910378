"""Changes of staff, at the kiosk (a manager, or a cashier with a manager's approval) or at the
device's shell (``bitagora staff``): add someone, give them a new PIN, deactivate and reactivate
them, change a name, role or own screen language.

Each change is one ``staff`` journal record, written in the same transaction as the change
(docs/PROTOCOL.md 1.4). The record names the action, the person as they are after it and who
did it; never a PIN, nor its hash (a 4-digit PIN is found from its hash in seconds).

The rules are the till's, whichever UI asks:
- only a manager manages staff (``manage_staff`` in core/roles.py);
- a PIN belongs to one active person (``PinTaken``): the PIN alone says who is typing;
- the last active manager stays active and a manager: without one, nobody could approve
  anything or add the next manager at the till;
- nobody deactivates themselves (a manager would be left logged in as nobody);
- reactivating someone gives them a new PIN: while they were away, their old one may have been
  given to someone else, and a stored hash cannot be compared with another.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import aiosqlite

from appliance.core.pin import check_pin_form
from appliance.core.roles import ROLES
from appliance.core.staff import staff_id_for
from appliance.i18n import LANGUAGES
from appliance.services.access import AccessService
from appliance.store import journal
from appliance.store import staff as staff_store
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import PinTaken, Staff
from bitagora_protocol.journal import Record

__all__ = ["CLI", "LastManager", "PinTaken", "StaffChange", "StaffError", "StaffService"]

log = logging.getLogger(__name__)

# ``by`` for a change made at the device's shell: whoever has it needs no manager's PIN.
CLI: Literal["cli"] = "cli"
MAX_NAME_LENGTH = 40


class StaffError(ValueError):
    """A change of staff the rules refuse; the message says why."""


class LastManager(StaffError):
    """The change would leave the till without an active manager."""


@dataclass(frozen=True)
class StaffChange:
    staff: Staff  # as the change left them
    record: Record  # its ``staff`` journal record


Change = Callable[[], Awaitable[tuple[Staff, Mapping[str, Any]]]]


class StaffService:
    def __init__(
        self, conn: aiosqlite.Connection, identity: DeviceIdentity, access: AccessService
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.access = access

    async def people(self) -> list[tuple[Staff, list[str]]]:
        """Everyone ever added, deactivated people too, with their badges' UIDs."""
        return await staff_store.all_staff(self.conn)

    async def add(
        self,
        name: str,
        role: str,
        pin: str,
        by: Staff | Literal["cli"],
        staff_id: str = "",
        language: str | None = None,
    ) -> StaffChange:
        """Add someone new; their id is ``staff_id`` or made from the name (``ana-maria``,
        ``ana-maria-2`` …), never one given before. ``language``: their own screen language
        (None: the shop's)."""
        name = _name(name)
        _role(role)
        _language(language)
        check_pin_form(pin)

        async def change() -> tuple[Staff, Mapping[str, Any]]:
            taken = await staff_store.ids(self.conn)
            if staff_id and staff_id in taken:
                raise StaffError(f"there is already a staff member {staff_id!r}")
            new = Staff(staff_id or staff_id_for(name, taken), name, role, language=language)
            await staff_store.refuse_taken_pin(self.conn, pin, new.id)
            await staff_store.insert(self.conn, new, pin)
            return new, {}

        return await self._change("added", by, change)

    async def put(
        self,
        staff_id: str,
        name: str,
        role: str,
        pin: str,
        by: Staff | Literal["cli"],
        language: str | None = None,
    ) -> StaffChange:
        """``bitagora staff add ID``: add ``staff_id``, or give them this name, role, PIN and
        own screen language (None: the shop's), recorded as ``changed``, with what they were
        before."""
        if not staff_id.strip():
            raise StaffError("a staff member needs an id")
        name = _name(name)
        _role(role)
        _language(language)
        check_pin_form(pin)
        if await staff_store.get(self.conn, staff_id) is None:
            return await self.add(name, role, pin, by, staff_id, language)

        async def change() -> tuple[Staff, Mapping[str, Any]]:
            before = await self._existing(staff_id)
            if role != "manager":
                await self._keep_a_manager(before)
            await staff_store.refuse_taken_pin(self.conn, pin, staff_id)
            after = replace(before, name=name, role=role, language=language)
            await staff_store.update(self.conn, after, pin)
            return after, {"previous": staff_store.previous(before)}

        return await self._change("changed", by, change)

    async def set_pin(self, staff_id: str, pin: str, by: Staff | Literal["cli"]) -> StaffChange:
        """Give an active staff member a new PIN (a forgotten one, or one somebody saw)."""
        check_pin_form(pin)

        async def change() -> tuple[Staff, Mapping[str, Any]]:
            staff = await self._existing(staff_id)
            if not staff.active:
                raise StaffError(f"{staff.name} is deactivated: reactivate them with a new PIN")
            await staff_store.refuse_taken_pin(self.conn, pin, staff_id)
            await staff_store.update(self.conn, staff, pin)
            return staff, {}

        return await self._change("pin_set", by, change)

    async def deactivate(self, staff_id: str, by: Staff | Literal["cli"]) -> StaffChange:
        """Stop someone's PIN and badges from opening anything; they keep their history."""

        async def change() -> tuple[Staff, Mapping[str, Any]]:
            staff = await self._existing(staff_id)
            if not staff.active:
                raise StaffError(f"{staff.name} is already deactivated")
            if by != CLI and by.id == staff.id:
                raise StaffError("nobody deactivates themselves: another manager must")
            await self._keep_a_manager(staff)
            after = replace(staff, active=False)
            await staff_store.update(self.conn, after)
            return after, {}

        return await self._change("deactivated", by, change)

    async def reactivate(self, staff_id: str, pin: str, by: Staff | Literal["cli"]) -> StaffChange:
        """Let a deactivated person in again, with a new PIN."""
        check_pin_form(pin)

        async def change() -> tuple[Staff, Mapping[str, Any]]:
            staff = await self._existing(staff_id)
            if staff.active:
                raise StaffError(f"{staff.name} is active already")
            await staff_store.refuse_taken_pin(self.conn, pin, staff_id)
            after = replace(staff, active=True)
            await staff_store.update(self.conn, after, pin)
            return after, {}

        return await self._change("reactivated", by, change)

    async def _existing(self, staff_id: str) -> Staff:
        staff = await staff_store.get(self.conn, staff_id)
        if staff is None:
            raise StaffError(f"no staff member {staff_id!r}")
        return staff

    async def _keep_a_manager(self, staff: Staff) -> None:
        """``LastManager`` when ``staff`` is the till's only active manager."""
        if staff.active and staff.role == "manager":
            if await staff_store.active_managers(self.conn) <= 1:
                raise LastManager(
                    f"{staff.name} is the till's last active manager: add another manager first"
                )

    async def _change(self, action: str, by: Staff | Literal["cli"], change: Change) -> StaffChange:
        """Check ``by`` may manage staff, then make the change and its record in one
        transaction (the rules are checked inside it: two changes at once cannot both pass)."""
        if by != CLI:
            await self.access.authorize(by, "manage_staff")
        async with transaction(self.conn):
            staff, extra = await change()
            by_whom = {"via": CLI} if by == CLI else {"id": by.id, "name": by.name}
            body = staff_store.record_body(action, staff, by_whom, **extra)
            record = await journal.append(self.conn, self.identity, "staff", body)
        who = CLI if by == CLI else by.id
        log.warning("staff %s", action, extra={"staff": staff.id, "by": who, "seq": record.seq})
        return StaffChange(staff, record)


def _name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise StaffError("type the person's name")
    if len(name) > MAX_NAME_LENGTH:
        raise StaffError(f"a name is at most {MAX_NAME_LENGTH} characters")
    return name


def _role(role: str) -> None:
    if role not in ROLES:
        raise StaffError(f"a role is one of {', '.join(ROLES)}")


def _language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise StaffError(f"a language is one of {', '.join(LANGUAGES)}")
