"""Refund, second step: what goes back, how, and on whose approval.

The sale's lines with what is left to refund of each (sold less earlier refunds); − / + choose
quantities, "All" everything left. The plan below is ``core.refund.plan_refund``'s: the money back
per method, live. When money goes back over Lightning or on-chain the customer's destination is
asked (typed, or scanned: a keyboard-wedge scanner types it) and checked (``core.payout``) before
anyone is asked to approve. "Refund" then opens the manager's approval (PIN or badge); the
``RefundService`` checks it and does the refund, and the screen shows what happened: the drawer
opened for cash, the card refund's id, the payout still to pay, and what is left of each line
read back from the journal. Dismissed with the ``RefundResult`` (None: nothing refunded).
"""

from __future__ import annotations

import logging
from typing import Any

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.payout import BITCOIN_METHODS, PAYOUT_LABELS, PayoutError, check_destination
from appliance.core.refund import (
    LineChoice,
    RefundError,
    RefundPlan,
    check_reason,
    plan_refund,
    refunded_quantities,
)
from appliance.core.sale import method_label
from appliance.i18n import _, money, ui_translations
from appliance.services.refunds import Approval, RefundResult, RefundService
from appliance.services.till import Staff, Till
from appliance.tui.screens.approval import ApprovalScreen, approval_prompt, refusal
from appliance.tui.widgets.basics import TouchScroll
from appliance.tui.widgets.reason_picker import REFUND_REASONS, ReasonPicker
from appliance.tui.widgets.tap_button import TapButton
from appliance.tui.widgets.typed_field import TypedField
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)


def outcome_lines(result: RefundResult) -> list[str]:
    """What a recorded refund did, in words, one line per way the money went back."""
    body = result.record.body
    cur = body["currency"]
    lines = [
        _("Refund recorded (journal #{seq}): {amount}").format(
            seq=result.record.seq, amount=money(Money(body["total"]["minor"], cur))
        )
    ]
    for payment in body["payments"]:
        amount = money(Money(payment["amount"], cur))
        method = payment["method"]
        if method == "cash":
            if result.drawer:
                lines.append(
                    _("Cash {amount}: give it back, drawer opened (journal #{seq})").format(
                        amount=amount, seq=result.drawer.seq
                    )
                )
            else:
                lines.append(_("Cash {amount}: give it back, no drawer").format(amount=amount))
        elif method == "card":
            lines.append(
                _("Card {amount}: refunded to the card ({refund})").format(
                    amount=amount, refund=payment["refund_id"]
                )
            )
        elif "order_id" in payment:
            lines.append(
                _("{method} {amount}: refunded through Mercado Pago ({refund})").format(
                    method=method_label(method, ui_translations()),
                    amount=amount,
                    refund=payment["refund_id"],
                )
            )
        elif "payout" in payment:
            label = _(PAYOUT_LABELS[method]) if method in PAYOUT_LABELS else method
            lines.append(
                _("{method} {amount}: pending payout to {destination}").format(
                    method=label, amount=amount, destination=payment["payout"]["destination"]
                )
            )
    return lines + list(result.problems)


