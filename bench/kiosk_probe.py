"""What the kiosk benchmarks watch in the real app: its rendered frames and screen switches
(stamped where they happen, never by polling: a Pilot pause takes 20 ms or more), and the
process's full garbage collections; and how they tap it."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from typing import Any

from textual import events
from textual.screen import Screen

from appliance.tui.app import KioskApp

Predicate = Callable[[Screen[Any]], bool]


def press(app: KioskApp, selector: str) -> float:
    """A tap on a widget of the active screen, posted as terminal input is (``script.tap``
    without its Pilot pause after, which renders a frame itself); returns when it was posted."""
    region = app.screen.query_one(selector).region
    x, y = region.x + region.width // 2, region.y + region.height // 2
    start = time.perf_counter()
    for event in (events.MouseDown, events.MouseUp):
        app.post_message(event(None, x, y, 0, 0, 1, False, False, False, screen_x=x, screen_y=y))
    return start


async def stamp(future: asyncio.Future[float], what: str, timeout_s: float) -> float:
    """When ``future`` was stamped; the bench stops if ``what`` has not happened in time."""
    try:
        async with asyncio.timeout(timeout_s):
            return await future
    except TimeoutError:
        raise SystemExit(f"timed out after {timeout_s:g}s waiting for {what}") from None


class Probe:
    """Stamps, where they happen, the app's frames and screen switches that satisfy a predicate."""

    def __init__(self, app: KioskApp) -> None:
        self._frames: list[tuple[Predicate, asyncio.Future[float]]] = []
        self._switches: list[tuple[Predicate, asyncio.Future[float]]] = []
        display = app._display

        def stamped_display(screen: Screen[Any], renderable: Any) -> None:
            if renderable is not None:  # the compositor has just rendered this frame
                self._stamp(self._frames, screen)
            display(screen, renderable)

        app._display = stamped_display  # type: ignore[method-assign]
        app.screen_change_signal.subscribe(
            app, lambda screen: self._stamp(self._switches, screen), immediate=True
        )

    @staticmethod
    def _stamp(waiters: list[tuple[Predicate, asyncio.Future[float]]], screen: Screen[Any]) -> None:
        now = time.perf_counter()
        for waiter in list(waiters):
            predicate, future = waiter
            if predicate(screen):
                future.set_result(now)
                waiters.remove(waiter)

    @staticmethod
    def _wait(
        waiters: list[tuple[Predicate, asyncio.Future[float]]], predicate: Predicate
    ) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        waiters.append((predicate, future))
        return future

    def frame(self, predicate: Predicate) -> asyncio.Future[float]:
        """When the first frame from now on with ``predicate(screen)`` true is rendered."""
        return self._wait(self._frames, predicate)

    def switch(self, predicate: Predicate) -> asyncio.Future[float]:
        """When the active screen next becomes one with ``predicate(screen)`` true."""
        return self._wait(self._switches, predicate)


class FullCollections:
    """Every garbage collection of the process (``pauses``: generation, start, end) and the full
    (generation 2) ones apart (``spans``); ``in_sale()``, asked as each starts, tells the ones
    in the middle of a sale (``in_sale``: one flag a pause)."""

    def __init__(self, in_sale: Callable[[], bool] = lambda: True) -> None:
        self.pauses: list[tuple[int, float, float]] = []
        self.in_sale: list[bool] = []
        self._is_in_sale = in_sale
        self._start = 0.0
        self._starting_in_sale = False
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._starting_in_sale = self._is_in_sale()
            self._start = time.perf_counter()
        else:
            self.pauses.append((info["generation"], self._start, time.perf_counter()))
            self.in_sale.append(self._starting_in_sale)

    @property
    def spans(self) -> list[tuple[float, float]]:
        return [(a, b) for generation, a, b in self.pauses if generation == 2]

    def inside(self, start: float, end: float) -> float:
        """Milliseconds of full collections between ``start`` and ``end``."""
        return 1000 * sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.spans)

    def close(self) -> None:
        gc.callbacks.remove(self._callback)
