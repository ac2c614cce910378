"""No sale: open the cash drawer outside a sale, on a manager's PIN.

Dismissed with the ``DrawerOpening`` once the till has recorded the opening and pulsed the drawer
(its ``problem`` says if the pulse failed), or None on Cancel. The PIN is checked by
``Till.open_drawer_no_sale`` (in a worker), so a cashier's PIN is refused by the till itself, not
only by this screen.
"""

from __future__ import annotations

import logging

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.reactive import reactive, var
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.services.till import AuthError, DrawerError, DrawerOpening, Staff, Till
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

    @staticmethod
    def _masked(pin: str) -> str:
        return " ".join("●" * len(pin)) if pin else "· · · ·"

    def watch_pin(self, pin: str) -> None:
        self.query_one("#no-sale-pin", Static).update(self._masked(pin))

    def watch_message(self, message: str) -> None:
        self.query_one("#no-sale-message", Static).update(message)

    def type_digit(self, digit: str) -> None:
        if self.checking or len(self.pin) >= MAX_PIN_LENGTH:
            return
        self.message = ""
        self.pin += digit

    def submit(self) -> None:
        if self.checking:
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
        if not self.checking:
            self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        if event.character is not None and event.character.isdigit():
            self.type_digit(event.character)
        elif event.key == "enter":
            self.submit()
        elif event.key == "backspace":
            if not self.checking:
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
