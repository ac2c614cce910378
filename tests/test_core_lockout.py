"""PIN lockout rules (pure): five wrong PINs close together lock, durations escalate 1, 5, 15
minutes, the count lapses after 15 quiet minutes, everything is forgotten a day later, and a
wall clock that jumps can neither stretch a lock past its length nor freeze it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from appliance.core.lockout import (
    TILL,
    Lockout,
    LockoutPolicy,
    fail,
    format_wait,
    locked_body,
    locked_message,
    observe,
    staff_subject,
    unlocked_body,
)

POLICY = LockoutPolicy()
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def fail_times(state: Lockout, now: datetime, times: int) -> tuple[Lockout, list[bool]]:
    started = []
    for _ in range(times):
        state, locked = fail(state, now, POLICY)
        started.append(locked)
    return state, started


def test_the_fifth_wrong_pin_in_a_row_locks_for_a_minute() -> None:
    state, started = fail_times(Lockout(), T0, 5)
    assert started == [False, False, False, False, True]
    assert state.locked(T0)
    assert state.remaining(T0) == timedelta(minutes=1)
    assert state.remaining(T0 + timedelta(seconds=28)) == timedelta(seconds=32)
    assert not state.locked(T0 + timedelta(minutes=1))


def test_wrong_pins_while_locked_are_not_counted() -> None:
    state, _ = fail_times(Lockout(), T0, 5)
    again, started = fail(state, T0 + timedelta(seconds=10), POLICY)
    assert again == state and not started


def test_lockouts_escalate_and_stay_at_the_longest() -> None:
    state, now = Lockout(), T0
    lengths = []
    for _ in range(4):
        state, _ = fail_times(state, now, 5)
        lengths.append(state.remaining(now))
        now += state.locked_for
    assert lengths == [timedelta(minutes=m) for m in (1, 5, 15, 15)]
    assert state.level == 4


def test_wrong_pins_count_until_a_quarter_hour_passes_without_one() -> None:
    state, _ = fail_times(Lockout(), T0, 4)
    state, started = fail_times(state, T0 + timedelta(minutes=14), 1)
    assert started == [True]  # 14 minutes later still counts ...

    state, _ = fail_times(Lockout(), T0, 4)
    state, started = fail_times(state, T0 + timedelta(minutes=15), 4)
    assert not any(started) and state.failures == 4  # ... 15 quiet minutes start afresh


def test_the_escalation_outlives_the_lock() -> None:
    state, _ = fail_times(Lockout(), T0, 5)
    later = T0 + timedelta(minutes=20)
    state, _ = fail_times(state, later, 5)
    assert state.locked_for == timedelta(minutes=5)  # the second lockout of the day


def test_everything_is_forgotten_a_day_after_the_last_wrong_pin() -> None:
    state, _ = fail_times(Lockout(), T0, 5)
    state, _ = fail_times(state, T0 + timedelta(minutes=1), 3)
    assert observe(state, T0 + timedelta(hours=24, minutes=1), POLICY) == Lockout()
    assert observe(state, T0 + timedelta(hours=23), POLICY).level == 1


def test_a_clock_that_goes_back_cannot_stretch_a_lock() -> None:
    state, _ = fail_times(Lockout(), T0, 5)
    back = T0 - timedelta(hours=1)  # rebooted with fake-hwclock's older time, no NTP yet
    assert state.remaining(back) == timedelta(minutes=1)
    seen = observe(state, back, POLICY)  # re-anchored where the clock now is
    assert not seen.locked(back + timedelta(minutes=1))
    # NTP then puts the clock right: the lock, anchored an hour ago, is over
    assert not observe(seen, T0 + timedelta(seconds=5), POLICY).locked(T0 + timedelta(seconds=5))


@given(st.integers(min_value=0, max_value=12), st.integers(min_value=-(10**7), max_value=10**7))
def test_a_lock_never_has_more_left_than_its_length(level: int, offset_s: int) -> None:
    state, _ = fail_times(Lockout(level=level), T0, 5)
    now = T0 + timedelta(seconds=offset_s)
    assert timedelta(0) <= state.remaining(now) <= state.locked_for <= timedelta(minutes=15)


def test_waits_and_messages_name_no_user_for_the_pin_pad() -> None:
    assert format_wait(timedelta(minutes=4, seconds=31, milliseconds=200)) == "4:32"
    assert format_wait(timedelta(seconds=0.1)) == "0:01"  # never 0:00 while locked
    assert format_wait(timedelta(hours=1, seconds=3)) == "1:00:03"
    assert locked_message(TILL, timedelta(seconds=272)) == "Too many wrong PINs: try again in 4:32"
    assert locked_message(staff_subject("ana"), timedelta(seconds=60), "Ana").startswith(
        "Ana is locked out after too many wrong PINs: try again in 1:00"
    )
    assert locked_message(staff_subject("ana"), timedelta(seconds=60)).startswith("You are")


def test_record_bodies() -> None:
    state, _ = fail_times(Lockout(), T0, 5)
    assert locked_body(TILL, state, "unlock") == {
        "event": "locked",
        "subject": "till",
        "action": "unlock",
        "failures": 5,
        "lockout": 1,
        "seconds": 60,
        "until": "2026-11-28T09:01:00.000000Z",
    }
    body = locked_body(staff_subject("ana"), state, "no_sale", ("ana", "Ana"))
    assert body["subject"] == "staff" and body["staff"] == {"id": "ana", "name": "Ana"}
    assert unlocked_body(staff_subject("ana"), "till", ("ana", "Ana"), ("marco", "Marco")) == {
        "event": "unlocked",
        "subject": "staff",
        "staff": {"id": "ana", "name": "Ana"},
        "via": "till",
        "by": {"id": "marco", "name": "Marco"},
    }
    assert unlocked_body(TILL, "cli") == {
        "event": "unlocked",
        "subject": "till",
        "via": "cli",
        "by": None,
    }
