"""The product grid: big buttons with name and price, filtered by category or by a search."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

from appliance.core.catalog import Product
from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton


def fold(text: str) -> str:
    """Lower case without accents, so "agua" finds "Água mineral"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class ProductButton(TapButton):
    def __init__(self, product: Product, *, id: str | None = None) -> None:
        super().__init__(Content(f"{product.name}\n{product.price}"), id=id, classes="product")
        self.product = product
        self.folded_name = fold(product.name)


class ProductGrid(VerticalScroll, can_focus=False):
    DEFAULT_CSS = tcss(__file__)

    class Chosen(Message):
        """A product was tapped."""

        def __init__(self, product: Product) -> None:
            super().__init__()
            self.product = product

    def compose(self) -> ComposeResult:
        yield Static("", id="no-match", markup=False)
        yield Grid(id="cells")

    @property
    def buttons(self) -> list[ProductButton]:
        return list(self.query_one("#cells", Grid).query_children(ProductButton))

    def button_for(self, sku: str) -> ProductButton | None:
        return next((b for b in self.buttons if b.product.sku == sku), None)

    async def show_products(self, products: Iterable[Product]) -> None:
        cells = self.query_one("#cells", Grid)
        await cells.remove_children()
        await cells.mount_all(ProductButton(p, id=f"product-{i}") for i, p in enumerate(products))

    def filter(self, category: str | None, query: str) -> int:
        """Show the products of ``category``, or, with a query, those whose name contains it
        (in every category). Returns how many are shown."""
        needle = fold(query.strip())
        shown = 0
        for button in self.buttons:
            visible = (
                needle in button.folded_name if needle else button.product.category == category
            )
            button.display = visible
            shown += visible
        no_match = self.query_one("#no-match", Static)
        no_match.update(f"No product matches “{query.strip()}”" if needle and not shown else "")
        no_match.display = bool(needle) and not shown
        self.scroll_home(animate=False)
        return shown

    @on(Button.Pressed, ".product")
    def _chosen(self, event: Button.Pressed) -> None:
        event.stop()
        assert isinstance(event.button, ProductButton)
        self.post_message(self.Chosen(event.button.product))
