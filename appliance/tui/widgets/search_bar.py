"""What the cashier has typed to search the catalog, with a big Clear button and one that opens
the on-screen keyboard (the app opens it: ``#search-keys``).

It holds no keyboard focus: the sell screen receives every key (so that it can tell a scanner's
burst from typing) and sets ``text`` here.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.widgets import Static

from appliance.i18n import N_, _
from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton

PLACEHOLDER = N_("Type to search, or scan a barcode")


class SearchBar(Horizontal):
    DEFAULT_CSS = tcss(__file__)

    text: reactive[str] = reactive("")

    def compose(self) -> ComposeResult:
        yield Static(_("Search"), id="search-label")
        yield Static(_(PLACEHOLDER), id="search-text", markup=False)
        yield TapButton(_("Clear"), id="search-clear")
        yield TapButton(_("Keys"), id="search-keys")

    def watch_text(self, text: str) -> None:
        label = self.query_one("#search-text", Static)
        label.update(f"{text}▏" if text else _(PLACEHOLDER))
        label.set_class(not text, "-placeholder")
        self.query_one("#search-clear", TapButton).disabled = not text