class RefundScreen(ModalScreen[RefundResult | None]):
    CSS_PATH = "refund.tcss"
    AUTO_FOCUS = None

    # Line index → quantity chosen; bumped as a whole so the plan redraws.
    chosen: reactive[dict[int, int]] = reactive(dict, init=False, always_update=True)
    message: reactive[str] = reactive("", init=False)

    def __init__(self, till: Till, refunds: RefundService, staff: Staff, sale: Record) -> None:
        super().__init__()
        self.till = till
        self.refunds = refunds
        self.staff = staff
        self.sale = sale
        self.lines: list[dict[str, Any]] = list(sale.body["lines"])
        self.currency = str(sale.body["currency"])
        self.previous: list[dict[str, Any]] | None = None
        self.left: list[int] = [0] * len(self.lines)
        self.plan: RefundPlan | None = None
        self.result: RefundResult | None = None
        self.reasons = ReasonPicker(REFUND_REASONS, id="refund-reasons")
        self.destination = TypedField(
            _("Send to"),
            _("customer's invoice, Lightning address or bitcoin address"),
            id="refund-dest",
        )

    def compose(self) -> ComposeResult:
        body = self.sale.body
        with TouchScroll(id="refund-dialog"):
            yield Static(
                _("Refund of sale {sale} (journal #{seq})").format(
                    sale=body["sale_id"][:8], seq=self.sale.seq
                )
                + f" · {money(Money(body['total']['minor'], self.currency))}",
                id="refund-title",
                markup=False,
            )
            yield Static(refusal(self.staff, "refund"), id="refund-why", markup=False)
            with Vertical(id="refund-lines"):
                for i in range(len(self.lines)):
                    with Horizontal(classes="refund-line"):
                        yield Static("", id=f"line-text-{i}", classes="line-text", markup=False)
                        yield TapButton("−", id=f"line-minus-{i}", classes="qty line-minus")
                        yield TapButton("+", id=f"line-plus-{i}", classes="qty line-plus")
            yield TapButton(_("All that is left"), id="refund-all")
            yield self.reasons
            yield self.destination
            yield Static("", id="refund-plan", markup=False)
            yield Static("", id="refund-message", markup=False)
            with Horizontal(id="refund-actions"):
                yield TapButton(_("Cancel"), "error", id="refund-cancel")
                yield TapButton(_("Refund"), "success", id="refund-go", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#refund-why").display = bool(refusal(self.staff, "refund"))
        self.destination.display = False
        self._load()

    @work(exclusive=True, group="refund-load", exit_on_error=False)
    async def _load(self) -> None:
        try:
            self.previous = await self.refunds.previous_refunds(self.sale.seq)
        except Exception as err:
            log.exception("could not read earlier refunds")
            self.message = _("Could not read earlier refunds: {error}").format(error=err)
            return
        done = refunded_quantities(self.previous)
        for i, line in enumerate(self.lines):
            sold = sum(int(x["quantity"]) for x in self.lines if x["sku"] == line["sku"])
            self.left[i] = min(int(line["quantity"]), sold - done.get(line["sku"], 0))
        if not any(self.left) and self.result is None:
            self.message = _("Nothing is left to refund on this sale")
        self.chosen = {}

    def watch_chosen(self) -> None:
        for i, line in enumerate(self.lines):
            self.query_one(f"#line-text-{i}", Static).update(
                _("{chosen} of {sold} × {name} ({price}) · left {left}").format(
                    chosen=self.chosen.get(i, 0),
                    sold=line["quantity"],
                    name=line["name"],
                    price=money(Money(int(line["unit_price"]), self.currency)),
                    left=self.left[i],
                )
            )
            done = self.result is not None
            self.query_one(f"#line-minus-{i}", TapButton).disabled = done or not self.chosen.get(i)
            self.query_one(f"#line-plus-{i}", TapButton).disabled = (
                done or self.chosen.get(i, 0) >= self.left[i]
            )
        self._plan()

    def _choices(self) -> list[LineChoice]:
        return [LineChoice(i, q) for i, q in sorted(self.chosen.items()) if q]

    def _plan(self) -> None:
        self.plan = None
        text = _("Choose what to refund")
        if self.previous is not None and self._choices():
            try:
                self.plan = plan_refund(self.sale.body, self.previous, self._choices())
            except RefundError as err:
                text = str(err)
            else:
                tr = ui_translations()
                back = ", ".join(
                    f"{method_label(m, tr)} {money(amount)}"
                    for m, amount, _paid in self.plan.payments
                )
                text = _("Back to the customer: {total} · {back}").format(
                    total=money(self.plan.total), back=back
                )
        self.query_one("#refund-plan", Static).update(text)
        self.destination.display = self._needs_destination()
        if self.destination.display and not self.reasons.field.active:
            self.destination.active = True
        self.query_one("#refund-go", TapButton).disabled = (
            self.plan is None or self.result is not None
        )

    def _needs_destination(self) -> bool:
        return self.plan is not None and any(m in BITCOIN_METHODS for m, _, _ in self.plan.payments)

    def watch_message(self, message: str) -> None:
        self.query_one("#refund-message", Static).update(message)

    @on(Button.Pressed, ".qty")
    def _quantity(self, event: Button.Pressed) -> None:
        i = int((event.button.id or "").rsplit("-", 1)[1])
        step = 1 if event.button.has_class("line-plus") else -1
        chosen = dict(self.chosen)
        chosen[i] = max(0, min(self.left[i], chosen.get(i, 0) + step))
        self.message = ""
        self.chosen = chosen

    @on(Button.Pressed, "#refund-all")
    def _all(self) -> None:
        self.message = ""
        self.chosen = {i: left for i, left in enumerate(self.left) if left}

    @on(TypedField.Tapped)
    def _field_tapped(self, event: TypedField.Tapped) -> None:
        for field in (self.reasons.field, self.destination):
            field.active = field is event.field

    def on_key(self, event: events.Key) -> None:
        field = next((f for f in (self.reasons.field, self.destination) if f.active), None)
        if event.key == "escape":
            self.cancel()
        elif event.key == "enter":
            if self.result is None:
                self.refund()
        elif field is None or not field.key(event):
            return
        event.stop()
        event.prevent_default()

    @on(Button.Pressed, "#refund-cancel")
    def cancel(self) -> None:
        self.dismiss(self.result)

    @on(Button.Pressed, "#refund-go")
    def refund(self) -> None:
        """Check what can be checked here, then ask a manager to approve."""
        plan = self.plan
        if plan is None or self.result is not None:
            return
        try:
            reason = check_reason(self.reasons.reason)
        except RefundError as err:
            self.message = _("Refund: {error}").format(error=err)
            return
        destination = self.destination.text.strip() or None
        for method, amount, paid in plan.payments:
            if method not in BITCOIN_METHODS:
                continue
            if destination is None:
                self.message = _(
                    "{amount} goes back by {method}: ask the customer where to send it"
                ).format(amount=money(amount), method=method_label(method, ui_translations()))
                self.destination.active, self.reasons.field.active = True, False
                return
            try:
                check_destination(method, destination, amount, paid)
            except PayoutError as err:
                self.message = str(err)
                return
        choices = self._choices()
        approval = ApprovalScreen(
            self.till,
            self.staff,
            _("Approve a refund of {amount}").format(amount=money(plan.total)),
            approval_prompt(self.staff, "refund"),
            lambda approval: self._run(approval, reason, choices, destination),
            failed=_("Not refunded"),
        )
        self.app.push_screen(approval, self._refunded)

    async def _run(
        self, approval: Approval, reason: str, choices: list[LineChoice], destination: str | None
    ) -> RefundResult:
        # No refund id: the service's is the same on every try until one is journalled, so a
        # card refunded before another was refused is not refunded again, reopened or not.
        return await self.refunds.refund(
            self.staff,
            approval,
            reason,
            original_seq=self.sale.seq,
            lines=choices,
            destination=destination,
        )

    def _refunded(self, result: RefundResult | None) -> None:
        if result is None:
            return
        self.result = result
        self.message = "\n".join(outcome_lines(result))
        self.query_one("#refund-cancel", TapButton).label = "Done"
        for button in self.query(TapButton):
            button.disabled = button.id != "refund-cancel"
        # What is left changed: read it back from the journal, as at the start, rather than
        # leave the quantities the screen opened with on show.
        self._load()
