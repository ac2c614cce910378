"""Screen blanking: dark after a while with no touch and no key, awake again at the next one.

Dark means the panel's backlight off when ``touch.backlight`` names its sysfs file, and the app
drawing nothing but black otherwise (the ``-blanked`` class on the app, app.tcss), which is what
a console without a backlight driver can do. The app decides when blanking is allowed (not while
a customer is looking at a payment, say); when it is not, the idle time starts again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from textual.app import App

from appliance.services.devices import BacklightError, ScreenLight

log = logging.getLogger(__name__)


class Blanker:
    def __init__(
        self,
        app: App[Any],
        after_s: float,
        backlight: ScreenLight | None,
        may_blank: Callable[[], bool],
    ) -> None:
        self.app = app
        self.after_s = after_s
        self.backlight = backlight
        self.may_blank = may_blank
        self.blanked = False
        self._idle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self.activity()

    def stop(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None

    def activity(self) -> bool:
        """A touch or a key: the idle time starts again. True when it woke the screen."""
        if self.after_s:
            self.stop()
            self._idle = asyncio.get_running_loop().call_later(self.after_s, self._idle_for_long)
        if not self.blanked:
            return False
        self.blanked = False
        self._set_dark(False)
        return True

    def _idle_for_long(self) -> None:
        self._idle = None
        if not self.may_blank():
            self.activity()
            return
        self.blanked = True
        self._set_dark(True)

    def _set_dark(self, dark: bool) -> None:
        if not dark:
            # Whichever way it went dark (the backlight may have failed then and not now), the
            # app's own black screen must go too.
            self.app.set_class(False, "-blanked")
        if self.backlight is not None:
            try:
                self.backlight.off() if dark else self.backlight.on()
                return
            except BacklightError as err:  # the app's own black screen still hides it
                log.warning("%s; blanking the app's screen instead", err)
        if dark:
            self.app.set_class(True, "-blanked")
