"""Watching the drawer's open sensor: is it open, since when, and has it been open too long.

``DrawerWatch`` turns the driver's sensor changes into ``DrawerState`` values for whoever
subscribes (the kiosk's sell screen, the till's device status). When the drawer has been open
for ``warn_after_s`` it raises the warning; closing the drawer clears it. Everything runs on the
event loop: the driver hands sensor changes over with ``call_soon_threadsafe``, and the warning
is one timer handle, cancelled on close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from appliance.drivers.drawer import Drawer

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class DrawerState:
    open: bool | None  # None: no sensor, the till cannot know
    opened_at: float | None = None  # the watch's clock when it opened
    warning: bool = False  # open for longer than the configured time

    def status(self) -> dict[str, Any]:
        """The form the device status (and the uplink's heartbeat) carries."""
        return {"open": self.open, "open_too_long": self.warning}


DrawerListener = Callable[[DrawerState], None]


class DrawerWatch:
    def __init__(self, drawer: Drawer, warn_after_s: float, clock: Clock = time.monotonic) -> None:
        """``warn_after_s`` 0 never warns; ``clock`` is monotonic seconds (injectable)."""
        self.drawer = drawer
        self.warn_after_s = warn_after_s
        self.clock = clock
        self.state = DrawerState(None)
        self._listeners: list[DrawerListener] = []
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Follow the sensor from now on (after the drawer's own ``start``)."""
        self.drawer.set_listener(self._sensor)
        is_open = self.drawer.is_open
        if is_open is not None:
            self._sensor(is_open)

    def close(self) -> None:
        self.drawer.set_listener(None)
        self._cancel_timer()
        self._listeners.clear()

    def subscribe(self, listener: DrawerListener) -> Callable[[], None]:
        """Call ``listener(state)`` on every change; returns the unsubscribe function."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def open_for_s(self) -> float | None:
        if not self.state.open or self.state.opened_at is None:
            return None
        return max(0.0, self.clock() - self.state.opened_at)

    def check(self) -> DrawerState:
        """Raise the warning if the drawer has now been open long enough (the timer calls this;
        a test with its own clock may too). Otherwise wait for the rest of the time."""
        self._timer = None
        open_for = self.open_for_s()
        if open_for is None or self.state.warning or self.warn_after_s <= 0:
            return self.state
        if open_for >= self.warn_after_s:
            log.warning("cash drawer open for %.0f s", open_for)
            self._set(DrawerState(True, self.state.opened_at, warning=True))
        else:
            self._schedule(self.warn_after_s - open_for)
        return self.state

    # -- plumbing ---------------------------------------------------------------------------

    def _sensor(self, is_open: bool) -> None:
        if is_open == self.state.open:
            return
        self._cancel_timer()
        if is_open:
            self._set(DrawerState(True, self.clock()))
            if self.warn_after_s > 0:
                self._schedule(self.warn_after_s)
        else:
            self._set(DrawerState(False))

    def _schedule(self, delay_s: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay_s, self.check)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _set(self, state: DrawerState) -> None:
        self.state = state
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:  # one bad listener must not stop the others or the watch
                log.exception("drawer state listener failed")
