"""The kiosk's garbage collection policy: no full collection inside a sale or a payment screen.

Python's cycle collector stops the event loop for as long as it scans, and a full collection
scans every object it tracks: over the kiosk's (mostly Textual's: widgets, render caches) that
took 0.2-0.5 s here and about 1 s on a Pi 4. So:
- once the app is up, what start-up made is frozen (``gc.freeze``): never scanned again;
- automatic collections are young ones only (generations 0 and 1, a few milliseconds);
- when a sale is over (its done screen drawn) and nobody has touched the till for ``quiet_s``, a
  full collection takes what the sale left in reference cycles (the screens it closed), and what
  survives is frozen too: so that collection scans only what was made since the last customer
  (about 40,000 objects a sale, docs/PERFORMANCE.md), never the whole kiosk, and never while a
  tap waits (a tap or key first puts it off, a started sale until that sale is over);
- an object frozen while alive that becomes garbage in a cycle later (a few thousand a sale)
  waits for the one collection of everything (unfreeze, collect, freeze again), run only when
  the till has been idle for ``idle_s`` after a sale with nobody needing the screen (locked, or
  an empty sale): it scans the whole kiosk, and a busy machine that has paged the frozen objects
  out took seconds for it. A till that never stays idle that long would keep that garbage for
  good (about 19,000 objects a sale in bench/bitcoin_pay.py, whose process grew to 593 MB over
  200 sales with no idle moment, docs/PERFORMANCE.md): once ``max_frozen_growth``
  objects have been frozen since start-up or the last such collection, the sale's collection
  collects everything instead, at the same quiet moment.
Objects freed by their reference count (most of them) are freed at once, frozen or not.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

# Generations 0 and 1 as Python's defaults; generation 2 never by itself.
THRESHOLDS = (700, 10, 1_000_000)
IDLE_S = 10.0
# No tap or key for this long after a sale's done screen is drawn: nobody waits for the screen.
# Staff read the done screen for longer than this before the next customer's first tap.
QUIET_S = 0.3
# About 25 sales' worth of frozen objects (bench/bitcoin_pay.py) with no idle moment between.
MAX_FROZEN_GROWTH = 500_000


class QuietGc:
    def __init__(
        self,
        may_pause: Callable[[], bool],
        idle_s: float = IDLE_S,
        quiet_s: float = QUIET_S,
        max_frozen_growth: int = MAX_FROZEN_GROWTH,
    ) -> None:
        """``may_pause()``: nobody is in the middle of a sale (a collection may run)."""
        self.may_pause = may_pause
        self.idle_s = idle_s
        self.quiet_s = quiet_s
        self.max_frozen_growth = max_frozen_growth
        self._frozen_base = 0  # objects frozen after start-up or the last collection of all
        self.sales = 0  # whose garbage was collected after them
        self._owed = False  # a sale is over and its garbage not collected yet
        self._idle: asyncio.TimerHandle | None = None
        self._quiet: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """The app is up: freeze what start-up made (the kiosk starts with collection off,
        appliance/kiosk.py) and collect from now on."""
        gc.freeze()
        self._frozen_base = gc.get_freeze_count()
        gc.set_threshold(*THRESHOLDS)
        gc.enable()
        self._wait_for_idle()

    def stop(self) -> None:
        for timer in (self._idle, self._quiet):
            if timer is not None:
                timer.cancel()
        self._idle = self._quiet = None

    def sale_over(self) -> None:
        """A sale's done screen is drawn: collect what the sale left once the till is quiet."""
        self._owed = True
        self._wait_for_quiet()

    def activity(self) -> None:
        """A tap or a key: an owed collection waits for the next quiet moment."""
        if self._owed:
            self._wait_for_quiet()

    def _wait_for_quiet(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
        self._quiet = asyncio.get_running_loop().call_later(self.quiet_s, self._when_quiet)

    def _when_quiet(self) -> None:
        self._quiet = None
        if self._owed and self.may_pause():  # else the next sale's end owes it again
            self._collect_sale()

    def _collect_sale(self) -> None:
        """Collect what is not frozen (made since the last customer), freeze the rest, and
        collect everything once the till is idle."""
        self._owed = False
        self.sales += 1
        gc.collect()
        gc.freeze()
        if gc.get_freeze_count() - self._frozen_base >= self.max_frozen_growth:
            self._collect_everything()  # no idle moment came for too long
        self._wait_for_idle()

    def _wait_for_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(self.idle_s, self._when_idle)

    def _when_idle(self) -> None:
        self._idle = None
        if not self.may_pause():  # someone is selling: wait for the next quiet moment
            self._wait_for_idle()
            return
        self._collect_everything()

    def _collect_everything(self) -> None:
        if self._owed:  # the last sale's garbage goes with everything else
            self._owed = False
            self.sales += 1
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_base = gc.get_freeze_count()
