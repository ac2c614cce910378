"""An on-screen keyboard for typing by touch: letters and digits, and a layer of the accented
letters of Spanish and Portuguese (á é í ó ú à â ê ô ã õ ü, with ñ and ç on both layers).

Keys are ``TapButton``s, so fast repeated taps are never dropped. A tap posts
``TextKeyboard.Pressed`` with the character typed, or "space", "backspace", "enter" or "done".
The accent layer goes back to letters after one accented letter, as phone keyboards do.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button
from textual.widgets.button import ButtonVariant

from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton

LETTERS = ("1234567890", "qwertyuiop", "asdfghjklñ", "zxcvbnmç")
ACCENTS = ("áéíóú", "àâêôü", "ãõñç")
# The bottom row of both layers: key name, label, colour.
COMMANDS: tuple[tuple[str, str, ButtonVariant], ...] = (
    ("space", "space", "default"),
    ("backspace", "⌫", "warning"),
    ("enter", "Enter", "primary"),
    ("done", "Done", "success"),
)


def key_id(name: str) -> str:
    """A widget id for a key: ``tk-a``, ``tk-enter``; letters beyond ASCII by code point
    (``tk-u00e1`` for á), since ids are ASCII."""
    return f"tk-{name}" if name.isascii() else f"tk-u{ord(name):04x}"


class TextKeyboard(Vertical):
    DEFAULT_CSS = tcss(__file__)

    accents: reactive[bool] = reactive(False)

    class Pressed(Message):
        def __init__(self, keyboard: TextKeyboard, key: str) -> None:
            super().__init__()
            self.keyboard = keyboard
            self.key = key

        @property
        def control(self) -> TextKeyboard:
            return self.keyboard

    def compose(self) -> ComposeResult:
        for layer, rows in (("letters", LETTERS), ("accents", ACCENTS)):
            with Vertical(id=f"tk-{layer}", classes="layer"):
                for row in rows:
                    with Horizontal(classes="row"):
                        for char in row:
                            yield TapButton(char, id=key_id(char), classes="char", name=char)
        with Horizontal(classes="row"):
            yield TapButton("áé", id="tk-layer", classes="command", name="layer")
            for name, label, variant in COMMANDS:
                yield TapButton(label, variant, id=key_id(name), classes="command", name=name)

    def watch_accents(self, accents: bool) -> None:
        self.query_one("#tk-letters").display = not accents
        self.query_one("#tk-accents").display = accents
        self.query_one("#tk-layer", TapButton).label = "abc" if accents else "áé"

    def key(self, name: str) -> TapButton:
        """The button of a key (a character, "layer", or one of the commands)."""
        return self.query_one(f"#{key_id(name)}", TapButton)

    @on(Button.Pressed, ".char, .command")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        name = event.button.name
        assert name is not None
        if name == "layer":
            self.accents = not self.accents
            return
        if len(name) == 1 and self.accents:
            self.accents = False
        self.post_message(self.Pressed(self, name))
