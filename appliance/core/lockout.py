"""PIN lockout rules: five wrong PINs close together lock, for longer each time (pure, no I/O).

Wrong PINs count until ``count_window`` passes without one; a right PIN does not wipe them. If it
did, a cashier could type four guesses at a manager's PIN, then their own PIN, then four more,
for ever, without the count ever reaching five.

Attempts are counted per *subject* (docs/ARCHITECTURE.md, "Staff, roles and PIN lockout", says
why): ``till``, the PIN pad of this till as a whole, for PINs that must identify who types them
(the lock screen, the doctor's test pulse); or ``staff:<id>``, a logged-in staff member asking
for somebody else's approval PIN (a manager's, for a no-sale). ``store/lockout.py`` keeps each
subject's ``Lockout`` in the store, so a restart does not reset it.

Times are wall-clock UTC ``datetime``s from an injectable clock, never ``time.monotonic``: a
monotonic clock starts again at every boot, so a stored monotonic deadline would mean nothing
after a restart, and pulling the plug would lift a lockout. A Pi without a battery clock can boot
with its wall clock behind (fake-hwclock's last save) and jump at NTP sync, so ``observe`` bounds
what a jump can do: a lock never lasts more than its duration past the moment the clock was seen
going back, and a clock jumping forward can only end a lock early.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from appliance.core.roles import AuthError
from appliance.core.words import ENGLISH, Translator

TILL = "till"
STAFF_PREFIX = "staff:"
ZERO = timedelta(0)


def staff_subject(staff_id: str) -> str:
    return STAFF_PREFIX + staff_id


def utc_now() -> datetime:
    """The default clock of lockouts."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class LockoutPolicy:
    max_failures: int = 5
    # Wrong PINs are counted until this long passes without one.
    count_window: timedelta = timedelta(minutes=15)
    # The first lockout lasts durations[0], the second durations[1], …, then the last one again.
    durations: tuple[timedelta, ...] = (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=15),
    )
    # The escalation (and everything else) is forgotten this long after the last wrong PIN.
    forget_after: timedelta = timedelta(hours=24)

    def duration(self, level: int) -> timedelta:
        """How long lockout number ``level`` (1 for the first) lasts."""
        return self.durations[min(max(level, 1), len(self.durations)) - 1]


@dataclass(frozen=True)
class Lockout:
    """One subject's state: wrong PINs counted, lockouts so far, and the current lock."""

    failures: int = 0
    level: int = 0
    last_failure_at: datetime | None = None
    locked_at: datetime | None = None
    locked_for: timedelta = ZERO

    def remaining(self, now: datetime) -> timedelta:
        """How much longer the lock lasts (zero when not locked)."""
        if self.locked_at is None:
            return ZERO
        left = self.locked_at + self.locked_for - now
        return max(ZERO, min(left, self.locked_for))

    def locked(self, now: datetime) -> bool:
        return self.remaining(now) > ZERO


def observe(state: Lockout, now: datetime, policy: LockoutPolicy) -> Lockout:
    """``state`` as of ``now``: a clock seen going back re-anchors the lock at ``now``; an ended
    lock is cleared (its level stays); wrong PINs are forgotten ``count_window`` after the last
    one, everything ``forget_after`` it. Returns ``state`` itself when nothing changed (callers
    store only a changed state)."""
    if state.locked_at is not None and now < state.locked_at:
        state = replace(state, locked_at=now)
    if state.last_failure_at is not None and now < state.last_failure_at:
        state = replace(state, last_failure_at=now)
    if state.locked_at is not None and not state.locked(now):
        state = replace(state, locked_at=None, locked_for=ZERO)
    if state.locked_at is None and state.last_failure_at is not None:
        quiet = now - state.last_failure_at
        if quiet >= policy.forget_after:
            return Lockout()
        if quiet >= policy.count_window and state.failures:
            state = replace(state, failures=0)
    return state


def fail(state: Lockout, now: datetime, policy: LockoutPolicy) -> tuple[Lockout, bool]:
    """After a wrong PIN: the new state, and whether this PIN started a lockout. A subject that
    is locked already is not counted (callers refuse before checking a PIN)."""
    state = observe(state, now, policy)
    if state.locked(now):
        return state, False
    failures = state.failures + 1
    if failures < policy.max_failures:
        return replace(state, failures=failures, last_failure_at=now), False
    level = state.level + 1
    return Lockout(0, level, now, now, policy.duration(level)), True


def format_wait(remaining: timedelta) -> str:
    """``4:32`` (minutes:seconds, rounded up so a lock never shows 0:00), ``1:02:03`` past an
    hour."""
    seconds = max(0, math.ceil(remaining.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{seconds:02}" if hours else f"{minutes}:{seconds:02}"


def locked_message(
    subject: str, remaining: timedelta, name: str | None = None, tr: Translator = ENGLISH
) -> str:
    """What staff are told: for the till's PIN pad, nothing about who exists; for a staff
    member, their name, or "You" for whoever just gave their own PIN or badge."""
    wait = format_wait(remaining)
    if subject == TILL:
        return tr.gettext("Too many wrong PINs: try again in {wait}").format(wait=wait)
    if name:
        return tr.gettext(
            "{name} is locked out after too many wrong PINs: try again in {wait}, or ask a manager"
        ).format(name=name, wait=wait)
    return tr.gettext(
        "You are locked out after too many wrong PINs: try again in {wait}, or ask a manager"
    ).format(wait=wait)


class LockedOut(AuthError):
    """PIN entry refused: ``subject`` is locked for ``remaining`` longer. ``name`` is the staff
    member's for a ``staff:`` subject (None for the till)."""

    def __init__(self, subject: str, remaining: timedelta, name: str | None = None) -> None:
        super().__init__(locked_message(subject, remaining, name))
        self.subject = subject
        self.remaining = remaining
        self.name = name


def _who(staff: tuple[str, str] | None) -> dict[str, str] | None:
    return {"id": staff[0], "name": staff[1]} if staff else None


def rfc3339(moment: datetime) -> str:
    """How lockout times are stored and journalled: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def locked_body(
    subject: str,
    state: Lockout,
    action: str,
    staff: tuple[str, str] | None = None,
    policy: LockoutPolicy | None = None,
) -> dict[str, object]:
    """The ``staff_lockout`` record of a lockout that just started (docs/PROTOCOL.md 1.4);
    ``staff`` is (id, name) for a ``staff:`` subject, ``action`` what the PINs were for."""
    if state.locked_at is None:
        raise ValueError("locked_body needs a locked state")
    body: dict[str, object] = {
        "event": "locked",
        "subject": TILL if subject == TILL else "staff",
        "action": action,
        "failures": (policy or LockoutPolicy()).max_failures,
        "lockout": state.level,
        "seconds": int(state.locked_for.total_seconds()),
        "until": rfc3339(state.locked_at + state.locked_for),
    }
    if subject != TILL:
        body["staff"] = _who(staff)
    return body


def unlocked_body(
    subject: str,
    via: str,
    staff: tuple[str, str] | None = None,
    by: tuple[str, str] | None = None,
) -> dict[str, object]:
    """The ``staff_lockout`` record of a lockout lifted before its time: ``via`` is ``till`` (a
    manager's PIN at the till), ``badge`` (a manager's badge on a locked till) or ``cli``
    (``bitagora staff unlock``, at the device's shell); ``by`` the manager, None from the CLI."""
    body: dict[str, object] = {
        "event": "unlocked",
        "subject": TILL if subject == TILL else "staff",
        "via": via,
        "by": _who(by),
    }
    if subject != TILL:
        body["staff"] = _who(staff)
    return body
