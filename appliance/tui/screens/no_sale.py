"""No sale: open the cash drawer outside a sale, on a manager's PIN.

Dismissed with the ``DrawerOpening`` once the till has recorded the opening and pulsed the drawer
(its ``problem`` says if the pulse failed), or None on Cancel. The PIN is checked by
``Till.open_drawer_no_sale`` (in a worker), so a cashier's PIN is refused by the till itself, not
only by this screen.

Wrong PINs here count against the staff member who asked (the till's rule): after five close
together they are locked out, the screen counts the lock down with the keypad disabled, and
Cancel locks the till, since they may not go on selling.
"""

from __future__ import annotations

import logging
from datetime import datetime

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.reactive import reactive, var
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.lockout import locked_message, staff_subject
from appliance.services.till import (
    AuthError,
    DrawerError,
    DrawerOpening,
    LockedOut,
    Staff,
    Till,
)
from appliance.tui.screens.sell import SellScreen
from appliance.tui.widgets.keypad import PIN_KEYS, Keypad
from appliance.tui.widgets.tap_button import TapButton

log = logging.getLogger(__name__)

MAX_PIN_LENGTH = 8


class NoSaleScreen(ModalScreen[DrawerOpening | None]):
    CSS_PATH = "no_sale.tcss"
    AUTO_FOCUS = None

    pin: reactive[str] = reactive("", init=False)
    message: reactive[str] = reactive("", init=False)
    checking: var[bool] = var(False)
    # Until when ``staff`` is locked out, by the till's clock; None when they are not.
    locked_until: var[datetime | None] = var(None, init=False)

    def __init__(self, till: Till, staff: Staff) -> None:
        super().__init__()
        self.till = till
        self.staff = staff

    def compose(self) -> ComposeResult:
        with Vertical(id="no-sale-dialog"):
            yield Static("No sale: open the drawer", id="no-sale-title")
            yield Static("A manager's PIN is needed", id="no-sale-prompt")
            yield Static(self._masked(""), id="no-sale-pin")
            yield Static("", id="no-sale-message", markup=False)
            with Center():
                yield Keypad(PIN_KEYS, id="no-sale-keypad")
            yield TapButton("Cancel", "error", id="no-sale-cancel")

    def on_mount(self) -> None:
        self.set_interval(1.0, self._tick)
        self._ask_lockout()

    @work(exclusive=True, group="lockout", exit_on_error=False)
    async def _ask_lockout(self) -> None:
        try:
            remaining = await self.till.lockout_remaining(self.staff)
        except Exception:
            log.exception("could not read the PIN lockout")
            return
        if remaining:
            self.locked_until = self.till.clock() + remaining

    def watch_locked_until(self, until: datetime | None) -> None:
        self.query_one("#no-sale-keypad", Keypad).disabled = until is not None
        self.pin = ""
        self._tick()

    def _tick(self) -> None:
        if self.locked_until is None:
            return
        left = self.locked_until - self.till.clock()
        if left.total_seconds() <= 0:
            self.locked_until = None
            self.message = ""
        else:
            self.message = locked_message(staff_subject(self.staff.id), left, self.staff.name)

    @staticmethod
    def _masked(pin: str) -> str:
        return " ".join("●" * len(pin)) if pin else "· · · ·"

    def watch_pin(self, pin: str) -> None:
        self.query_one("#no-sale-pin", Static).update(self._masked(pin))

    def watch_message(self, message: str) -> None:
        self.query_one("#no-sale-message", Static).update(message)

    def type_digit(self, digit: str) -> None:
        if self.checking or self.locked_until or len(self.pin) >= MAX_PIN_LENGTH:
            return
        self.message = ""
        self.pin += digit

    def submit(self) -> None:
        if self.checking or self.locked_until:
            return
        if not self.pin:
            self.message = "Enter the manager's PIN first"
            return
        self.checking = True
        self._open(self.pin)

    @on(Keypad.Pressed)
    def _keypad(self, event: Keypad.Pressed) -> None:
        if event.key.isdigit():
            self.type_digit(event.key)
        elif event.key == "clear" and not self.checking:
            self.pin = ""
        elif event.key == "ok":
            self.submit()

    @on(Button.Pressed, "#no-sale-cancel")
    def cancel(self) -> None:
        if self.checking:
            return
        if self.locked_until:  # locked out: they may not go on selling
            self.app.post_message(SellScreen.LockRequested())
        self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        if event.character is not None and event.character.isdigit():
            self.type_digit(event.character)
        elif event.key == "enter":
            self.submit()
        elif event.key == "backspace":
            if not self.checking and not self.locked_until:
                self.pin = self.pin[:-1]
        elif event.key == "escape":
            self.cancel()
        else:
            return
        event.stop()
        event.prevent_default()

    @work(exclusive=True, group="no-sale", exit_on_error=False)
    async def _open(self, pin: str) -> None:
        try:
            opening = await self.till.open_drawer_no_sale(self.staff, pin)
        except LockedOut as err:
            if err.subject == staff_subject(self.staff.id):
                self.locked_until = self.till.clock() + err.remaining
            else:  # the approver's PIN is locked: another manager may still approve
                self.message = str(err)
            return
        except AuthError as err:  # a wrong PIN, or someone who is not a manager
            self.message = "Wrong PIN, try again" if type(err) is AuthError else str(err)
            return
        except DrawerError as err:
            self.message = f"Drawer not opened: {err}"
            return
        except Exception as err:
            log.exception("no-sale opening failed")
            self.message = f"Drawer not opened: {err}"
            return
        finally:
            self.pin = ""
            self.checking = False
        self.dismiss(opening)
