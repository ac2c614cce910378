"""The lock screen: a PIN on the on-screen keypad (or typed, then Enter) unlocks the till, and so
does a staff badge tapped on the NFC reader (the app passes taps down with ``badge_tapped``).

Five wrong PINs close together lock the PIN pad (``Till.unlock`` counts them and keeps the lock
in the store): the screen then says "Too many wrong PINs: try again in 4:32", counting down, with
the keypad disabled; badges still work. It asks the till at mount, so a lock survives a
restart."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.reactive import reactive, var
from textual.screen import Screen
from textual.widgets import Static

from appliance.core.lockout import TILL, locked_message
from appliance.services.till import AuthError, LockedOut, Staff, Till
from appliance.tui.widgets.keypad import PIN_KEYS, Keypad

log = logging.getLogger(__name__)

MAX_PIN_LENGTH = 8


class LockScreen(Screen[Staff]):
    """Dismissed with the ``Staff`` whose PIN was entered or whose badge was tapped."""

    CSS_PATH = "lock.tcss"
    AUTO_FOCUS = None

    pin: reactive[str] = reactive("", init=False)
    message: reactive[str] = reactive("", init=False)
    checking: var[bool] = var(False)
    # Until when the PIN pad is locked, by the till's clock; None when it is not.
    locked_until: var[datetime | None] = var(None, init=False)

    def __init__(self, till: Till) -> None:
        super().__init__()
        self.till = till

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="lock-panel"):
            yield Static(self.till.settings.device.merchant_name, id="lock-title", markup=False)
            yield Static(self._prompt(), id="lock-prompt")
            yield Static(self._masked(""), id="pin-display")
            yield Static("", id="lock-message", markup=False)
            with Center():
                yield Keypad(PIN_KEYS, id="pin-keypad")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._ask_lockout()

    @work(exclusive=True, group="lockout", exit_on_error=False)
    async def _ask_lockout(self) -> None:
        """A lock from before a restart (or from another screen) shows at once."""
        try:
            remaining = await self.till.lockout_remaining()
        except Exception:
            log.exception("could not read the PIN lockout")
            return
        if remaining:
            self.locked_until = self.till.clock() + remaining

    def watch_locked_until(self, until: datetime | None) -> None:
        self.query_one("#pin-keypad", Keypad).disabled = until is not None
        self.pin = ""
        self._tick()

    def _tick(self) -> None:
        """Count the lock down; when it ends, the keypad comes back (the till stays the judge:
        a PIN it still refuses starts the countdown again)."""
        if self.locked_until is None:
            return
        left = self.locked_until - self.till.clock()
        if left.total_seconds() <= 0:
            self.locked_until = None
            self.message = ""
        else:
            self.message = locked_message(TILL, left)

    def _prompt(self) -> str:
        if self.till.settings.nfc.kind == "none":
            return "Enter your PIN"
        return "Enter your PIN or tap your badge"

    @staticmethod
    def _masked(pin: str) -> str:
        return " ".join("●" * len(pin)) if pin else "· · · ·"

    def watch_pin(self, pin: str) -> None:
        self.query_one("#pin-display", Static).update(self._masked(pin))

    def watch_message(self, message: str) -> None:
        self.query_one("#lock-message", Static).update(message)

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
            self.message = "Enter your PIN first"
            return
        self.checking = True
        self._check(self.pin)

    def badge_tapped(self, uid: str) -> None:
        """A card arrived on the NFC reader: unlock for its owner (ignored mid-check). Badges
        work while the PIN pad is locked: a badge is not a guess."""
        if self.checking:
            return
        self.checking = True
        if not self.locked_until:
            self.message = ""
        self._check_badge(uid)

    @on(Keypad.Pressed)
    def _keypad(self, event: Keypad.Pressed) -> None:
        if event.key.isdigit():
            self.type_digit(event.key)
        elif event.key == "clear":
            self.clear()
        elif event.key == "ok":
            self.submit()

    def on_key(self, event: events.Key) -> None:
        if event.character is not None and event.character.isdigit():
            self.type_digit(event.character)
        elif event.key == "enter":
            self.submit()
        elif event.key == "backspace":
            if not self.checking and not self.locked_until:
                self.pin = self.pin[:-1]
        elif event.key == "escape":
            self.clear()
        else:
            return
        event.stop()
        event.prevent_default()

    def _check(self, pin: str) -> None:
        self._identify(lambda: self.till.unlock(pin), "Wrong PIN, try again", "PIN")

    def _check_badge(self, uid: str) -> None:
        self._identify(lambda: self.till.unlock_badge(uid), "Unknown badge, use your PIN", "badge")

    @work(exclusive=True, group="unlock", exit_on_error=False)
    async def _identify(self, who: Callable[[], Awaitable[Staff]], refused: str, what: str) -> None:
        """Unlock for whoever ``who`` finds; ``refused`` is shown when it finds nobody."""
        try:
            staff = await who()
        except LockedOut as err:
            if err.subject == TILL:
                self.locked_until = self.till.clock() + err.remaining
            else:  # the right PIN or badge of someone locked out: tell them, not others
                self.message = locked_message(err.subject, err.remaining)
            return
        except AuthError:
            self.message = refused
            return
        except Exception as err:
            log.exception("%s check failed", what)
            self.message = f"Could not check the {what}: {err}"
            return
        finally:
            self.pin = ""
            self.checking = False
        self.dismiss(staff)
