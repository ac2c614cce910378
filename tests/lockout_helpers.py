"""A wall clock tests move by hand, for PIN lockouts (``Till(clock=...)``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Calling it gives ``now`` (UTC); ``advance`` moves it (backwards too, as a Pi's may)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
