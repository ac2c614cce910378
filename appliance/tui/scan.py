"""Telling a keyboard-wedge barcode scanner from a person typing.

A wedge scanner "types" the code and an Enter within a few milliseconds; a person types far slower.
The screens feed every printable key and every Enter to a ``ScanBuffer`` (never to an ``Input``
with an Enter binding: Textual can apply bound keys out of order during fast input, #6605, which
merges back-to-back scans). A scan is a run of at least ``min_length`` characters, each at most
``max_gap_s`` after the previous one, ended by an Enter that also comes within ``max_gap_s``.

The clock is injected, so tests decide what is fast and what is slow without sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]

MAX_GAP_S = 0.1
MIN_LENGTH = 4


class ScanBuffer:
    def __init__(
        self,
        clock: Clock = time.monotonic,
        max_gap_s: float = MAX_GAP_S,
        min_length: int = MIN_LENGTH,
    ) -> None:
        self.clock = clock
        self.max_gap_s = max_gap_s
        self.min_length = min_length
        self._chars: list[str] = []
        self._last: float | None = None

    @property
    def pending(self) -> str:
        """The characters of the burst in progress (typed fast enough, so far, to be a scan)."""
        return "".join(self._chars)

    def key(self, char: str) -> None:
        """A printable character arrived; a slow one starts a new burst."""
        now = self.clock()
        if self._last is None or now - self._last > self.max_gap_s:
            self._chars.clear()
        self._chars.append(char)
        self._last = now

    def enter(self) -> str | None:
        """Enter arrived: the scanned code if it ends a burst, else None. Either way, reset."""
        now = self.clock()
        fast = self._last is not None and now - self._last <= self.max_gap_s
        code = self.pending if fast and len(self._chars) >= self.min_length else None
        self.reset()
        return code

    def reset(self) -> None:
        self._chars.clear()
        self._last = None


class StepClock:
    """A clock that advances a fixed step on every reading: every key looks like a scanner's."""

    def __init__(self, step_s: float = 0.005) -> None:
        self.step_s = step_s
        self.now = 0.0

    def __call__(self) -> float:
        self.now += self.step_s
        return self.now
