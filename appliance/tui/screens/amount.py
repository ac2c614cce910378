"""An amount of cash on the keypad, with a reason when one is needed: the opening float, a paid
in, a paid out.

``act`` is the shift service's call for it (``open_shift``, ``paid_in``, ``paid_out``); it runs
in a worker and the screen shows its refusal in words (a shift already open, an amount of
zero, a missing reason). Dismissed with the record ``act`` wrote, or None on Cancel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.i18n import _, money
from appliance.tui.widgets.basics import digits_text
from appliance.tui.widgets.keypad import AMOUNT_KEYS, Keypad, typed_amount
from appliance.tui.widgets.reason_picker import ReasonPicker
from appliance.tui.widgets.tap_button import TapButton
from appliance.tui.widgets.typed_field import TypedField
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money, MoneyError, exponent

log = logging.getLogger(__name__)


class AmountScreen(ModalScreen[Record | None]):
    CSS_PATH = "amount.tcss"
    AUTO_FOCUS = None

    entry: reactive[str] = reactive("", init=False)
    busy: reactive[bool] = reactive(False, init=False)
    message: reactive[str] = reactive("", init=False)

    def __init__(
        self,
        title: str,
        currency: str,
        act: Callable[[Money, str], Awaitable[Record]],
        *,
        reasons: Sequence[str] | None = None,
        hint: str = "",
    ) -> None:
        """``reasons``: the ones to offer (None: no reason is asked, as for a float)."""
        super().__init__()
        self.title_text = title
        self.currency = currency
        self.decimals = exponent(currency)
        self.act = act
        self.hint = hint
        self.picker = ReasonPicker(reasons, id="amount-reasons") if reasons else None

    def compose(self) -> ComposeResult:
        with Vertical(id="amount-dialog"):
            yield Static(self.title_text, id="amount-title", markup=False)
            yield Static(self.hint, id="amount-hint", markup=False)
            yield Digits(digits_text(money(Money(0, self.currency))), id="amount-value")
            with Horizontal(id="amount-body"):
                yield Keypad(AMOUNT_KEYS, id="amount-keypad")
                if self.picker is not None:
                    yield self.picker
            yield Static("", id="amount-message", markup=False)
            with Horizontal(id="amount-actions"):
                yield TapButton(_("Cancel"), "error", id="amount-cancel")
                yield TapButton(_("Confirm"), "success", id="amount-confirm")

    @property
    def amount(self) -> Money | None:
        if not self.entry or self.entry == ".":
            return None
        try:
            return Money.parse(self.entry, self.currency)
        except MoneyError:
            return None

    def watch_entry(self) -> None:
        amount = self.amount or Money(0, self.currency)
        self.query_one("#amount-value", Digits).update(digits_text(money(amount)))

    def watch_message(self, message: str) -> None:
        self.query_one("#amount-message", Static).update(message)

    def watch_busy(self, busy: bool) -> None:
        for button in self.query(TapButton):
            button.disabled = busy

    def _typing_reason(self) -> bool:
        return self.picker is not None and self.picker.field.active

    @on(Keypad.Pressed)
    def _keypad(self, event: Keypad.Pressed) -> None:
        if self.picker is not None:
            self.picker.field.active = False  # typed digits go to the amount again
        self.type_key(event.key)

    @on(TypedField.Tapped)
    def _field_tapped(self, event: TypedField.Tapped) -> None:
        event.field.active = True

    def type_key(self, key: str) -> None:
        if not self.busy:
            self.message = ""
            self.entry = typed_amount(self.entry, key, self.decimals)

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            self.confirm()
        elif event.key == "escape":
            self.cancel()
        elif self._typing_reason():
            assert self.picker is not None
            if not self.picker.field.key(event):
                return
        elif event.key == "backspace":
            self.type_key("back")
        elif event.character and event.character.isdigit():
            self.type_key(event.character)
        elif event.character in (".", ","):
            self.type_key("dot")
        else:
            return
        event.stop()
        event.prevent_default()

    @on(Button.Pressed, "#amount-cancel")
    def cancel(self) -> None:
        if not self.busy:
            self.dismiss(None)

    @on(Button.Pressed, "#amount-confirm")
    def confirm(self) -> None:
        if self.busy:
            return
        amount = self.amount
        if amount is None:
            self.message = _("Type the amount first")
            return
        self.busy = True
        self._run(amount, self.picker.reason if self.picker is not None else "")

    @work(exclusive=True, group="amount", exit_on_error=False)
    async def _run(self, amount: Money, reason: str) -> None:
        try:
            record = await self.act(amount, reason)
        except Exception as err:  # refused (role, shift state, amount, reason): say so
            log.warning("%s refused", self.title_text, extra={"error": str(err)})
            self.message = _("Not done: {error}").format(error=err)
            self.busy = False
            return
        self.dismiss(record)
