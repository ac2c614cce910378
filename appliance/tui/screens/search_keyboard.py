"""The on-screen keyboard over the sell screen, for searching the catalog by touch.

Each tap reaches the sell screen as the key a keyboard would send, so typing, backspace and
Enter (which adds the only product a search shows) take the sell screen's own path. "Done"
closes the keyboard; the search stays.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen

from appliance.tui.widgets.text_keyboard import TextKeyboard

KEYS = {"space": ("space", " "), "backspace": ("backspace", None), "enter": ("enter", "\r")}


class SearchKeyboardScreen(ModalScreen[None]):
    CSS_PATH = "search_keyboard.tcss"
    AUTO_FOCUS = None

    def __init__(self, target: Screen[None]) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        yield TextKeyboard(id="search-keyboard")

    @on(TextKeyboard.Pressed)
    def _pressed(self, event: TextKeyboard.Pressed) -> None:
        if event.key == "done":
            self.dismiss(None)
            return
        key, character = KEYS.get(event.key, (event.key, event.key))
        self.target.post_message(events.Key(key, character))
