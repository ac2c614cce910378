"""Exponential backoff with full jitter, honouring a server's ``Retry-After``.

After the n-th consecutive failure (n from 0) the ceiling is ``min(max_s, base_s * 2**n)`` and the
delay is drawn uniformly from ``[min_s, ceiling]`` ("full jitter", so a fleet that lost central at
the same moment does not come back in lock-step). ``base_s`` defaults to ``min_s`` (or 1 s when
``min_s`` is 0). A ``Retry-After`` from the server is a floor: the delay is never shorter than it,
though an absurd value is capped at ``retry_after_cap_s``. ``reset()`` after a success.
"""

from __future__ import annotations

import random
from collections.abc import Callable

DEFAULT_RETRY_AFTER_CAP_S = 900.0


class Backoff:
    def __init__(
        self,
        min_s: float,
        max_s: float,
        *,
        base_s: float | None = None,
        retry_after_cap_s: float = DEFAULT_RETRY_AFTER_CAP_S,
        uniform: Callable[[float, float], float] | None = None,
    ) -> None:
        if min_s < 0 or max_s < min_s:
            raise ValueError(f"backoff needs 0 <= min_s <= max_s, got {min_s}, {max_s}")
        self.min_s = float(min_s)
        self.max_s = float(max_s)
        self.base_s = float(base_s) if base_s is not None else (self.min_s or 1.0)
        if self.base_s <= 0:
            raise ValueError(f"backoff base_s must be positive, got {base_s}")
        self.retry_after_cap_s = max(float(retry_after_cap_s), self.max_s)
        self._uniform = uniform or random.SystemRandom().uniform
        self.failures = 0

    def ceiling(self, failures: int) -> float:
        """The upper bound of the delay after ``failures`` earlier consecutive failures."""
        # Compare exponents rather than computing 2**failures for a long outage.
        if failures >= 64 or self.base_s * 2.0**failures >= self.max_s:
            return self.max_s
        return max(self.min_s, self.base_s * 2.0**failures)

    def next_delay(self, retry_after: float | None = None) -> float:
        """The delay before the next attempt; counts one more failure."""
        ceiling = self.ceiling(self.failures)
        self.failures += 1
        delay = min(max(self._uniform(self.min_s, ceiling), self.min_s), ceiling)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.retry_after_cap_s))
        return delay

    def reset(self) -> None:
        self.failures = 0
