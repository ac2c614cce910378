"""An on-screen keyboard for typing by touch: letters and digits; shift for capitals; a layer of
the accented letters of Spanish and Portuguese (á é í ó ú à â ê ô ã õ ü, with ñ and ç on both
layers); a layer of punctuation and signs (¿ ? ¡ ! º ª € R$ …).

Keys are ``TapButton``s, so fast repeated taps are never dropped. A tap posts
``TextKeyboard.Pressed`` with the character typed (a key of several, "R$", posts one each), or
"space", "backspace", "enter" or "done". Shift, like the accent and symbol layers, lasts for one
character, as phone keyboards do.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button
from textual.widgets.button import ButtonVariant

from appliance.i18n import N_, _
from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton

LETTERS = ("1234567890", "qwertyuiop", "asdfghjklñ", "zxcvbnmç")
ACCENTS = ("áéíóú", "àâêôü", "ãõñç")
SYMBOLS: tuple[Sequence[str], ...] = (
    "¿?¡!.,:;-/",
    ("€", "R$", "$", "%", "@", "&", "#", "(", ")", "'"),
    ("º", "ª", '"', "+", "*", "=", "_"),
)
LAYERS = {"letters": LETTERS, "accents": ACCENTS, "symbols": SYMBOLS}
# The bottom row of every layer: key name, label, colour.
COMMANDS: tuple[tuple[str, str, ButtonVariant], ...] = (
    ("space", N_("space"), "default"),
    ("backspace", "⌫", "warning"),
    ("enter", N_("Enter"), "primary"),
    ("done", N_("Done"), "success"),
)


def key_id(name: str) -> str:
    """A widget id for a key: ``tk-a``, ``tk-enter``; other characters by code point
    (``tk-u00e1`` for á, ``tk-u0052-u0024`` for R$), since ids are letters and digits."""
    if name.isascii() and name.isalnum():
        return f"tk-{name}"
    return "tk-" + "-".join(f"u{ord(char):04x}" for char in name)


class TextKeyboard(Vertical):
    DEFAULT_CSS = tcss(__file__)

    layer: reactive[str] = reactive("letters")
    shift: reactive[bool] = reactive(False)

    class Pressed(Message):
        def __init__(self, keyboard: TextKeyboard, key: str) -> None:
            super().__init__()
            self.keyboard = keyboard
            self.key = key

        @property
        def control(self) -> TextKeyboard:
            return self.keyboard

    @property
    def accents(self) -> bool:
        return self.layer == "accents"

    def compose(self) -> ComposeResult:
        for layer, rows in LAYERS.items():
            with Vertical(id=f"tk-{layer}-keys", classes="layer"):
                for row in rows:
                    with Horizontal(classes="row"):
                        for text in row:
                            yield TapButton(text, id=key_id(text), classes="char", name=text)
        with Horizontal(classes="row"):
            yield TapButton("⇧", id="tk-shift", classes="command", name="shift")
            yield TapButton("áé", id="tk-layer", classes="command", name="layer")
            yield TapButton("?123", id="tk-symbols", classes="command", name="symbols")
            for name, label, variant in COMMANDS:
                yield TapButton(_(label), variant, id=key_id(name), classes="command", name=name)

    def watch_layer(self, layer: str) -> None:
        for name in LAYERS:
            self.query_one(f"#tk-{name}-keys").display = name == layer
        self.query_one("#tk-layer", TapButton).label = "abc" if layer == "accents" else "áé"
        self.query_one("#tk-symbols", TapButton).label = "abc" if layer == "symbols" else "?123"

    def watch_shift(self, shift: bool) -> None:
        self.query_one("#tk-shift", TapButton).variant = "primary" if shift else "default"
        for button in self.query(".char").results(TapButton):
            text = button.name or ""
            if text.isalpha():
                button.label = text.upper() if shift else text

    def key(self, name: str) -> TapButton:
        """The button of a key (a character, "shift", "layer", "symbols" or a command)."""
        return self.query_one(f"#{key_id(name)}", TapButton)

    @on(Button.Pressed, ".char, .command")
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        name = event.button.name
        assert name is not None
        if name == "shift":
            self.shift = not self.shift
        elif name in ("layer", "symbols"):
            wanted = "accents" if name == "layer" else "symbols"
            self.layer = "letters" if self.layer == wanted else wanted
        elif event.button.has_class("char"):
            text = name.upper() if self.shift else name
            self.shift = False
            self.layer = "letters"
            for char in text:
                self.post_message(self.Pressed(self, char))
        else:
            self.post_message(self.Pressed(self, name))
