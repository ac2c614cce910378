"""Why money moves without a sale: a few reasons to tap, or one typed (``TypedField``).

The tapped or typed text is ``reason``; tapping a reason puts its words in the field, so staff
can still add to them on a keyboard."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Button

from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton
from appliance.tui.widgets.typed_field import TypedField

PAID_IN_REASONS = ("Change from the bank", "Float top-up", "Tips pooled", "Other income")
PAID_OUT_REASONS = ("Supplies", "Delivery", "Cleaning", "Change to the bank")
REFUND_REASONS = ("Faulty", "Wrong item", "Changed mind", "Overcharged")
VOID_REASONS = ("Customer left", "Changed mind", "Wrong items", "Could not pay")


class ReasonPicker(Vertical):
    DEFAULT_CSS = tcss(__file__)

    def __init__(self, reasons: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reasons = tuple(reasons)
        self.field = TypedField("Reason", "tap one, or type", id="reason-text")

    def compose(self) -> ComposeResult:
        with Grid(classes="reasons"):
            for i, reason in enumerate(self.reasons):
                yield TapButton(reason, id=f"reason-{i}", classes="reason", name=reason)
        yield self.field

    @property
    def reason(self) -> str:
        return self.field.text.strip()

    @on(Button.Pressed, ".reason")
    def _chosen(self, event: Button.Pressed) -> None:
        event.stop()
        assert event.button.name is not None
        self.field.text = event.button.name
        self.post_message(TypedField.Tapped(self.field))  # typing now goes to the reason
