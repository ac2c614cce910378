"""The cart beside the grid: lines to select, quantity +/−, remove, and the totals.

The sell screen owns the ``Cart`` and calls ``show`` after every change; this widget posts
``CartView.LineSelected`` when a line is tapped. Its buttons (``#qty-minus``, ``#qty-plus``,
``#remove-line``) bubble their ``Button.Pressed`` up to the screen.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Digits, Static

from appliance.core.cart import Cart, CartLine
from appliance.i18n import _, money
from appliance.tui.widgets import tcss
from appliance.tui.widgets.basics import TouchScroll, digits_text
from appliance.tui.widgets.tap_button import TapButton


class CartLineRow(Horizontal):
    """One line: quantity, name, amount. Tapping it selects it."""

    def __init__(self, index: int, line: CartLine, selected: bool) -> None:
        super().__init__(classes="line")
        self.index = index
        self._line = line
        self._selected = selected

    def compose(self) -> ComposeResult:
        yield Static(self._qty_text(), classes="qty", markup=False)
        yield Static(self._line.product.name, classes="name", markup=False)
        yield Static(money(self._line.amount), classes="amount", markup=False)

    def on_mount(self) -> None:
        self.set_class(self._selected, "-selected")

    def on_resize(self) -> None:
        # A new row has no place until it is laid out, which may be several refreshes after it
        # was mounted (later still on a busy till): the selected one brings itself into view
        # then. Also keeps it in view when the panel's size changes.
        if self._selected:
            self.scroll_visible(animate=False, immediate=True)

    def _qty_text(self) -> str:
        return f"{self._line.quantity} ×"

    def show(self, line: CartLine, selected: bool) -> None:
        self._line, self._selected = line, selected
        self.set_class(selected, "-selected")
        if self.is_mounted:
            self.query_one(".qty", Static).update(self._qty_text())
            self.query_one(".name", Static).update(line.product.name)
            self.query_one(".amount", Static).update(money(line.amount))

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(CartView.LineSelected(self.index))


class CartView(Vertical):
    DEFAULT_CSS = tcss(__file__)

    class LineSelected(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def compose(self) -> ComposeResult:
        yield Static(_("Cart is empty: tap a product or scan a barcode"), id="cart-empty")
        yield TouchScroll(id="cart-lines")
        with Horizontal(id="line-actions"):
            yield TapButton("−", id="qty-minus", disabled=True)
            yield TapButton("+", id="qty-plus", disabled=True)
            yield TapButton(_("Remove"), "error", id="remove-line", disabled=True)
        with Vertical(id="totals"):
            with Horizontal(classes="total-row"):
                yield Static(_("Subtotal"), classes="label")
                yield Static("", id="subtotal", classes="value")
            with Horizontal(classes="total-row"):
                yield Static(_("Tax"), classes="label")
                yield Static("", id="tax", classes="value")
            with Horizontal(classes="total-row", id="total-row"):
                yield Static(_("TOTAL"), classes="label")
                yield Digits("", id="total")

    @property
    def rows(self) -> list[CartLineRow]:
        """The rows on show, one per cart line, in order."""
        lines = self.query_one("#cart-lines", TouchScroll)
        return [row for row in lines.query_children(CartLineRow) if not row.has_class("-gone")]

    def show(self, cart: Cart, selected: int | None) -> None:
        """Show ``cart`` with line ``selected`` highlighted (None: no line selected)."""
        lines = self.query_one("#cart-lines", TouchScroll)
        rows = self.rows
        for row in rows[len(cart.lines) :]:
            row.add_class("-gone")  # removal finishes later; never count it again
            row.remove()
        for index, (row, line) in enumerate(zip(rows, cart.lines, strict=False)):
            row.show(line, index == selected)
        new_rows = [
            CartLineRow(i, cart.lines[i], i == selected) for i in range(len(rows), len(cart.lines))
        ]
        if new_rows:
            lines.mount_all(new_rows)
        rows = rows[: len(cart.lines)] + new_rows
        self.query_one("#cart-empty").display = cart.is_empty
        totals = cart.totals()
        self.query_one("#subtotal", Static).update(money(totals.subtotal))
        self.query_one("#tax", Static).update(money(totals.tax))
        self.query_one("#total", Digits).update(digits_text(money(totals.total)))
        for button_id in ("#qty-minus", "#qty-plus", "#remove-line"):
            self.query_one(button_id, TapButton).disabled = selected is None
        if selected is not None and selected < len(rows) and rows[selected].size:
            rows[selected].scroll_visible(animate=False)  # after the refresh that moves it
