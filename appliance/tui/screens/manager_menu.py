"""The menu behind the sell screen's "Menu" button: the shift (open with a float, paid in, paid
out, X report, Z close), refunds, voiding the cart in progress, no sale, and staff.

Anyone logged in may open it; the services decide who may do what. Where the logged-in person's
role may not do something themselves (a cashier and a paid out, an X or a Z), the menu says why
in the role table's words and asks for a manager's approval (``ApprovalScreen``); the manager
who approves is then the one the records name. That approval covers the visit: paid in, paid
out, X and Z need no second PIN until Close, or until two minutes pass without one of them
(``AccessService.grant``, journalled once as an ``approval`` record). Refunds, voids and no
sales take a manager's approval each, in their own screens: each moves money. Staff
(``StaffScreen``) takes an approval of its own for a cashier, ``manage_staff`` alone, which
covers that screen's changes as long as it stays alive. The menu stays
open between actions and says what each did; Close returns to selling, dismissing with a notice
for the sell screen (a void), or None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.cart import Cart
from appliance.core.roles import ROLE_NAMES, Action, allowed
from appliance.i18n import N_, _, money, ngettext
from appliance.services.access import MENU_ACTIONS, ApprovalLapsed, Grant
from appliance.services.refunds import Approval, RefundResult
from appliance.services.shift import ZResult
from appliance.services.till import DrawerOpening, Staff, Till
from appliance.tui.screens.amount import AmountScreen
from appliance.tui.screens.approval import ApprovalScreen, approval_prompt
from appliance.tui.screens.no_sale import NoSaleScreen, opening_words
from appliance.tui.screens.refund import RefundScreen, outcome_lines
from appliance.tui.screens.refund_find import RefundFindScreen
from appliance.tui.screens.staff import StaffScreen
from appliance.tui.screens.void import VoidScreen
from appliance.tui.screens.x_report import XReportScreen
from appliance.tui.screens.z_close import ZCloseScreen
from appliance.tui.widgets.reason_picker import PAID_IN_REASONS, PAID_OUT_REASONS
from appliance.tui.widgets.tap_button import TapButton
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)

NO_SHIFT = N_("No shift open. Sales are recorded; open a shift to count the float.")

ITEMS = (
    ("open-shift", N_("Open shift")),
    ("paid-in", N_("Paid in")),
    ("paid-out", N_("Paid out")),
    ("x-report", N_("X report")),
    ("z-close", N_("Z close")),
    ("refund", N_("Refund")),
    ("void", N_("Void this sale")),
    ("no-sale", N_("No sale")),
    ("staff", N_("Staff")),
)


class ManagerMenuScreen(ModalScreen[str | None]):
    CSS_PATH = "manager_menu.tcss"
    AUTO_FOCUS = None

    message: reactive[str] = reactive("", init=False)
    shift_text: reactive[str] = reactive("", init=False)

    def __init__(self, till: Till, staff: Staff, cart: Cart) -> None:
        super().__init__()
        self.till = till
        self.staff = staff
        self.cart = cart
        self.shifts = till.shifts
        self.refunds = till.refunds
        # A manager's approval of this visit, for the shift actions (``_as``).
        self.grant: Grant | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="menu-dialog"):
            role = _(ROLE_NAMES.get(self.staff.role, self.staff.role))
            yield Static(
                _("Menu · {name} ({role})").format(name=self.staff.name, role=role), id="menu-title"
            )
            yield Static("", id="menu-shift", markup=False)
            with Grid(id="menu-items"):
                for key, label in ITEMS:
                    yield TapButton(_(label), "primary", id=f"menu-{key}", classes="menu-item")
            yield Static("", id="menu-message", markup=False)
            yield TapButton(_("Close"), "default", id="menu-close")

    def on_mount(self) -> None:
        self.query_one("#menu-no-sale").display = self.till.capabilities.drawer
        self.query_one("#menu-void", TapButton).disabled = self.cart.is_empty
        self.show_shift()

    @work(exclusive=True, group="menu-shift", exit_on_error=False)
    async def show_shift(self) -> None:
        try:
            report = await self.shifts.current()
            is_open = await self.shifts.shift_open()
        except Exception as err:
            log.exception("could not read the shift")
            self.shift_text = _("Could not read the shift: {error}").format(error=err)
            return
        if not is_open:
            self.shift_text = _(NO_SHIFT)
            return
        sales = ngettext("{n} sale", "{n} sales", report.sales_count).format(n=report.sales_count)
        self.shift_text = _("Shift open · float {float} · {sales}").format(
            float=money(Money(report.float, report.currency)), sales=sales
        )

    def watch_shift_text(self, text: str) -> None:
        self.query_one("#menu-shift", Static).update(text)

    def watch_message(self, message: str) -> None:
        self.query_one("#menu-message", Static).update(message)

    def _as(self, action: Action, then: Callable[[Staff], object]) -> None:
        """Run ``then`` for whoever may do ``action``: the logged-in person if their role may,
        else the manager who approved this visit of the menu (one approval covers the shift
        actions until Close or ``AccessService.grant_idle`` without one), else the manager who
        approves now (a wrong PIN counts against the logged-in person)."""
        self.message = ""
        if allowed(self.staff.role, action):
            then(self.staff)
        elif self.grant is not None and action in self.grant.actions:
            self._under_grant(self.grant, action, then)
        else:
            self._ask(action, then)

    @work(exclusive=True, group="menu-grant", exit_on_error=False)
    async def _under_grant(
        self, grant: Grant, action: Action, then: Callable[[Staff], object]
    ) -> None:
        try:
            manager = await self.till.access.granted(grant, action)
        except ApprovalLapsed:
            self.grant = None
            self._ask(action, then)
            return
        except Exception as err:  # a lockout since, or the store failed: say so
            self.grant = None
            self.message = str(err)
            return
        then(manager)

    def _ask(self, action: Action, then: Callable[[Staff], object]) -> None:
        # The action asked for first: a wrong PIN's lockout names it.
        actions = (action, *(a for a in MENU_ACTIONS if a != action and action in MENU_ACTIONS))

        def approved(grant: Grant | None) -> None:
            if grant is not None:
                if self.grant is not None:  # one for other actions: this one replaces it
                    self.till.access.end_grant(self.grant)
                self.grant = grant
                then(grant.approver)

        async def approve(approval: Approval) -> Grant:
            return await self.till.access.grant(
                self.staff, actions, pin=approval.pin, badge=approval.badge
            )

        self.app.push_screen(
            ApprovalScreen(
                self.till,
                self.staff,
                _("A manager's approval"),
                approval_prompt(self.staff, action),
                approve,
            ),
            approved,
        )

    def on_unmount(self) -> None:
        if self.grant is not None:
            self.till.access.end_grant(self.grant)
            self.grant = None

    # -- the shift ---------------------------------------------------------------------------

    @on(Button.Pressed, "#menu-open-shift")
    def open_shift(self) -> None:
        self.message = ""
        staff = self.staff
        self.app.push_screen(
            AmountScreen(
                _("Open shift: the float"),
                self.shifts.currency,
                lambda amount, _reason: self.shifts.open_shift(staff, amount),
                hint=_("Count the cash in the drawer and type it"),
            ),
            self._recorded,
        )

    @on(Button.Pressed, "#menu-paid-in, #menu-paid-out")
    def paid(self, event: Button.Pressed) -> None:
        out = event.button.id == "menu-paid-out"

        def screen(manager: Staff) -> None:
            act = self.shifts.paid_out if out else self.shifts.paid_in
            self.app.push_screen(
                AmountScreen(
                    _("Paid out of the drawer") if out else _("Paid into the drawer"),
                    self.shifts.currency,
                    lambda amount, reason: act(manager, amount, reason),
                    reasons=PAID_OUT_REASONS if out else PAID_IN_REASONS,
                ),
                self._recorded,
            )

        self._as("paid_in_out", screen)

    def _recorded(self, record: Record | None) -> None:
        if record is None:
            return
        body = record.body
        if record.kind == "shift_open":
            amount = money(Money(body["float"]["minor"], body["float"]["currency"]))
            self.message = _("Shift open with a float of {amount} (journal #{seq})").format(
                amount=amount, seq=record.seq
            )
        else:
            amount = money(Money(body["amount"]["minor"], body["amount"]["currency"]))
            paid = (
                _("Paid in {amount}: {reason} (journal #{seq})")
                if body["direction"] == "in"
                else _("Paid out {amount}: {reason} (journal #{seq})")
            )
            self.message = paid.format(amount=amount, reason=body["reason"], seq=record.seq)
        self.show_shift()

    @on(Button.Pressed, "#menu-x-report")
    def x_report(self) -> None:
        self._as(
            "x_report", lambda manager: self.app.push_screen(XReportScreen(self.shifts, manager))
        )

    @on(Button.Pressed, "#menu-z-close")
    def z_close(self) -> None:
        self._as(
            "z_close",
            lambda manager: self.app.push_screen(ZCloseScreen(self.shifts, manager), self._z_done),
        )

    def _z_done(self, result: ZResult | None) -> None:
        if result is not None:
            body = result.record.body
            diff = money(Money(body["difference"], body["currency"]))
            self.message = _("Day closed: Z #{number}, difference {difference}").format(
                number=body["z_number"], difference=diff
            )
        self.show_shift()

    # -- refunds and voids -------------------------------------------------------------------

    @on(Button.Pressed, "#menu-refund")
    def refund(self) -> None:
        self.message = ""
        self.app.push_screen(RefundFindScreen(self.refunds), self._sale_found)

    def _sale_found(self, sale: Record | None) -> None:
        if sale is not None:
            screen = RefundScreen(self.till, self.refunds, self.staff, sale)
            self.app.push_screen(screen, self._refunded)

    def _refunded(self, result: RefundResult | None) -> None:
        if result is not None:
            self.message = "\n".join(outcome_lines(result))
            self.show_shift()

    @on(Button.Pressed, "#menu-void")
    def void(self) -> None:
        if self.cart.is_empty:
            self.message = _("The cart is empty: nothing to void")
            return
        self.app.push_screen(
            VoidScreen(self.till, self.refunds, self.staff, self.cart), self._voided
        )

    def _voided(self, record: Record | None) -> None:
        if record is None:
            return
        total = Money(record.body["total"]["minor"], record.body["total"]["currency"])
        self.dismiss(f"Sale voided ({total}, {record.body['reason']}) · journal #{record.seq}")

    # -- the drawer -----------------------------------------------------------------------

    @on(Button.Pressed, "#menu-no-sale")
    def no_sale(self) -> None:
        self.message = ""
        self.app.push_screen(NoSaleScreen(self.till, self.staff), self._drawer_opened)

    def _drawer_opened(self, opening: DrawerOpening | None) -> None:
        if opening is None:
            return
        self.message = opening_words(opening)

    # -- staff ---------------------------------------------------------------------------------

    @on(Button.Pressed, "#menu-staff")
    def staff_screen(self) -> None:
        def screen(manager: Staff) -> None:
            # A cashier's visit acts under the approval just given (or still alive), which the
            # staff screen checks before each change.
            grant = self.grant if manager is not self.staff else None
            self.app.push_screen(StaffScreen(self.till, manager, grant))

        self._as("manage_staff", screen)

    @on(Button.Pressed, "#menu-close")
    def close(self) -> None:
        self.dismiss(None)
