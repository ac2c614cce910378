"""Who is at the till: unlock by PIN or badge, PIN lockouts, a manager's approval, roles, and
training mode. Every other service asks this one (``authorize``, ``approve``) before it acts.

A manager's approval is for one action (``approve``: a no-sale, a refund, a void), or, for the
manager menu's shift actions (paid in, paid out, X, Z), for a visit of the menu (``grant``): one
PIN or badge, journalled once as an ``approval`` record, then ``granted`` for each action until
the menu closes (``end_grant``) or ``GRANT_IDLE`` passes without one."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosqlite

from appliance.core.lockout import TILL, LockedOut, LockoutPolicy, staff_subject, utc_now
from appliance.core.roles import (
    NO_STAFF,
    Action,
    AuthError,
    Deactivated,
    NoStaff,
    NotAuthorized,
    allowed,
    require,
)
from appliance.store import journal, lockout
from appliance.store import staff as staff_store
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.journal import Record

__all__ = [
    "AccessService",
    "ApprovalLapsed",
    "AuthError",
    "Deactivated",
    "Grant",
    "LockedOut",
    "NoStaff",
    "NotAuthorized",
    "Staff",
]

log = logging.getLogger(__name__)

# The manager menu's actions one approval covers for the visit. Refunds, voids and no-sales
# take an approval each: each gives a named amount of money back or opens the drawer.
MENU_ACTIONS: tuple[Action, ...] = ("paid_in_out", "x_report", "z_close")
# A visit's approval lapses after this long without an action taken under it.
GRANT_IDLE = timedelta(minutes=2)


class ApprovalLapsed(AuthError):
    """A visit's approval that no longer covers anything: ended, idle too long, or not for
    that action. A manager approves again."""


@dataclass
class Grant:
    """A manager's approval of ``actions`` for ``requester`` over one visit of the menu."""

    approver: Staff
    requester: Staff
    actions: tuple[Action, ...]
    record: Record  # the ``approval`` record
    last_used: datetime


def refuse_deactivated(staff: Staff) -> None:
    """``Deactivated`` for someone whose PIN or badge no longer opens anything. Their right PIN
    is not counted as a wrong one: it gets nobody in, and the till can say why."""
    if not staff.active:
        log.warning("deactivated staff refused", extra={"staff": staff.id})
        raise Deactivated(staff.name)


