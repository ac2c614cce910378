"""A button for fingers: it never drops a fast second tap.

Textual's ``Button`` ignores a press while its "-active" effect lasts (``active_effect_duration``,
0.2 s), so a cashier tapping "1 1" on a keypad or "+ +" on a quantity would lose the second tap.
``TapButton`` turns that effect off and flashes its own "-tapped" class instead, which only styles.
It does not take focus either: the kiosk is driven by touch, and the keys a keyboard or a scanner
sends go to the screen, never to whichever button was tapped last.
"""

from __future__ import annotations

from typing import Self

from textual.content import ContentText
from textual.timer import Timer
from textual.widgets import Button
from textual.widgets.button import ButtonVariant

from appliance.tui.widgets import tcss

FLASH_S = 0.15


class TapButton(Button):
    DEFAULT_CSS = tcss(__file__)
    can_focus = False

    def __init__(
        self,
        label: ContentText | None = None,
        variant: ButtonVariant = "default",
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ) -> None:
        super().__init__(label, variant, name=name, id=id, classes=classes, disabled=disabled)
        self.active_effect_duration = 0  # never "-active", so Button never ignores a tap
        self._flash_timer: Timer | None = None

    def press(self) -> Self:
        if not self.disabled and self.display:
            self._flash()
        return super().press()

    def _flash(self) -> None:
        self.add_class("-tapped")
        if self._flash_timer is not None:
            self._flash_timer.stop()
        self._flash_timer = self.set_timer(FLASH_S, self._unflash)

    def _unflash(self) -> None:
        self.remove_class("-tapped")
        self._flash_timer = None
