"""Refund, first step: which sale. Today's sales newest first, to tap; or the receipt's sale id,
scanned (its QR code, by a keyboard-wedge scanner) or typed, then Enter or Find.

Dismissed with the sale's journal record, or None on Cancel.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import date

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.sale import method_label
from appliance.i18n import _, money, ui_translations
from appliance.services.refunds import RefundService, SaleSummary
from appliance.tui.widgets.basics import TouchScroll
from appliance.tui.widgets.tap_button import TapButton
from appliance.tui.widgets.typed_field import TypedField
from bitagora_protocol.journal import Record

log = logging.getLogger(__name__)


def sale_label(sale: SaleSummary) -> str:
    methods = " + ".join(method_label(m, ui_translations()) for m in sale.methods)
    return f"{sale.at_local:%H:%M}  {money(sale.total)}  {methods}  · {sale.sale_id[:8]}"


class RefundFindScreen(ModalScreen[Record | None]):
    CSS_PATH = "refund_find.tcss"
    AUTO_FOCUS = None

    message: reactive[str] = reactive("", init=False)
    busy: reactive[bool] = reactive(False, init=False)

    def __init__(self, refunds: RefundService) -> None:
        super().__init__()
        self.refunds = refunds
        self.field = TypedField(
            _("Sale"), _("scan the receipt, or type its id"), id="refund-sale-id"
        )
        self.sales: list[SaleSummary] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="find-dialog"):
            yield Static(_("Refund: which sale?"), id="find-title")
            with Horizontal(id="find-typed"):
                yield self.field
                yield TapButton(_("Find"), "primary", id="find-go")
            yield Static("", id="find-message", markup=False)
            yield Static(_("Today's sales, newest first"), id="find-list-title")
            yield TouchScroll(id="find-sales")
            yield TapButton("Cancel", "error", id="find-cancel")

    def on_mount(self) -> None:
        self.field.active = True
        self._load()

    @work(exclusive=True, group="find-list", exit_on_error=False)
    async def _load(self) -> None:
        try:
            self.sales = await self.refunds.recent_sales(date.today())
        except Exception as err:
            log.exception("could not list the sales")
            self.message = _("Could not list the sales: {error}").format(error=err)
            return
        await self.query_one("#find-sales", TouchScroll).mount_all(
            TapButton(sale_label(s), id=f"sale-{s.seq}", classes="sale", name=str(s.seq))
            for s in self.sales
        )
        if not self.sales:
            self.message = _("No sales today on this till")

    def watch_message(self, message: str) -> None:
        self.query_one("#find-message", Static).update(message)

    @on(Button.Pressed, ".sale")
    def _tapped(self, event: Button.Pressed) -> None:
        assert event.button.name is not None
        seq = int(event.button.name)
        self._find(lambda: self.refunds.sale_record(seq=seq))

    @on(Button.Pressed, "#find-go")
    def find(self) -> None:
        text = self.field.text
        self._find(lambda: self.refunds.find_sale(text))

    def _find(self, lookup: Callable[[], Awaitable[Record]]) -> None:
        if self.busy:
            return
        self.busy = True
        self._lookup(lookup)

    @work(exclusive=True, group="find", exit_on_error=False)
    async def _lookup(self, lookup: Callable[[], Awaitable[Record]]) -> None:
        try:
            record = await lookup()
        except Exception as err:  # no such sale, or more than one: say so
            self.message = str(err)
            self.field.text = ""
            return
        finally:
            self.busy = False
        self.dismiss(record)

    @on(Button.Pressed, "#find-cancel")
    def cancel(self) -> None:
        self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            self.find()
        elif event.key == "escape":
            self.cancel()
        elif not self.field.key(event):
            return
        event.stop()
        event.prevent_default()
