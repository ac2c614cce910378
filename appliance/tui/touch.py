"""Taps on the touchscreen, delivered to the app as the clicks a terminal's mouse would make.

A tap becomes a MouseDown and a MouseUp (button 1) at the terminal cell under the place the
finger came down, posted to the app as Textual's own drivers post terminal mouse input:
``App.on_event`` then makes the Click on the widget under both, so buttons see a normal click.
Both are posted when the finger lifts, back to back, so a tap is one click or none:

- a touch that moved (a drag) or lost events is no tap (the touch driver says so; the app gets
  the touches from the services' event bus as ``TouchPressed`` / ``TouchReleased``);
- a touch whose screen changed between finger down and finger up (a payment arrived, the
  sale-done view closed itself) is dropped, so the new screen never gets a tap meant for the old;
- the touch that wakes a blanked screen only wakes it: staff cannot see what is under the finger.

The cell is the fraction of the screen times the app's current size in cells: the console's
text area is taken to cover the panel (docs/TECHNICIAN.md, "Touchscreen").
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import App
from textual.screen import Screen

from appliance.services.devices import TouchPressed, TouchReleased
from appliance.tui.blank import Blanker


def cell(fraction: float, cells: int) -> int:
    return min(int(fraction * cells), cells - 1)


class TouchInput:
    def __init__(self, app: App[Any], blanker: Blanker) -> None:
        self.app = app
        self.blanker = blanker
        self.taps = 0  # taps delivered as clicks
        self._screen: Screen[Any] | None = None  # where the finger came down
        self._waking = False

    def _current_screen(self) -> Screen[Any] | None:
        stack = self.app.screen_stack
        return stack[-1] if stack else None

    def touched(self, event: TouchPressed | TouchReleased) -> None:
        woke = self.blanker.activity()
        if isinstance(event, TouchPressed):
            self._screen = self._current_screen()
            self._waking = woke
            return
        screen, self._screen = self._screen, None
        if not event.tap or self._waking or screen is None or screen is not self._current_screen():
            return
        width, height = self.app.size
        x, y = cell(event.x, width), cell(event.y, height)
        for kind in (events.MouseDown, events.MouseUp):
            self.app.post_message(
                kind(None, x, y, 0, 0, 1, False, False, False, screen_x=x, screen_y=y)
            )
        self.taps += 1
