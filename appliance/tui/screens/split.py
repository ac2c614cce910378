"""Split payment: one sale paid in parts (services/split.py). The total, what is still due, the
parts paid so far (method, amount, status), and an amount typed on the keypad (what is due when
nothing is typed) to pay by Cash, Card or Bitcoin.

Cash is taken here: the amount typed is what the customer handed over, counted up to what is due
(change only on the part that covers the rest). Card and bitcoin parts open the same pay screens
as a whole sale does, for the part's amount. A part that fails (a declined card, an expired
offer) leaves the parts already paid; the cashier pays the rest another way. Leaving: with
nothing paid, Cancel goes back to the cart; with parts paid, "Give back" returns them on a
manager's approval (``ApprovalScreen``: PIN or badge). A paid bitcoin part goes back as a payout:
the customer's destination is typed in the "Send to" field (shown once such a part is paid) and
checked before the manager is asked, as on the refund screen. Dismissed with the ``SaleResult`` once
the parts cover the sale, or None when it was given up.
"""

from __future__ import annotations

import logging

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Digits, Static

from appliance.core.payout import BITCOIN_METHODS, PayoutError, check_destination
from appliance.core.sale import method_label
from appliance.core.split import Part, SplitSale
from appliance.i18n import _, money, ui_translations
from appliance.services.refunds import Approval, RefundResult
from appliance.services.till import SaleResult, Staff, Till
from appliance.tui.screens.approval import ApprovalScreen, approval_prompt
from appliance.tui.screens.pay_card import PayCardScreen
from appliance.tui.widgets.basics import amount_box, digits_text
from appliance.tui.widgets.keypad import AMOUNT_KEYS, Keypad, typed_amount
from appliance.tui.widgets.tap_button import TapButton
from appliance.tui.widgets.typed_field import TypedField
from bitagora_protocol.money import Money, MoneyError, exponent

log = logging.getLogger(__name__)


def _bitcoin_parts(split: SplitSale) -> list[Part]:
    return [p for p in split.parts if p.method in BITCOIN_METHODS]


def parts_text(split: SplitSale) -> str:
    """The parts as the screen lists them: number, method, amount, status."""
    if not split.parts:
        return _("No part paid yet")
    paid = _("paid")
    return "\n".join(
        f"{p.number}. {p.label:<24} {money(Money(p.amount, split.currency)):>10}  {paid}"
        for p in split.parts
    )


