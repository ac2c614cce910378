"""The on-screen keyboard over a screen: the sell screen's search, or a text field tapped on any
screen (a reason, a sale id, a refund's destination).

Each tap reaches the screen beneath as the key a keyboard would send, so typing, backspace and
Enter (on the sell screen: add the only product a search shows) take the screen's own path.
"Done" closes the keyboard; the text stays. Over a form (``enter=False``) Enter closes it too,
so finishing a reason never confirms the whole form by surprise.
"""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.screen import ModalScreen, Screen

from appliance.tui.widgets.text_keyboard import TextKeyboard

KEYS = {"space": ("space", " "), "backspace": ("backspace", None), "enter": ("enter", "\r")}


class SearchKeyboardScreen(ModalScreen[None]):
    CSS_PATH = "search_keyboard.tcss"
    AUTO_FOCUS = None

    def __init__(self, target: Screen[Any], *, enter: bool = True) -> None:
        super().__init__()
        self.target = target
        self.enter = enter

    def compose(self) -> ComposeResult:
        yield TextKeyboard(id="search-keyboard")

    @on(TextKeyboard.Pressed)
    def _pressed(self, event: TextKeyboard.Pressed) -> None:
        if event.key == "done" or (event.key == "enter" and not self.enter):
            self.dismiss(None)
            return
        key, character = KEYS.get(event.key, (event.key, event.key))
        self.target.post_message(events.Key(key, character))
