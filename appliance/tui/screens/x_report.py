"""The X report on screen: the open period's running totals, nothing reset.

Shown for a manager (the shift service refuses anyone else, whatever this screen does); Print
sends the same report to the receipt printer. Opened from the manager menu.
"""

from __future__ import annotations

import logging

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.report import report_lines
from appliance.i18n import _, money, ui_translations
from appliance.services.shift import ShiftService
from appliance.services.till import Staff
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)


class XReportScreen(ModalScreen[None]):
    CSS_PATH = "x_report.tcss"
    AUTO_FOCUS = None

    text: reactive[str] = reactive("…", init=False)
    message: reactive[str] = reactive("", init=False)

    def __init__(self, shifts: ShiftService, staff: Staff) -> None:
        super().__init__()
        self.shifts = shifts
        self.staff = staff

    def compose(self) -> ComposeResult:
        with Vertical(id="x-dialog"):
            yield Static(_("X report"), id="x-title")
            yield Static(self.text, id="x-lines", markup=False)
            yield Static("", id="x-message", markup=False)
            yield TapButton(_("Print"), "primary", id="x-print")
            yield TapButton(_("Close"), "default", id="x-close")

    def on_mount(self) -> None:
        self._load(print_it=False)

    def watch_text(self, text: str) -> None:
        self.query_one("#x-lines", Static).update(text)

    def watch_message(self, message: str) -> None:
        self.query_one("#x-message", Static).update(message)

    @on(Button.Pressed, "#x-print")
    def _print(self) -> None:
        self._load(print_it=True)

    @on(Button.Pressed, "#x-close")
    def _close(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="x-report", exit_on_error=False)
    async def _load(self, print_it: bool) -> None:
        try:
            report, problem = await self.shifts.x_report(self.staff, print_it=print_it)
        except Exception as err:  # refused (role, lockout) or the store failed: say so
            log.warning("X report failed", extra={"error": str(err)})
            self.message = str(err)
            return
        cur = report.currency
        title = _("Running totals (not reset)")
        lines = report_lines(title, report.totals_body(), cur, tr=ui_translations(), money=money)
        expected = money(Money(report.expected_cash, cur))
        lines.append(_("Expected cash: {amount}").format(amount=expected))
        self.text = "\n".join(lines)
        self.message = problem or (_("Printed") if print_it else "")
