"""Exponential backoff with full jitter: bounds, growth, jitter and Retry-After."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.uplink.backoff import Backoff
from appliance.uplink.client import parse_retry_after


def lowest(low: float, high: float) -> float:
    return low


def highest(low: float, high: float) -> float:
    return high


def test_ceiling_doubles_from_min_up_to_max() -> None:
    backoff = Backoff(1, 60, uniform=highest)
    assert [backoff.next_delay() for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]


def test_full_jitter_draws_between_min_and_the_current_ceiling() -> None:
    calls: list[tuple[float, float]] = []

    def record(low: float, high: float) -> float:
        calls.append((low, high))
        return (low + high) / 2

    backoff = Backoff(2, 20, uniform=record)
    delays = [backoff.next_delay() for _ in range(5)]
    assert calls == [(2, 2), (2, 4), (2, 8), (2, 16), (2, 20)]
    assert delays == [2, 3, 5, 9, 11]


def test_reset_starts_again_from_the_minimum() -> None:
    backoff = Backoff(1, 60, uniform=highest)
    for _ in range(5):
        backoff.next_delay()
    backoff.reset()
    assert backoff.failures == 0
    assert backoff.next_delay() == 1


def test_zero_minimum_uses_one_second_as_the_base() -> None:
    backoff = Backoff(0, 10, uniform=highest)
    assert [backoff.next_delay() for _ in range(5)] == [1, 2, 4, 8, 10]
    assert Backoff(0, 10, uniform=lowest).next_delay() == 0


def test_retry_after_is_a_floor_but_capped() -> None:
    backoff = Backoff(1, 60, uniform=lowest, retry_after_cap_s=300)
    assert backoff.next_delay(retry_after=30) == 30
    assert backoff.next_delay(retry_after=0.5) == 1  # jitter already longer
    assert backoff.next_delay(retry_after=10_000) == 300
    assert Backoff(1, 60, uniform=highest).next_delay(retry_after=None) == 1


def test_a_long_outage_never_overflows() -> None:
    backoff = Backoff(1, 60, uniform=highest)
    backoff.failures = 10_000
    assert backoff.next_delay() == 60


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        Backoff(5, 1)
    with pytest.raises(ValueError):
        Backoff(-1, 1)


@given(
    min_s=st.floats(0, 30),
    span=st.floats(0, 300),
    failures=st.integers(0, 200),
    seed=st.integers(0, 2**32),
    retry_after=st.none() | st.floats(0, 10_000),
)
def test_delays_stay_within_bounds(
    min_s: float, span: float, failures: int, seed: int, retry_after: float | None
) -> None:
    backoff = Backoff(min_s, min_s + span, uniform=random.Random(seed).uniform)
    backoff.failures = failures
    delay = backoff.next_delay(retry_after)
    assert min_s <= delay <= max(min_s + span, backoff.retry_after_cap_s)
    if retry_after is None:
        assert delay <= min_s + span
    else:
        assert delay >= min(retry_after, backoff.retry_after_cap_s)


def test_jitter_spreads_a_fleet() -> None:
    rng = random.Random(7)
    delays = set()
    for _ in range(50):
        backoff = Backoff(1, 60, uniform=rng.uniform)
        for _ in range(4):
            delay = backoff.next_delay()
        delays.add(round(delay, 3))
    assert len(delays) > 40  # not in lock-step


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("120") == 120
    assert parse_retry_after(" 7 ") == 7
    assert parse_retry_after("soon") is None
    date = "Wed, 21 Oct 2015 07:28:00 GMT"
    # An HTTP date counts from the response's own Date, not from the device's clock.
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", date) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:20:00 GMT", date) == 0
