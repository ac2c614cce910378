"""After a sale: the change to hand back in big digits (or, paid without cash, what was paid and
how; a sale paid in parts lists each), any device trouble, Next customer.

The screen goes away on "Next customer" (or Enter), or by itself after ``auto_next_s`` seconds
when nothing went wrong; a warning (receipt not printed, drawer shut) stays until someone taps.
"""

from __future__ import annotations

from typing import Any

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.core.btc import format_sats
from appliance.core.sale import method_label, payment_label
from appliance.core.usdt import format_usdt
from appliance.i18n import _, money, ui_translations
from appliance.services.till import SaleResult
from appliance.tui.widgets.basics import digits_text
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money


def payment_words(payment: dict[str, Any]) -> str:
    """A payment other than cash in a few words: "Lightning 2,940 sats", "Bitcoin 5,000 sats
    (2,060 sats to refund)"; a card payment as its masked card: "Card VISA •••• 4242"; others
    (Mercado Pago) by their label."""
    if payment["method"] not in ("lightning", "onchain", "usdt_tron"):
        return payment_label(payment, ui_translations())
    label = method_label(payment["method"], ui_translations())
    if "received_units" in payment:  # USDT on TRON
        received, refund = payment["received_units"], payment["refund_units"]
        text = f"{label} {format_usdt(received)}"
        if not refund:
            return text
        return text + " " + _("({sats} to refund)").format(sats=format_usdt(refund))
    if "received_msat" in payment:
        received, refund = -(-payment["received_msat"] // 1000), -(-payment["refund_msat"] // 1000)
    else:
        received, refund = payment["received_sats"], payment["refund_sats"]
    text = f"{label} {format_sats(received)}"
    if not refund:
        return text
    return text + " " + _("({sats} to refund)").format(sats=format_sats(refund))


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
            yield Static(_("Sale complete"), id="done-title")
            payments = result.record.body["payments"]
            if any(p["method"] == "cash" for p in payments):
                yield Static(_("CHANGE DUE"), id="done-change-label")
                yield Digits(digits_text(money(result.change)), id="done-change")
            else:
                yield Static(_("PAID"), id="done-change-label")
                yield Digits(digits_text(money(result.total)), id="done-change")
            paid = " + ".join(self._paid_by(p) for p in payments)
            yield Static(
                _("Total {total} · {paid} · Journal #{seq}").format(
                    total=money(result.total), paid=paid, seq=result.record.seq
                ),
                id="done-summary",
                markup=False,
            )
            if result.problems:
                yield Static(
                    "\n".join(f"⚠ {p}" for p in result.problems), id="done-problems", markup=False
                )
            yield TapButton(_("Next customer"), "primary", id="next-customer")

    def _paid_by(self, payment: dict[str, Any]) -> str:
        """One payment of the sale: cash as what was handed over, others in their words."""
        if payment["method"] != "cash":
            return payment_words(payment)
        handed = payment["tendered"] if payment["tendered"] is not None else payment["amount"]
        cash = method_label("cash", ui_translations())
        return f"{cash} {money(Money(handed, self.result.total.currency))}"

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
