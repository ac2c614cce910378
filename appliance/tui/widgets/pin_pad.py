"""A PIN pad: the masked PIN, a line for the till's answer, the keypad, and the lockout countdown.

The screen that holds it decides what a PIN is for. On OK (or Enter, which the screen forwards
with ``key``) the pad posts ``PinPad.Submitted`` and stays busy until the screen calls
``finished`` with the answer to show; ``lock_for`` disables the keypad and counts a lockout
down once a second by the till's clock (``locked_text`` words it), then gives the keypad back.
The till stays the judge: a PIN it still refuses starts the countdown again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.message import Message
from textual.reactive import reactive, var
from textual.widgets import Static

from appliance.i18n import _
from appliance.tui.widgets import tcss
from appliance.tui.widgets.keypad import PIN_KEYS, Keypad

MAX_PIN_LENGTH = 8


def masked(pin: str) -> str:
    return " ".join("●" * len(pin)) if pin else "· · · ·"


class PinPad(Vertical):
    DEFAULT_CSS = tcss(__file__)

    pin: reactive[str] = reactive("", init=False)
    message: reactive[str] = reactive("", init=False)
    checking: var[bool] = var(False)
    # Until when PINs are refused, by the till's clock; None when they are not.
    locked_until: var[datetime | None] = var(None, init=False)

    class Submitted(Message):
        """A PIN was entered: the screen checks it, then calls ``finished``."""

        def __init__(self, pad: PinPad, pin: str) -> None:
            super().__init__()
            self.pad = pad
            self.pin = pin

        @property
        def control(self) -> PinPad:
            return self.pad

    def __init__(
        self,
        clock: Callable[[], datetime],
        locked_text: Callable[[timedelta], str],
        *,
        empty_text: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.locked_text = locked_text
        self.empty_text = empty_text or _("Enter your PIN first")

    def compose(self) -> ComposeResult:
        yield Static(masked(""), id="pin-display")
        yield Static("", id="pin-message", markup=False)
        with Center():
            yield Keypad(PIN_KEYS, id="pin-keypad")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)

    def lock_for(self, remaining: timedelta) -> None:
        """Refuse PINs for ``remaining`` (nothing for a zero one), counting down."""
        if remaining > timedelta(0):
            self.locked_until = self.clock() + remaining

    def finished(self, message: str = "") -> None:
        """The screen's answer to the last ``Submitted``: the pad is free again."""
        self.pin = ""
        self.checking = False
        if not self.locked_until:
            self.message = message

    def watch_locked_until(self, until: datetime | None) -> None:
        self.query_one("#pin-keypad", Keypad).disabled = until is not None
        self.pin = ""
        self._tick()

    def _tick(self) -> None:
        if self.locked_until is None:
            return
        left = self.locked_until - self.clock()
        if left.total_seconds() <= 0:
            self.locked_until = None
            self.message = ""
        else:
            self.message = self.locked_text(left)

    def watch_pin(self, pin: str) -> None:
        self.query_one("#pin-display", Static).update(masked(pin))

    def watch_message(self, message: str) -> None:
        self.query_one("#pin-message", Static).update(message)

    def type_digit(self, digit: str) -> None:
        if self.checking or self.locked_until or len(self.pin) >= MAX_PIN_LENGTH:
            return
        self.message = ""
        self.pin += digit

    def clear(self) -> None:
        if not self.checking:
            self.pin = ""

    def submit(self) -> None:
        if self.checking or self.locked_until:
            return
        if not self.pin:
            self.message = self.empty_text
            return
        self.checking = True
        self.post_message(self.Submitted(self, self.pin))

    def screen_key(self, event: events.Key, escape: Callable[[], None]) -> None:
        """A key the screen holding the pad received: digits, Enter and Backspace for the pad,
        Escape for ``escape`` (the screen's Cancel); either way it goes no further."""
        if self.key(event):
            pass
        elif event.key == "escape":
            escape()
        else:
            return
        event.stop()
        event.prevent_default()

    def key(self, event: events.Key) -> bool:
        """Apply a key the screen received (digits, Enter, Backspace); True if it was one."""
        if event.character is not None and event.character.isdigit():
            self.type_digit(event.character)
        elif event.key == "enter":
            self.submit()
        elif event.key == "backspace":
            if not self.checking and not self.locked_until:
                self.pin = self.pin[:-1]
        else:
            return False
        return True

    @on(Keypad.Pressed)
    def _keypad(self, event: Keypad.Pressed) -> None:
        event.stop()
        if event.key.isdigit():
            self.type_digit(event.key)
        elif event.key == "clear":
            self.clear()
        elif event.key == "ok":
            self.submit()
