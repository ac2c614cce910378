"""After a restart: what became of the last sale, when the till stopped before staff saw its done
screen (a crash or power cut between the sale's commit and the done screen).

Shown once, over the sell screen, at the first unlock after the start: the sale's number, total,
how it was paid, whether its receipt printed, and "do not ring it up again". A cash sale whose
drawer opening was never recorded is offered **Open drawer** (journalled with reason
``sale_after_restart``, no manager's PIN: the sale paid for that one opening). A tap on OK
dismisses it for good; until then each start shows it again. docs/TECHNICIAN.md, "After a crash
or a power cut".
"""

from __future__ import annotations

import logging
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.sale import method_label, payment_label
from appliance.i18n import N_, _, money, ui_translations
from appliance.services.printing import local_time
from appliance.services.recovery import UntoldSale
from appliance.services.till import Staff, Till
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)

RECEIPT_WORDS = {
    "printed": N_("Receipt: printed."),
    "waiting": N_("Receipt: not printed yet; it prints once the printer is ready."),
    "interrupted": N_("Receipt: the till stopped while printing it; it prints again marked COPY."),
}


def paid_words(payment: dict[str, Any], currency: str) -> str:
    """One payment of the sale: cash as handed over and the change, others by name and amount
    ("Lightning €2.10", "Card VISA •••• 4242 €5.40")."""
    tr = ui_translations()
    if payment["method"] != "cash":
        return f"{payment_label(payment, tr)} {money(Money(payment['amount'], currency))}"
    handed = payment["tendered"] if payment["tendered"] is not None else payment["amount"]
    text = f"{method_label('cash', tr)} {money(Money(handed, currency))}"
    if not payment["change"]:
        return text
    return _("{paid}, change {change}").format(
        paid=text, change=money(Money(payment["change"], currency))
    )


def outcome_words(sale: UntoldSale) -> str:
    record = sale.record
    at = local_time(record.at).strftime("%H:%M")
    paid = " + ".join(paid_words(p, sale.total.currency) for p in sale.payments)
    went = _("Sale {sale} (journal #{seq}) at {at} went through: total {total}, paid {paid}.")
    total = money(sale.total)
    return "\n".join(
        [
            went.format(sale=sale.sale_id[:8], seq=record.seq, at=at, total=total, paid=paid),
            _(RECEIPT_WORDS[sale.receipt]),
            _("Do not ring it up again."),
        ]
    )


class LastSaleScreen(ModalScreen[None]):
    CSS_PATH = "last_sale.tcss"
    AUTO_FOCUS = None

    def __init__(self, till: Till, sale: UntoldSale, staff: Staff) -> None:
        super().__init__()
        self.till = till
        self.sale = sale
        self.staff = staff
        self._finished = False

    def compose(self) -> ComposeResult:
        with Vertical(id="last-dialog"):
            yield Static(_("The last sale before the restart"), id="last-title")
            yield Static(outcome_words(self.sale), id="last-outcome", markup=False)
            drawer = ""
            if self.sale.drawer_owed:
                drawer = _(
                    "⚠ The cash drawer never opened for this sale: open it to give the change."
                )
            yield Static(drawer, id="last-drawer", markup=False)
            with Horizontal(id="last-buttons"):
                yield TapButton(_("Open drawer"), "warning", id="last-open")
                yield TapButton(_("OK"), "primary", id="last-ok")

    def on_mount(self) -> None:
        self.query_one("#last-open").display = self.sale.drawer_owed
        self.query_one("#last-drawer").display = self.sale.drawer_owed

    @on(Button.Pressed, "#last-open")
    def _open_pressed(self) -> None:
        self.query_one("#last-open", Button).disabled = True
        self.open_drawer()

    @work(exclusive=True, group="last-sale-drawer", exit_on_error=False)
    async def open_drawer(self) -> None:
        words = self.query_one("#last-drawer", Static)
        try:
            opening = await self.till.drawer.open_after_restart(self.sale.record, self.staff)
        except Exception as err:
            log.warning("drawer not opened after the restart", extra={"error": str(err)})
            words.update("⚠ " + _("Drawer not opened: {error}").format(error=err))
            return
        if opening.problem:
            seq = opening.record.seq
            words.update(
                "⚠ "
                + _("Drawer did not open: {problem}").format(problem=opening.problem)
                + f" (journal #{seq})"
            )
        else:
            words.update(_("Drawer opened (journal #{seq})").format(seq=opening.record.seq))
        self.query_one("#last-open").display = False

    @on(Button.Pressed, "#last-ok")
    def _ok(self) -> None:
        if not self._finished:
            self._finished = True
            self.finish()

    @work(exclusive=True, group="last-sale-told", exit_on_error=False)
    async def finish(self) -> None:
        try:
            await self.till.recovery.told(self.sale)
        except Exception as err:  # shown again at the next start: better than never
            log.warning("last sale's notice not recorded as seen", extra={"error": str(err)})
        self.dismiss(None)