class SplitScreen(ModalScreen[SaleResult | None]):
    CSS_PATH = "split.tcss"
    AUTO_FOCUS = None

    split: reactive[SplitSale | None] = reactive(None, init=False)
    entry: reactive[str] = reactive("", init=False)
    message: reactive[str] = reactive("", init=False)
    busy: reactive[bool] = reactive(False, init=False)

    def __init__(self, till: Till, split: SplitSale, staff: Staff) -> None:
        super().__init__()
        self.till = till
        self.staff = staff
        self._first = split
        self.decimals = exponent(split.currency)
        self._finished = False
        self.destination = TypedField(
            _("Send to"),
            _("customer's invoice, Lightning address or bitcoin address"),
            id="split-dest",
        )

    def compose(self) -> ComposeResult:
        split = self._first
        with Vertical(id="split-dialog"):
            yield Static(
                _("Split payment · served by {name}").format(name=self.staff.name),
                id="split-title",
                markup=False,
            )
            with Horizontal(id="split-amounts"):
                yield amount_box(_("TOTAL"), "split-total", money(split.total))
                yield amount_box(_("STILL DUE"), "split-remaining")
                yield amount_box(_("THIS PART"), "split-amount")
            with Horizontal(id="split-body"):
                with Vertical(id="split-side"):
                    yield Static("", id="split-parts", markup=False)
                    yield self.destination
                    yield Static("", id="split-message", markup=False)
                yield Keypad(AMOUNT_KEYS, id="split-keypad")
            with Horizontal(id="split-pay"):
                yield TapButton(_("Cash"), "success", id="split-cash")
                yield TapButton(_("Card"), "primary", id="split-card")
                yield TapButton(_("Bitcoin"), "primary", id="split-bitcoin")
                yield TapButton(_("MP Point"), "primary", id="split-mercadopago_point")
                yield TapButton(_("MP QR"), "primary", id="split-mercadopago_qr")
                yield TapButton(_("USDT"), "primary", id="split-usdt")
                yield TapButton(_("Cancel"), "error", id="split-cancel")

    def on_mount(self) -> None:
        self.query_one("#split-card").display = self.till.card is not None
        self.query_one("#split-bitcoin").display = self.till.bitcoin is not None
        for method in ("mercadopago_point", "mercadopago_qr"):
            offered = method in self.till.capabilities.mercadopago
            self.query_one(f"#split-{method}").display = offered
        self.query_one("#split-usdt").display = self.till.usdt is not None
        self.split = self._first

    # -- what the screen shows ---------------------------------------------------------------

    @property
    def amount(self) -> Money | None:
        """The amount of the next part: what is typed, or what is still due."""
        split = self.split
        if split is None:
            return None
        if not self.entry or self.entry == ".":
            return split.remaining
        try:
            return Money.parse(self.entry, split.currency)
        except MoneyError:
            return None

    def watch_split(self, split: SplitSale | None) -> None:
        if split is None:
            return
        self.query_one("#split-remaining", Digits).update(digits_text(money(split.remaining)))
        self.query_one("#split-parts", Static).update(parts_text(split))
        cancel = self.query_one("#split-cancel", TapButton)
        cancel.label = _("Give back") if split.parts else _("Cancel")
        self.destination.display = bool(_bitcoin_parts(split))
        self.entry = ""
        self._show_amount()

    def watch_entry(self) -> None:
        self._show_amount()

    def watch_message(self, message: str) -> None:
        self.query_one("#split-message", Static).update(message)

    def watch_busy(self, busy: bool) -> None:
        for button in self.query(TapButton):
            button.disabled = busy

    def _show_amount(self) -> None:
        shown = self.query_one("#split-amount", Digits)
        amount = self.amount
        shown.update(digits_text(money(amount)) if amount is not None else "")

    # -- typing ------------------------------------------------------------------------------

    def type_key(self, key: str) -> None:
        if self.busy:
            return
        self.message = ""
        self.entry = typed_amount(self.entry, key, self.decimals)

    @on(Keypad.Pressed)
    def _keypad(self, event: Keypad.Pressed) -> None:
        self.type_key(event.key)

    @on(TypedField.Tapped)
    def _field_tapped(self, event: TypedField.Tapped) -> None:
        self.destination.active = True

    def on_key(self, event: events.Key) -> None:
        char = event.character
        if event.key == "escape":
            self.cancel()
        elif self.destination.active and self.destination.key(event):
            pass  # typed into the destination, not the amount
        elif event.key == "backspace":
            self.type_key("back")
        elif event.is_printable and char and char.isdigit():
            self.type_key(char)
        elif event.is_printable and char in (".", ","):
            self.type_key("dot")
        elif not (event.is_printable or event.key == "enter"):
            return
        event.stop()  # a scanner's burst must not reach the sale behind this screen
        event.prevent_default()

    # -- paying a part -----------------------------------------------------------------------

    def _part_amount(self) -> Money | None:
        split, amount = self.split, self.amount
        if split is None or self.busy:
            return None
        if amount is None or amount.minor <= 0:
            self.message = _("Type the amount of this part")
            return None
        return amount

    @on(Button.Pressed, "#split-cash")
    def pay_cash(self) -> None:
        if (tendered := self._part_amount()) is not None:
            self.busy = True
            self.message = _("Recording the cash…")
            self._cash(tendered)

    @work(exclusive=True, group="split", exit_on_error=False)
    async def _cash(self, tendered: Money) -> None:
        split = self.split
        assert split is not None
        try:
            result = await self.till.split.pay_cash(split.sale_id, self.staff, tendered)
        except Exception as err:
            log.warning("cash part not taken", extra={"sale_id": split.sale_id})
            self.message = _("Cash not taken: {error}").format(error=err)
            self.busy = False
            return
        self.busy = False
        self._part_done(result, _("Cash {amount} taken").format(amount=money(tendered)))

    def _checked(self) -> Money | None:
        amount, split = self._part_amount(), self.split
        if amount is None or split is None:
            return None
        if amount > split.remaining:
            self.message = _("{amount} is more than the {due} still due").format(
                amount=money(amount), due=money(split.remaining)
            )
            return None
        return amount

    @on(Button.Pressed, "#split-card")
    def pay_card(self) -> None:
        split, amount = self.split, self._checked()
        if split is not None and amount is not None:
            screen = PayCardScreen(self.till, None, self.staff, part=(split.sale_id, amount))
            self.app.push_screen(screen, self._returned)

    @on(Button.Pressed, "#split-mercadopago_point, #split-mercadopago_qr")
    def pay_mercadopago(self, event: Button.Pressed) -> None:
        split, amount = self.split, self._checked()
        if split is not None and amount is not None and event.button.id:
            from appliance.services.mercadopago import MercadoPagoMethod
            from appliance.tui.screens.pay_mercadopago import PayMercadoPagoScreen

            method = MercadoPagoMethod(event.button.id.removeprefix("split-"))
            screen = PayMercadoPagoScreen(
                self.till, None, self.staff, method, part=(split.sale_id, amount)
            )
            self.app.push_screen(screen, self._returned)

    @on(Button.Pressed, "#split-bitcoin")
    def pay_bitcoin(self) -> None:
        split, amount = self.split, self._checked()
        if split is not None and amount is not None and self.till.bitcoin is not None:
            # Imported when first wanted: the wallet and Lightning stacks load with it.
            from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen

            cards = self.till.capabilities.nfc
            screen = PayBitcoinScreen(
                self.till.bitcoin, None, self.staff, cards=cards, part=(split.sale_id, amount)
            )
            self.app.push_screen(screen, self._returned)

    @on(Button.Pressed, "#split-usdt")
    def pay_usdt(self) -> None:
        split, amount = self.split, self._checked()
        if split is not None and amount is not None and self.till.usdt is not None:
            from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen

            part = (split.sale_id, amount)
            screen = PayBitcoinScreen(self.till.usdt, None, self.staff, part=part)
            self.app.push_screen(screen, self._returned)

    def _returned(self, result: SaleResult | SplitSale | None) -> None:
        """A card or bitcoin screen closed: paid (a part, or the rest), or not (see why there)."""
        if result is None:
            self.message = _("That part was not paid: pay it another way")
            self._reload()
        else:
            self._part_done(result, _("Part paid"))

    def part_settled(self, result: SaleResult | SplitSale) -> None:
        """A part settled with no pay screen open (a bitcoin offer left by a restart)."""
        split = self.split
        if split is not None and result.sale_id == split.sale_id:
            self._part_done(result, _("A bitcoin part arrived"))

    def _part_done(self, result: SaleResult | SplitSale, words: str) -> None:
        if isinstance(result, SaleResult):
            self._finish(result)
        else:
            self.split = result
            self.message = _("{words}: {due} still due").format(
                words=words, due=money(result.remaining)
            )

    @work(exclusive=True, group="split", exit_on_error=False)
    async def _reload(self) -> None:
        split = self.split
        assert split is not None
        self.split = await self.till.split.get(split.sale_id)

    # -- leaving -----------------------------------------------------------------------------

    @on(Button.Pressed, "#split-cancel")
    def cancel(self) -> None:
        split = self.split
        if split is None or self.busy:
            return
        if split.parts:
            self.give_back(split)
        else:
            self._cancel(split.sale_id)

    @work(exclusive=True, group="split", exit_on_error=False)
    async def _cancel(self, sale_id: str) -> None:
        if await self.till.split.cancel(sale_id):
            self._finish(None)
        else:  # a part was paid meanwhile (a bitcoin payment after a restart)
            self.split = await self.till.split.get(sale_id)

    def give_back(self, split: SplitSale) -> None:
        """Ask a manager to approve giving the paid parts back (the service checks who); a
        bitcoin part needs the customer's destination first, checked here."""
        destination = self.destination.text.strip() or None
        for part in _bitcoin_parts(split):
            amount = Money(part.amount, split.currency)
            if destination is None:
                self.message = _("{amount} goes back by {method}: type where to send it").format(
                    amount=money(amount), method=method_label(part.method, ui_translations())
                )
                self.destination.active = True
                return
            try:
                check_destination(part.method, destination, amount, part.payment)
            except PayoutError as err:
                self.message = _("Not given back: {error}").format(error=err)
                return

        async def act(approval: Approval) -> RefundResult:
            return await self.till.split.give_back(
                split.sale_id,
                self.staff,
                approval,
                "split payment given up",
                destination=destination,
            )

        approval = ApprovalScreen(
            self.till,
            self.staff,
            _("Give the paid parts back"),
            approval_prompt(self.staff, "refund"),
            act,
            failed=_("Not given back"),
        )
        self.app.push_screen(approval, self._given_back)

    def _given_back(self, result: RefundResult | None) -> None:
        if result is not None:
            self._finish(None)

    def _finish(self, result: SaleResult | None) -> None:
        if not self._finished:
            self._finished = True
            self.dismiss(result)
