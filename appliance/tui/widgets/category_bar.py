"""A row of category tabs above the product grid; posts ``CategoryBar.Selected``."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.containers import HorizontalScroll
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button

from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton


class CategoryBar(HorizontalScroll, can_focus=False):
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

    def watch_active(self, active: str | None) -> None:
        for button in self.query(".category").results(TapButton):
            button.set_class(button.name == active, "-selected")
            button.variant = "primary" if button.name == active else "default"

    @on(Button.Pressed, ".category")
    def _selected(self, event: Button.Pressed) -> None:
        event.stop()
        assert event.button.name is not None
        self.post_message(self.Selected(event.button.name))
