"""What every screen shows instead of itself when the console is smaller than the smallest
panel the kiosk is laid out for (docs/TECHNICIAN.md, "Panel sizes and layouts").

The app mounts one into whichever screen is on top while the console is too small, and its
``-too-small`` class hides everything else on every screen (app.tcss): never half a screen,
never a total or a keypad cut off. The screens stay as they were underneath; once the console
is big enough again they show as before.
"""

from __future__ import annotations

from textual.widgets import Static

from appliance.i18n import _
from appliance.tui.widgets import tcss

# The smallest console the screens are laid out for, in cells: the narrowest panel (720x1280
# portrait, 90 cells across) and the shortest (800x480, 30 rows). Every screen is checked at this
# size (tests/test_tui_too_small.py).
MIN_SIZE = (90, 30)


def too_small(size: tuple[int, int]) -> bool:
    width, height = size
    return width < MIN_SIZE[0] or height < MIN_SIZE[1]


def too_small_words(size: tuple[int, int]) -> str:
    width, height = size
    return _(
        "Screen too small: the till needs at least {needed} characters, this one has {has}."
        "\n\nUse the panel the till was set up for, or a smaller console font"
        ' (docs/TECHNICIAN.md, "Panel sizes and layouts").'
    ).format(needed=f"{MIN_SIZE[0]}×{MIN_SIZE[1]}", has=f"{width}×{height}")


class TooSmall(Static):
    DEFAULT_CSS = tcss(__file__)

    def __init__(self, size: tuple[int, int]) -> None:
        super().__init__(too_small_words(size), markup=False)

    def show_size(self, size: tuple[int, int]) -> None:
        self.update(too_small_words(size))
