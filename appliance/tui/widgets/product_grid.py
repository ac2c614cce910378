"""The product grid: big buttons with name and price, a page of a category or of search results
at a time. The screen reads the pages (from the till's indexed catalog queries) and hands them
down; the grid asks for the next page (``NeedMore``) when the cashier scrolls near its end, so it
holds buttons only for what was shown, never for the whole catalog."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

from appliance.core.catalog import Product
from appliance.i18n import money
from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton

# Ask for the next page when fewer than this many rows of buttons are left below the view.
MORE_WHEN_ROWS_LEFT = 3


# Buttons kept (hidden) for reuse when a new view shows fewer: updating a button's label is far
# cheaper than mounting a new one, which a keystroke in the search would otherwise pay for.
KEEP_BUTTONS = 120


def _label(product: Product) -> Content:
    return Content(f"{product.name}\n{money(product.price)}")


class ProductButton(TapButton):
    def __init__(self, product: Product, *, id: str | None = None) -> None:
        super().__init__(_label(product), id=id, classes="product")
        self.product = product

    def show(self, product: Product) -> None:
        self.product = product
        self.label = _label(product)
        self.display = True


class ProductGrid(VerticalScroll, can_focus=False):
    DEFAULT_CSS = tcss(__file__)

    class Chosen(Message):
        """A product was tapped."""

        def __init__(self, product: Product) -> None:
            super().__init__()
            self.product = product

    class NeedMore(Message):
        """The cashier scrolled near the end of what is shown, and there is more."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.more = False  # the screen has another page of what is shown
        self._asked = False  # NeedMore posted, its page not yet appended
        self._count = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="no-match", markup=False)
        yield Grid(id="cells")

    def on_mount(self) -> None:
        self.watch(self, "scroll_y", self._scrolled, init=False)

    @property
    def buttons(self) -> list[ProductButton]:
        """The buttons of the products shown, in order."""
        return self._all()[: self._count]

    def _all(self) -> list[ProductButton]:
        return list(self.query_one("#cells", Grid).query_children(ProductButton))

    def button_for(self, sku: str) -> ProductButton | None:
        return next((b for b in self.buttons if b.product.sku == sku), None)

    async def show_products(
        self, products: Sequence[Product], more: bool, no_match: str = ""
    ) -> None:
        """Show ``products`` instead of what was shown (``more``: another page follows);
        ``no_match``: what to say when there are none."""
        with self.app.batch_update():
            spare = self._all()[KEEP_BUTTONS:]
            if spare:
                await self.query_one("#cells", Grid).remove_children(spare)
            self._count = 0
            self._asked = False
            self.more = more
            self.scroll_home(animate=False)
            label = self.query_one("#no-match", Static)
            label.update(no_match if not products else "")
            label.display = bool(no_match) and not products
            await self._mount(products)

    async def append_products(self, products: Sequence[Product], more: bool) -> None:
        """The next page of what is shown."""
        self.more = more
        self._asked = False
        await self._mount(products)

    async def _mount(self, products: Sequence[Product]) -> None:
        """Show ``products`` after the ones shown: in the buttons kept, then new ones."""
        kept = self._all()
        start = self._count
        reused = kept[start : start + len(products)]
        for button, product in zip(reused, products, strict=False):
            button.show(product)
        for button in kept[start + len(products) :]:
            button.display = False
        self._count += len(products)
        fresh = products[len(reused) :]
        if fresh:
            first = start + len(reused)
            await self.query_one("#cells", Grid).mount_all(
                ProductButton(p, id=f"product-{first + i}") for i, p in enumerate(fresh)
            )
        self.call_after_refresh(self._check_more)

    def _scrolled(self) -> None:
        self._check_more()

    def _check_more(self) -> None:
        """Ask for the next page when the view is near the end (or not even full)."""
        if not self.more or self._asked:
            return
        row = 6  # a button's height and the gutter
        if self.max_scroll_y - self.scroll_y <= MORE_WHEN_ROWS_LEFT * row:
            self._asked = True
            self.post_message(self.NeedMore())

    @on(Button.Pressed, ".product")
    def _chosen(self, event: Button.Pressed) -> None:
        event.stop()
        assert isinstance(event.button, ProductButton)
        self.post_message(self.Chosen(event.button.product))
