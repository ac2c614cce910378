"""Z closing on the touchscreen: count the drawer by denomination, see expected against counted
and the difference as the count goes, then close the day.

Tap a note or coin, type how many there are (keypad or keyboard; Enter moves to the next one).
"Open drawer" opens it for the count (recorded, reason "count"). "Close the day" writes the
``z_close`` record through the shift service, which also queues its printout; the screen then
shows the Z's number, the count and the difference. A count that differs from the expected cash
(nothing counted, say) is sealed only after a confirmation that states it ("Counted €0.00,
expected €100.00: close with €100.00 short?"); the service checks that the difference confirmed
is still the one found, and asks again if a record changed it meanwhile. A second Z for a
period already closed is refused by the service and shown in its words. Dismissed with the
``ZResult`` (None: cancelled).
"""

from __future__ import annotations

import logging

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.report import DENOMINATIONS
from appliance.i18n import _, money
from appliance.services.shift import (
    ShiftService,
    UnconfirmedDifference,
    ZResult,
    difference_question,
)
from appliance.services.till import Staff
from appliance.tui.screens.confirm import ConfirmScreen
from appliance.tui.widgets.keypad import Keypad
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)

COUNT_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "back")
MAX_COUNT_DIGITS = 5


class ZCloseScreen(ModalScreen[ZResult | None]):
    CSS_PATH = "z_close.tcss"
    AUTO_FOCUS = None

    # The count, denomination (minor units) → pieces; bumped as a whole so the totals redraw.
    counts: reactive[dict[int, int]] = reactive(dict, init=False, always_update=True)
    selected: reactive[int | None] = reactive(None, init=False)
    expected: reactive[int | None] = reactive(None, init=False)
    busy: reactive[bool] = reactive(False, init=False)
    message: reactive[str] = reactive("", init=False)

    def __init__(self, shifts: ShiftService, staff: Staff) -> None:
        super().__init__()
        self.shifts = shifts
        self.staff = staff
        self.currency = shifts.currency
        self.denominations = DENOMINATIONS.get(self.currency, ())
        self.result: ZResult | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="z-dialog"):
            yield Static(
                _("Close the day (Z) · {name}").format(name=self.staff.name),
                id="z-title",
                markup=False,
            )
            with Horizontal(id="z-body"):
                with Grid(id="z-denominations"):
                    for value in self.denominations:
                        yield TapButton(self._label(value, 0), id=f"denom-{value}", name=str(value))
                with Vertical(id="z-side"):
                    yield Static("", id="z-totals", markup=False)
                    yield Keypad(COUNT_KEYS, id="z-keypad")
            yield Static("", id="z-message", markup=False)
            with Horizontal(id="z-actions"):
                yield TapButton(_("Cancel"), "error", id="z-cancel")
                yield TapButton(_("Open drawer"), "default", id="z-drawer")
                yield TapButton(_("Close the day"), "success", id="z-confirm", disabled=True)

    def on_mount(self) -> None:
        if not self.denominations:
            self.message = _("No notes and coins known for {currency}: count by CLI").format(
                currency=self.currency
            )
        else:
            self.selected = self.denominations[0]
        self._load_expected()
        self._show_totals()

    @work(exclusive=True, group="z-expected", exit_on_error=False)
    async def _load_expected(self) -> None:
        try:
            report = await self.shifts.current()
        except Exception as err:
            log.exception("could not compute the expected cash")
            self.message = _("Could not compute the expected cash: {error}").format(error=err)
            return
        self.expected = report.expected_cash

    def _money(self, minor: int) -> str:
        return money(Money(minor, self.currency))

    def _label(self, value: int, pieces: int) -> str:
        return f"{self._money(value)} × {pieces}"

    @property
    def counted(self) -> int:
        return sum(value * pieces for value, pieces in self.counts.items())

    def watch_counts(self) -> None:
        for value in self.denominations:
            button = self.query_one(f"#denom-{value}", TapButton)
            button.label = self._label(value, self.counts.get(value, 0))
        self._show_totals()

    def watch_selected(self, selected: int | None) -> None:
        for value in self.denominations:
            button = self.query_one(f"#denom-{value}", TapButton)
            button.variant = "primary" if value == selected else "default"

    def watch_expected(self) -> None:
        self._show_totals()

    def watch_message(self, message: str) -> None:
        self.query_one("#z-message", Static).update(message)

    def watch_busy(self) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        done = self.result is not None
        for button in self.query(TapButton):
            button.disabled = self.busy or (done and button.id != "z-cancel")
        self.query_one("#z-confirm", TapButton).disabled = (
            self.busy or done or self.expected is None or not self.denominations
        )

    def _show_totals(self) -> None:
        lines = [_("Counted: {amount}").format(amount=self._money(self.counted))]
        if self.expected is None:
            lines.append(_("Expected: {amount}").format(amount="…"))
        else:
            difference = self.counted - self.expected
            lines.append(_("Expected: {amount}").format(amount=self._money(self.expected)))
            shown = _("Difference: {amount}").format(amount=self._money(difference))
            if difference:
                shown += "  " + (_("(short)") if difference < 0 else _("(over)"))
            lines.append(shown)
        self.query_one("#z-totals", Static).update("\n".join(lines))
        self._update_buttons()

    @on(Button.Pressed, "#z-denominations TapButton")
    def _denomination(self, event: Button.Pressed) -> None:
        assert event.button.name is not None
        self.selected = int(event.button.name)

    @on(Keypad.Pressed)
    def _keypad(self, event: Keypad.Pressed) -> None:
        self.type_key(event.key)

    def type_key(self, key: str) -> None:
        """Change the selected denomination's count by a key of ``COUNT_KEYS``."""
        value = self.selected
        if value is None or self.busy or self.result is not None:
            return
        text = str(self.counts.get(value, 0) or "")
        if key == "back":
            text = text[:-1]
        elif key == "clear":
            text = ""
        elif key.isdigit() and len(text) < MAX_COUNT_DIGITS:
            text += key
        counts = dict(self.counts)
        counts[value] = int(text or 0)
        self.message = ""
        self.counts = counts

    def on_key(self, event: events.Key) -> None:
        if event.character and event.character.isdigit():
            self.type_key(event.character)
        elif event.key == "backspace":
            self.type_key("back")
        elif event.key == "enter" and self.selected in self.denominations:
            index = self.denominations.index(self.selected)
            self.selected = self.denominations[(index + 1) % len(self.denominations)]
        elif event.key == "escape":
            self.cancel()
        else:
            return
        event.stop()
        event.prevent_default()

    @on(Button.Pressed, "#z-cancel")
    def cancel(self) -> None:
        if not self.busy:
            self.dismiss(self.result)

    @on(Button.Pressed, "#z-drawer")
    def _drawer(self) -> None:
        self.busy = True
        self._open_drawer()

    @work(exclusive=True, group="z-drawer", exit_on_error=False)
    async def _open_drawer(self) -> None:
        try:
            opening = await self.shifts.open_drawer_for_count(self.staff)
        except Exception as err:
            self.message = _("Drawer not opened: {error}").format(error=err)
        else:
            if opening is None:
                self.message = _("This till has no cash drawer")
            elif opening.problem:
                self.message = _("Drawer did not open: {problem}").format(problem=opening.problem)
            else:
                self.message = _("Drawer open: count it")
        finally:
            self.busy = False

    @on(Button.Pressed, "#z-confirm")
    def confirm(self) -> None:
        if self.busy or self.result is not None or self.expected is None:
            return
        self._ask(self.counted, self.expected)

    def _ask(self, counted_total: int, expected: int) -> None:
        """Close at once when the count matches; otherwise ask first, stating the difference."""
        counted = {v: n for v, n in self.counts.items() if n}
        difference = counted_total - expected
        if not difference:
            self.busy = True
            self._close(counted, 0)
            return
        close = _("Close {amount} short") if difference < 0 else _("Close {amount} over")

        def answered(yes: bool | None) -> None:
            if yes and self.result is None and not self.busy:
                self.busy = True
                self._close(counted, difference)

        self.app.push_screen(
            ConfirmScreen(
                _("Close the day with a difference?"),
                difference_question(counted_total, expected, self.currency, money),
                close.format(amount=self._money(abs(difference))),
                _("Back to the count"),
            ),
            answered,
        )

    @work(exclusive=True, group="z-close", exit_on_error=False)
    async def _close(self, counted: dict[int, int], accept_difference: int) -> None:
        try:
            result = await self.shifts.z_close(self.staff, counted, accept_difference)
        except UnconfirmedDifference as err:  # the expected cash moved since: ask again
            self.busy = False
            self.expected = err.expected
            self._ask(err.counted, err.expected)
            return
        except Exception as err:  # refused (role, a period already closed) or failed: say so
            log.warning("Z refused", extra={"error": str(err)})
            self.message = _("No Z: {error}").format(error=err)
            self.busy = False
            return
        self.result = result
        body = result.record.body
        words = [
            _("Z #{number} recorded (journal #{seq}), printing.").format(
                number=body["z_number"], seq=result.record.seq
            ),
            _("Counted {counted}, expected {expected}, difference {difference}.").format(
                counted=self._money(body["counted"]["total"]),
                expected=self._money(body["expected_cash"]),
                difference=self._money(body["difference"]),
            ),
            *result.problems,
        ]
        self.message = " ".join(words)
        self.query_one("#z-cancel", TapButton).label = _("Done")
        self.busy = False
