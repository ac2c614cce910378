"""Void: give up the cart in progress before it is paid, with a reason, on a manager's approval.

The ``void`` record keeps what was in the cart (``RefundService.void``), which also empties it.
Dismissed with the record, or None when nothing was voided.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.cart import Cart
from appliance.core.refund import RefundError, check_reason
from appliance.i18n import _, money, ngettext
from appliance.services.refunds import Approval, RefundService
from appliance.services.till import Staff, Till
from appliance.tui.screens.approval import ApprovalScreen, approval_prompt
from appliance.tui.widgets.reason_picker import VOID_REASONS, ReasonPicker
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.journal import Record


class VoidScreen(ModalScreen[Record | None]):
    CSS_PATH = "void.tcss"
    AUTO_FOCUS = None

    message: reactive[str] = reactive("", init=False)

    def __init__(self, till: Till, refunds: RefundService, staff: Staff, cart: Cart) -> None:
        super().__init__()
        self.till = till
        self.refunds = refunds
        self.staff = staff
        self.cart = cart
        self.reasons = ReasonPicker(VOID_REASONS, id="void-reasons")

    def compose(self) -> ComposeResult:
        items = sum(line.quantity for line in self.cart.lines)
        with Vertical(id="void-dialog"):
            yield Static(_("Void this sale"), id="void-title")
            yield Static(
                ngettext(
                    "{n} item, {total}: nothing is paid, the cart is given up and recorded"
                    " as void.",
                    "{n} items, {total}: nothing is paid, the cart is given up and recorded"
                    " as void.",
                    items,
                ).format(n=items, total=money(self.cart.totals().total)),
                id="void-summary",
                markup=False,
            )
            yield self.reasons
            yield Static("", id="void-message", markup=False)
            with Horizontal(id="void-actions"):
                yield TapButton(_("Cancel"), "error", id="void-cancel")
                yield TapButton(_("Void"), "warning", id="void-go")

    def on_mount(self) -> None:
        self.reasons.field.active = True

    def watch_message(self, message: str) -> None:
        self.query_one("#void-message", Static).update(message)

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            self.cancel()
        elif event.key == "enter":
            self.void()
        elif not self.reasons.field.key(event):
            return
        event.stop()
        event.prevent_default()

    @on(Button.Pressed, "#void-cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#void-go")
    def void(self) -> None:
        try:
            reason = check_reason(self.reasons.reason)
        except RefundError as err:
            self.message = _("Void: {error}").format(error=err)
            return
        approval = ApprovalScreen(
            self.till,
            self.staff,
            _("Approve voiding this sale"),
            approval_prompt(self.staff, "void"),
            lambda approval: self._run(approval, reason),
            failed=_("Not voided"),
        )
        self.app.push_screen(approval, self._voided)

    async def _run(self, approval: Approval, reason: str) -> Record:
        return await self.refunds.void(self.cart, self.staff, approval, reason)

    def _voided(self, record: Record | None) -> None:
        if record is not None:
            self.dismiss(record)