class AccessService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        clock: Callable[[], datetime] = utc_now,
        lockout_policy: LockoutPolicy | None = None,
    ) -> None:
        """``clock``: the UTC wall clock PIN lockouts are timed by (core/lockout.py says why not
        a monotonic one); tests pass one they move."""
        self.conn = conn
        self.identity = identity
        self.clock = clock
        self.lockout_policy = lockout_policy or LockoutPolicy()
        # Training mode: practice sales, marked as such everywhere (``set_training``).
        self.training = False
        self.grant_idle = GRANT_IDLE
        self._grants: dict[int, Grant] = {}  # live grants by their record's seq

    async def load(self) -> None:
        """Read back the training mode the journal last recorded."""
        record = await journal.last_config(self.conn, "training")
        self.training = bool(record and record.body.get("value") is True)

    # -- unlocking -----------------------------------------------------------------------------

    async def unlock(self, pin: str) -> Staff:
        """The staff member whose PIN this is. A PIN alone says who types it, so a wrong one
        counts against the till's PIN pad as a whole: ``LockedOut`` (subject ``till``) once five
        have locked it, and for any PIN, right or not, while it is locked; also ``LockedOut``
        for the right PIN of a staff member who is locked out. ``NoStaff`` (never counted) on
        a till nobody has been added to yet; ``Deactivated`` (not counted: the PIN was right)
        for someone deactivated."""
        await self.refuse_without_staff()
        await self.refuse_if_locked(TILL)
        staff = await staff_store.staff_by_pin(self.conn, pin)
        if staff is None:
            await self._count_wrong_pin(TILL, "unlock")
            raise AuthError("wrong PIN")
        refuse_deactivated(staff)
        await self.refuse_if_locked(staff_subject(staff.id), staff)
        return staff

    async def unlock_badge(self, uid: str) -> Staff:
        """The staff member whose badge was tapped (UID as the NFC reader reports it).

        Badges work while the PIN pad is locked (a badge is not a guess); a manager's badge then
        also lifts that lock, journalled. A staff member who is locked out or deactivated is
        refused."""
        staff = await staff_store.staff_by_badge(self.conn, uid)
        if staff is None:
            await self.refuse_without_staff()
            raise AuthError("unknown badge")
        refuse_deactivated(staff)
        await self.refuse_if_locked(staff_subject(staff.id), staff)
        if allowed(staff.role, "unlock_staff"):
            record = await lockout.lift(
                self.conn, self.identity, TILL, self.clock(), "badge", by=(staff.id, staff.name)
            )
            if record is not None:
                log.warning("PIN pad lockout lifted", extra={"by": staff.id, "via": "badge"})
        return staff

    async def has_staff(self) -> bool:
        """Whether anybody has been added to the till (the lock screen says how, if not)."""
        return await staff_store.has_staff(self.conn)

    async def refuse_without_staff(self) -> None:
        """``NoStaff`` while nobody has been added: no PIN can be right, so none is wrong."""
        if not await staff_store.has_staff(self.conn):
            raise NoStaff(NO_STAFF)

    async def lockout_remaining(self, staff: Staff | None = None) -> timedelta:
        """How much longer the till's PIN pad (or ``staff``) stays locked; zero when it is not.
        For screens that show a countdown; the methods that take a PIN check it themselves."""
        subject = TILL if staff is None else staff_subject(staff.id)
        now = self.clock()
        state = await lockout.current(self.conn, subject, now, self.lockout_policy)
        return state.remaining(now)

    async def lift_lockout(
        self, manager_pin: str, staff_id: str | None = None, requester: Staff | None = None
    ) -> Record:
        """Lift a lockout before its time on a manager's PIN: ``staff_id``'s, or the PIN pad's
        (None). ``requester`` is who is logged in (a wrong manager's PIN counts against them, or
        against the PIN pad when nobody is, so a locked PIN pad takes no PIN to lift its own
        lock: a manager's badge or ``bitagora staff unlock --till`` does). Returns the
        ``staff_lockout`` record; LookupError when there is no such person or nothing is
        locked."""
        manager = await self.approver(manager_pin, "unlock_staff", requester)
        target: Staff | None = None
        if staff_id is not None:
            target = await staff_store.get(self.conn, staff_id)
            if target is None:
                raise LookupError(f"no staff member {staff_id!r}")
        subject = TILL if target is None else staff_subject(target.id)
        record = await lockout.lift(
            self.conn,
            self.identity,
            subject,
            self.clock(),
            "till",
            (target.id, target.name) if target else None,
            (manager.id, manager.name),
        )
        if record is None:
            raise LookupError(f"{target.name if target else 'the PIN pad'} is not locked out")
        log.warning("PIN lockout lifted", extra={"subject": subject, "by": manager.id})
        return record

    # -- training --------------------------------------------------------------------------------

    async def set_training(self, staff: Staff, on: bool) -> Record | None:
        """Switch training mode (a manager's or technician's "settings" right); journalled as a
        ``config`` record, which is also where the mode is read back from after a restart.
        None when the till is in that mode already."""
        await self.authorize(staff, "settings")
        if on == self.training:
            return None
        body = {
            "setting": "training",
            "value": on,
            "staff": {"id": staff.id, "name": staff.name},
        }
        async with transaction(self.conn):
            record = await journal.append(self.conn, self.identity, "config", body)
        self.training = on
        log.warning("training mode %s", "on" if on else "off", extra={"staff": staff.id})
        return record

    # -- rights and approvals ----------------------------------------------------------------------

    async def authorize_sale(self, staff: Staff) -> None:
        """``staff`` may take payment for a sale (any method): NotAuthorized or LockedOut."""
        await self.authorize(staff, "sell")

    async def authorize(self, staff: Staff, action: Action) -> None:
        """``staff`` (logged in) may do ``action`` themselves: their role allows it and they are
        not locked out, nor deactivated since (both hold even if a screen left them logged in)."""
        require(staff, action)
        now = await staff_store.get(self.conn, staff.id)
        if now is not None:
            refuse_deactivated(now)
        await self.refuse_if_locked(staff_subject(staff.id), staff)

    async def refuse_if_locked(self, subject: str, staff: Staff | None = None) -> None:
        """``LockedOut`` while ``subject`` (the PIN pad, or a staff member) is locked."""
        now = self.clock()
        state = await lockout.current(self.conn, subject, now, self.lockout_policy)
        if state.locked(now):
            raise LockedOut(subject, state.remaining(now), staff.name if staff else None)

    async def _count_wrong_pin(self, subject: str, action: str, staff: Staff | None = None) -> None:
        """Count a wrong PIN; raise ``LockedOut`` when it was the one that locked ``subject``."""
        now = self.clock()
        who = (staff.id, staff.name) if staff else None
        failure = await lockout.fail(
            self.conn, self.identity, subject, now, self.lockout_policy, action, who
        )
        log.warning("wrong PIN", extra={"subject": subject, "action": action})
        if failure.record is not None:
            log.warning(
                "PIN lockout",
                extra={"subject": subject, "seq": failure.record.seq, "action": action},
            )
            raise LockedOut(subject, failure.state.remaining(now), staff.name if staff else None)

    async def approver(self, pin: str, action: Action, requester: Staff | None) -> Staff:
        """Whose ``pin`` approves ``action`` for ``requester`` (who is logged in; None at a tool
        like the doctor). Wrong PINs count against the requester, who is the one guessing, not
        against whoever's PIN they were after (docs/ARCHITECTURE.md says why); with no requester,
        against the till's PIN pad. AuthError for a PIN that matches nobody, LockedOut for a
        locked requester or approver, NotAuthorized (not counted: the PIN was right) for a role
        that may not approve ``action``, ``Deactivated`` (not counted) for someone deactivated."""
        subject = TILL if requester is None else staff_subject(requester.id)
        if requester is None:
            await self.refuse_without_staff()
        await self.refuse_if_locked(subject, requester)
        approver = await staff_store.staff_by_pin(self.conn, pin)
        if approver is None:
            await self._count_wrong_pin(subject, action, requester)
            raise AuthError("wrong PIN")
        refuse_deactivated(approver)
        await self.refuse_if_locked(staff_subject(approver.id), approver)
        try:
            require(approver, action)
        except NotAuthorized:
            log.warning("approval refused: role", extra={"staff": approver.id, "action": action})
            raise
        return approver

    async def approve(
        self,
        action: Action,
        requester: Staff | None,
        *,
        pin: str | None = None,
        badge: str | None = None,
    ) -> Staff:
        """Who approves ``action`` for ``requester``: by ``pin`` (checked and counted as in
        ``approver``) or by ``badge``, a UID from the NFC reader (a badge is not a guess, so it
        is not counted; its owner must not be locked out). NotAuthorized for a role that may not
        approve ``action``, or when neither is given."""
        if pin is not None:
            return await self.approver(pin, action, requester)
        if badge is not None:
            approver = await self.unlock_badge(badge)
            require(approver, action)
            return approver
        raise NotAuthorized(f"a manager's PIN or badge must approve a {action}", action)

    # -- an approval for a visit of the menu -------------------------------------------------

    async def grant(
        self,
        requester: Staff,
        actions: Iterable[Action] = MENU_ACTIONS,
        *,
        pin: str | None = None,
        badge: str | None = None,
    ) -> Grant:
        """A manager's approval of ``actions`` for ``requester`` until ``end_grant`` or
        ``grant_idle`` without an action: checked (and wrong PINs counted) as in ``approve``,
        the approver allowed every action, journalled once as an ``approval`` record."""
        wanted = tuple(actions)
        if not wanted:
            raise ValueError("a grant needs at least one action")
        approver = await self.approve(wanted[0], requester, pin=pin, badge=badge)
        for action in wanted[1:]:
            require(approver, action)
        body = {
            "scope": "menu",
            "actions": list(wanted),
            "staff": {"id": requester.id, "name": requester.name},
            "approved_by": {"id": approver.id, "name": approver.name},
            "via": "pin" if pin is not None else "badge",
            "idle_seconds": int(self.grant_idle.total_seconds()),
        }
        async with transaction(self.conn):
            record = await journal.append(self.conn, self.identity, "approval", body)
        log.info(
            "approval for the menu",
            extra={"seq": record.seq, "staff": requester.id, "by": approver.id},
        )
        grant = Grant(approver, requester, wanted, record, self.clock())
        self._grants[record.seq] = grant
        return grant

    async def granted(self, grant: Grant, action: Action) -> Staff:
        """The approver, for ``action`` under ``grant``, which counts as used now.
        ``ApprovalLapsed`` when it was ended, went ``grant_idle`` unused, or is not for
        ``action``; ``LockedOut`` when the approver or the requester is locked out now."""
        if self._grants.get(grant.record.seq) is not grant:
            raise ApprovalLapsed("the manager's approval has ended: approve again")
        if action not in grant.actions:
            raise ApprovalLapsed(f"the manager's approval does not cover a {action}")
        now = self.clock()
        # A clock that went back (a Pi without a battery clock) re-anchors; forward ends it.
        since = max(now - grant.last_used, timedelta(0))
        if since >= self.grant_idle:
            self.end_grant(grant)
            raise ApprovalLapsed("the manager's approval has lapsed: approve again")
        await self.refuse_if_locked(staff_subject(grant.requester.id), grant.requester)
        await self.refuse_if_locked(staff_subject(grant.approver.id), grant.approver)
        grant.last_used = now
        return grant.approver

    def end_grant(self, grant: Grant) -> None:
        """The visit is over (the menu closed, the till locked): the grant covers nothing."""
        self._grants.pop(grant.record.seq, None)
