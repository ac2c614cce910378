"""The category tabs above the product grid; posts ``CategoryBar.Selected``.

The tabs take as many rows as they need, each tab as wide as the longest name: a tab cut at the
screen's edge hides a category from a cashier who cannot know it is there (at 90 cells across,
"Merch" read "Mer"), so the bar never scrolls. Most shops' categories fit one row.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from textual import on
from textual.containers import Container
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button

from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton

# A tab's width around its name: Textual's button border and line padding, and a cell each side.
TAB_FRAME = 6
MIN_TAB = 10
GUTTER = 1


class CategoryBar(Container, can_focus=False):
    DEFAULT_CSS = tcss(__file__)

    active: reactive[str | None] = reactive(None)

    class Selected(Message):
        def __init__(self, category: str) -> None:
            super().__init__()
            self.category = category

    async def show_categories(self, categories: Sequence[str]) -> None:
        await self.remove_children()
        await self.mount_all(
            TapButton(Content(name), id=f"category-{i}", classes="category", name=name)
            for i, name in enumerate(categories)
        )
        self.watch_active(self.active)
        self._lay_out()

    def on_resize(self) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        """As many tabs a row as fit whole (at least one)."""
        tabs = list(self.query(".category").results(TapButton))
        if not tabs:
            return
        widest = max(MIN_TAB, *(cell_len(str(t.name)) + TAB_FRAME for t in tabs))
        room = self.content_size.width
        fit = max(1, (room + GUTTER) // (widest + GUTTER)) if room else len(tabs)
        self.styles.grid_size_columns = min(len(tabs), fit)

    def watch_active(self, active: str | None) -> None:
        for button in self.query(".category").results(TapButton):
            button.set_class(button.name == active, "-selected")
            button.variant = "primary" if button.name == active else "default"

    @on(Button.Pressed, ".category")
    def _selected(self, event: Button.Pressed) -> None:
        event.stop()
        assert event.button.name is not None
        self.post_message(self.Selected(event.button.name))
