"""Small pieces several screens share."""

from __future__ import annotations

from textual.containers import VerticalScroll


class TouchScroll(VerticalScroll, can_focus=False):
    """Scrolls by touch or wheel; never takes the keyboard away from the screen."""


def digits_text(text: str) -> str:
    """Money for the ``Digits`` font, which has no thousands separator."""
    return text.replace(",", "")
