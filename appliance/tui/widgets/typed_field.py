"""A line of text typed on a keyboard or by a keyboard-wedge scanner, for screens that own their
keys (as the sell screen does: no ``Input`` takes focus, so a scanner's Enter is never applied
out of order, Textual #6605). The screen sends it the keys (``key``); a tap makes it the field
the screen types into and posts ``TypedField.Tapped``."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Static

from appliance.tui.widgets import tcss


class TypedField(Horizontal):
    DEFAULT_CSS = tcss(__file__)

    text: reactive[str] = reactive("", init=False)
    active: reactive[bool] = reactive(False, init=False)

    class Tapped(Message):
        def __init__(self, field: TypedField) -> None:
            super().__init__()
            self.field = field

        @property
        def control(self) -> TypedField:
            return self.field

    def __init__(
        self, label: str, placeholder: str, *, max_length: int = 2000, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.label = label
        self.placeholder = placeholder
        self.max_length = max_length

    def compose(self) -> ComposeResult:
        yield Static(self.label, classes="field-label", markup=False)
        yield Static(self.placeholder, classes="field-text -placeholder", markup=False)

    def _show(self) -> None:
        label = self.query_one(".field-text", Static)
        cursor = "▏" if self.active else ""
        label.update(f"{self.text}{cursor}" if self.text else f"{cursor}{self.placeholder}")
        label.set_class(not self.text, "-placeholder")

    def watch_text(self) -> None:
        self._show()

    def watch_active(self, active: bool) -> None:
        self.set_class(active, "-active")
        self._show()

    def key(self, event: events.Key) -> bool:
        """Apply a printable key or Backspace; True if it was one."""
        if event.key == "backspace":
            self.text = self.text[:-1]
        elif event.is_printable and event.character:
            if len(self.text) < self.max_length:
                self.text += event.character
        else:
            return False
        return True

    class KeyboardWanted(Message):
        """A finger chose the field: there may be no keyboard but the on-screen one (the app
        opens it over the field's screen)."""

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Tapped(self))
        self.post_message(self.KeyboardWanted())
