"""Small pieces several screens share."""

from __future__ import annotations

from textual.containers import Vertical, VerticalScroll
from textual.widgets import Digits, Static

from appliance.i18n import _, group_symbol


class TouchScroll(VerticalScroll, can_focus=False):
    """Scrolls by touch or wheel; never takes the keyboard away from the screen."""


def digits_text(text: str) -> str:
    """Money for the ``Digits`` font, which has no thousands separator (nor a no-break space)."""
    return text.replace(group_symbol(), "").replace("\u00a0", " ")


def amount_box(
    label: str, digits_id: str, value: str = "", *, label_id: str | None = None
) -> Vertical:
    """A labelled amount in large digits (TOTAL, TENDERED, CHANGE…), as the pay screens show it."""
    return Vertical(
        Static(label, id=label_id, classes="amount-label"),
        Digits(digits_text(value), id=digits_id),
        classes="amount-box",
    )


def countdown_text(seconds: float) -> str:
    """ "Pay within 9:59", or the moment it is over."""
    if seconds <= 0:
        return _("Time is up")
    whole = int(seconds)
    return _("Pay within {time}").format(time=f"{whole // 60}:{whole % 60:02d}")
