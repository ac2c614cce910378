"""After a sale: the change to hand back in big digits, any device trouble, Next customer.

The screen goes away on "Next customer" (or Enter), or by itself after ``auto_next_s`` seconds
when nothing went wrong; a warning (receipt not printed, drawer shut) stays until someone taps.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.services.till import SaleResult
from appliance.tui.widgets.basics import digits_text
from appliance.tui.widgets.tap_button import TapButton


class SaleDoneScreen(ModalScreen[None]):
    CSS_PATH = "sale_done.tcss"
    AUTO_FOCUS = None

    def __init__(self, result: SaleResult, auto_next_s: float | None = None) -> None:
        super().__init__()
        self.result = result
        self.auto_next_s = auto_next_s
        self._finished = False

    def compose(self) -> ComposeResult:
        result = self.result
        with Vertical(id="done-dialog"):
            yield Static("Sale complete", id="done-title")
            yield Static("CHANGE DUE", id="done-change-label")
            yield Digits(digits_text(result.change.format()), id="done-change")
            yield Static(
                f"Total {result.total} · Cash {result.total + result.change} · "
                f"Journal #{result.record.seq}",
                id="done-summary",
                markup=False,
            )
            if result.problems:
                yield Static(
                    "\n".join(f"⚠ {p}" for p in result.problems), id="done-problems", markup=False
                )
            yield TapButton("Next customer", "primary", id="next-customer")

    def on_mount(self) -> None:
        if self.auto_next_s is not None and not self.result.problems:
            self.set_timer(self.auto_next_s, self.finish)

    @on(Button.Pressed, "#next-customer")
    def finish(self) -> None:
        if not self._finished:  # a tap and the timer must not pop two screens
            self._finished = True
            self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        if event.key in ("enter", "escape"):
            event.stop()
            self.finish()
