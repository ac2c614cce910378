"""Why money moves without a sale: a few reasons to tap, or one typed (``TypedField``).

The tapped or typed text is ``reason``; tapping a reason puts its words in the field, so staff
can still add to them on a keyboard."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Button

from appliance.i18n import N_, _
from appliance.tui.widgets import tcss
from appliance.tui.widgets.tap_button import TapButton
from appliance.tui.widgets.typed_field import TypedField

# A tapped reason is recorded in the UI's language, as one typed would be.
PAID_IN_REASONS = (
    N_("Change from the bank"),
    N_("Float top-up"),
    N_("Tips pooled"),
    N_("Other income"),
)
PAID_OUT_REASONS = (N_("Supplies"), N_("Delivery"), N_("Cleaning"), N_("Change to the bank"))
REFUND_REASONS = (N_("Faulty"), N_("Wrong item"), N_("Changed mind"), N_("Overcharged"))
VOID_REASONS = (N_("Customer left"), N_("Changed mind"), N_("Wrong items"), N_("Could not pay"))


class ReasonPicker(Vertical):
    DEFAULT_CSS = tcss(__file__)

    def __init__(self, reasons: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reasons = tuple(reasons)
        self.field = TypedField(_("Reason"), _("tap one, or type"), id="reason-text")

    def compose(self) -> ComposeResult:
        with Grid(classes="reasons"):
            for i, reason in enumerate(self.reasons):
                shown = _(reason)
                yield TapButton(shown, id=f"reason-{i}", classes="reason", name=shown)
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
