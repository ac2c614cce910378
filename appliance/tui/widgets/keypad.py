"""An on-screen numeric keypad: a grid of big ``TapButton`` keys that posts ``Keypad.Pressed``."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Button
from textual.widgets.button import ButtonVariant

from appliance.i18n import decimal_symbol
from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton

# Key names (used in ids: "key-<name>") and what their buttons show.
LABELS = {"clear": "C", "ok": "OK", "back": "⌫", "00": "00"}
VARIANTS: dict[str, ButtonVariant] = {"ok": "success", "clear": "warning", "back": "warning"}

PIN_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok")
AMOUNT_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "dot", "0", "00", "back", "clear")
MAX_WHOLE_DIGITS = 7


def typed_amount(entry: str, key: str, decimals: int) -> str:
    """An amount being typed (``entry``, e.g. "7.3") after one more key of ``AMOUNT_KEYS``:
    at most ``decimals`` digits after the dot and ``MAX_WHOLE_DIGITS`` before it."""
    if key == "back":
        return entry[:-1]
    if key == "clear":
        return ""
    if key == "dot":
        return (entry or "0") + "." if decimals and "." not in entry else entry
    for digit in key:
        whole, dot, frac = entry.partition(".")
        if dot:
            entry = entry + digit if len(frac) < decimals else entry
        elif whole == "0":
            entry = digit
        elif len(whole) < MAX_WHOLE_DIGITS:
            entry += digit
    return entry


class Keypad(Grid):
    """Three columns of keys, in the order given."""

    DEFAULT_CSS = tcss(__file__)

    class Pressed(Message):
        """A key was tapped: ``key`` is "0".."9", "00", "dot", "back", "clear" or "ok"."""

        def __init__(self, keypad: Keypad, key: str) -> None:
            super().__init__()
            self.keypad = keypad
            self.key = key

        @property
        def control(self) -> Keypad:
            return self.keypad

    def __init__(
        self, keys: Sequence[str] = PIN_KEYS, *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.key_names = tuple(keys)

    def compose(self) -> ComposeResult:
        # The decimal key shows what the shop's locale writes before the cents ("," in Spain).
        labels = {**LABELS, "dot": decimal_symbol()}
        for key in self.key_names:
            yield TapButton(
                labels.get(key, key),
                VARIANTS.get(key, "default"),
                id=f"key-{key}",
                classes="key",
                name=key,
            )

    @on(Button.Pressed, ".key")
    def _key(self, event: Button.Pressed) -> None:
        event.stop()
        assert event.button.name is not None
        self.post_message(self.Pressed(self, event.button.name))
