"""A new PIN, typed twice on the shared PIN pad: for someone added, a PIN reset, a reactivation.

The screen checks only that the two agree and that it is a PIN the till gives out (4 to 8
digits); ``act`` is the staff service's call the PIN is for, which holds the rules (a PIN
belongs to one active person). A refusal is shown in the service's words and the PIN is asked
for again from the start. Dismissed with what ``act`` returned, or None on Cancel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.pin import check_pin_form
from appliance.i18n import N_, _
from appliance.tui.widgets.pin_pad import PinPad
from appliance.tui.widgets.tap_button import TapButton

log = logging.getLogger(__name__)

T = TypeVar("T")

FIRST = N_("Type the new PIN (4 to 8 digits), then OK")
AGAIN = N_("The same PIN again, then OK")


def _never_locked(left: timedelta) -> str:
    return ""  # a new PIN is not a guess: nothing here counts or locks


class NewPinScreen(ModalScreen[T | None]):
    CSS_PATH = "new_pin.tcss"
    AUTO_FOCUS = None

    prompt: reactive[str] = reactive("", init=False)

    def __init__(
        self, clock: Callable[[], datetime], title: str, act: Callable[[str], Awaitable[T]]
    ) -> None:
        super().__init__()
        self.title_text = title
        self.act = act
        self.first: str | None = None
        self.pad = PinPad(clock, _never_locked, empty_text=_("Type the new PIN first"))

    def compose(self) -> ComposeResult:
        with Vertical(id="new-pin-dialog"):
            yield Static(self.title_text, id="new-pin-title", markup=False)
            yield Static(self.prompt or _(FIRST), id="new-pin-prompt", markup=False)
            yield self.pad
            yield TapButton(_("Cancel"), "error", id="new-pin-cancel")

    def watch_prompt(self, prompt: str) -> None:
        self.query_one("#new-pin-prompt", Static).update(prompt)

    def _again_from_the_start(self, why: str) -> None:
        self.first = None
        self.prompt = _(FIRST)
        self.pad.finished(why)

    @on(PinPad.Submitted)
    def _typed(self, event: PinPad.Submitted) -> None:
        if self.first is None:
            try:
                check_pin_form(event.pin)
            except ValueError as err:
                self.pad.finished(_("Not a PIN: {error}").format(error=err))
                return
            self.first = event.pin
            self.prompt = _(AGAIN)
            self.pad.finished()
        elif event.pin != self.first:
            self._again_from_the_start(_("The two PINs differ: type the new PIN again"))
        else:
            self._save(event.pin)

    @work(exclusive=True, group="new-pin", exit_on_error=False)
    async def _save(self, pin: str) -> None:
        try:
            result = await self.act(pin)
        except Exception as err:  # the PIN is someone else's, a rule refused: say so
            log.warning("%s refused", self.title_text, extra={"error": str(err)})
            self._again_from_the_start(_("Not done: {error}").format(error=err))
            return
        self.pad.finished()
        self.dismiss(result)

    @on(Button.Pressed, "#new-pin-cancel")
    def cancel(self) -> None:
        if not self.pad.checking:
            self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        self.pad.screen_key(event, self.cancel)
