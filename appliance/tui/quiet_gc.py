"""The kiosk's garbage collection policy: no full collection inside a sale or a payment screen.

Python's cycle collector stops the event loop for as long as it scans, and a full collection
scans every object it tracks: over the kiosk's (mostly Textual's: widgets, render caches) that
took 0.2-0.5 s here and about 1 s on a Pi 4. So:
- once the app is up, what start-up made is frozen (``gc.freeze``): never scanned again;
- automatic collections are young ones only (generations 0 and 1, a few milliseconds);
- when a sale is over and the sell screen is drawn again, a full collection takes what the sale
  left in reference cycles (the screens it closed), and what survives is frozen too: so that
  collection scans only what was made since the last customer (about 40,000 objects a sale,
  docs/PERFORMANCE.md), never the whole kiosk;
- an object frozen while alive that becomes garbage in a cycle later (a few thousand a sale)
  waits for the one collection of everything (unfreeze, collect, freeze again), run only when
  the till has been idle for ``idle_s`` after a sale with nobody needing the screen (locked, or
  an empty sale): it scans the whole kiosk, and a busy machine that has paged the frozen objects
  out took seconds for it.
Objects freed by their reference count (most of them) are freed at once, frozen or not.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

# Generations 0 and 1 as Python's defaults; generation 2 never by itself.
THRESHOLDS = (700, 10, 1_000_000)
IDLE_S = 10.0


class QuietGc:
    def __init__(self, may_pause: Callable[[], bool], idle_s: float = IDLE_S) -> None:
        """``may_pause()``: nobody needs the screen now (the collection of everything may
        run)."""
        self.may_pause = may_pause
        self.idle_s = idle_s
        self.sales = 0  # since the last collection of everything
        self._idle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """The app is up: freeze what start-up made (the kiosk starts with collection off,
        appliance/kiosk.py) and collect from now on."""
        gc.freeze()
        gc.set_threshold(*THRESHOLDS)
        gc.enable()
        self._wait_for_idle()

    def stop(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def between_customers(self) -> None:
        """A sale is over and the sell screen is drawn: collect what it left, freeze the rest,
        and collect everything once the till is idle."""
        self.sales += 1
        gc.collect()  # what is not frozen: made since the last customer
        gc.freeze()
        self._wait_for_idle()

    def _wait_for_idle(self) -> None:
        self.stop()
        self._idle = asyncio.get_running_loop().call_later(self.idle_s, self._when_idle)

    def _when_idle(self) -> None:
        self._idle = None
        if not self.may_pause():  # someone is selling: wait for the next quiet moment
            self._wait_for_idle()
            return
        self._collect_everything()

    def _collect_everything(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.sales = 0
