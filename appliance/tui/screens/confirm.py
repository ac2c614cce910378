"""A yes/no question before something that cannot be undone (a Z sealed short or over).

The question says what will happen in figures; "No" is on the left and the default (Escape),
"Yes" says what it does. Dismissed with True (yes) or False.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.tui.widgets.tap_button import TapButton


class ConfirmScreen(ModalScreen[bool]):
    CSS_PATH = "confirm.tcss"
    AUTO_FOCUS = None

    def __init__(self, title: str, question: str, yes: str, no: str) -> None:
        super().__init__()
        self.title_text = title
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(self.title_text, id="confirm-title", markup=False)
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal(id="confirm-actions"):
                yield TapButton(self.no, "default", id="confirm-no")
                yield TapButton(self.yes, "warning", id="confirm-yes")

    @on(Button.Pressed, "#confirm-no")
    def no_(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm-yes")
    def yes_(self) -> None:
        self.dismiss(True)

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            self.dismiss(False)
