"""Staff, from the manager menu: everyone on this till (name, role, active, badges), adding a
cashier, a new PIN for someone, deactivating and reactivating them.

The menu opens it for a manager: the one logged in, or the one who approved a cashier's visit
(``grant``, an ``AccessService.grant`` of ``manage_staff``), who is then ``by`` in every
``staff`` record; each action checks that approval is still alive (``AccessService.granted``).
The screen collects a name (the on-screen keyboard, through ``TypedField``) and new PINs
(``NewPinScreen``); the staff service decides, and its refusals (a PIN that is someone
else's, the last manager) are shown here in its words.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.roles import ROLE_NAMES
from appliance.i18n import N_, _, ngettext
from appliance.services.access import Grant
from appliance.services.staff import StaffChange
from appliance.services.till import Staff, Till
from appliance.tui.screens.confirm import ConfirmScreen
from appliance.tui.screens.new_pin import NewPinScreen
from appliance.tui.widgets.basics import TouchScroll
from appliance.tui.widgets.tap_button import TapButton
from appliance.tui.widgets.typed_field import TypedField

log = logging.getLogger(__name__)

DONE = {
    "added": N_("{name} ({id}) added as a {role} · journal #{seq}"),
    "pin_set": N_("{name} ({id}) has a new PIN · journal #{seq}"),
    "deactivated": N_(
        "{name} ({id}) is deactivated: their PIN and badges open nothing · journal #{seq}"
    ),
    "reactivated": N_("{name} ({id}) is active again, with the new PIN · journal #{seq}"),
}


def role_name(staff: Staff) -> str:
    return _(ROLE_NAMES.get(staff.role, staff.role))


def person_label(staff: Staff, badges: int) -> str:
    state = _("active") if staff.active else _("DEACTIVATED")
    count = ngettext("{n} badge", "{n} badges", badges).format(n=badges)
    return f"{staff.name} · {role_name(staff)} · {state} · {count}"


def change_words(change: StaffChange) -> str:
    staff, record = change.staff, change.record
    return _(DONE[record.body["action"]]).format(
        name=staff.name, id=staff.id, role=role_name(staff), seq=record.seq
    )


class StaffScreen(ModalScreen[None]):
    CSS_PATH = "staff.tcss"
    AUTO_FOCUS = None

    message: reactive[str] = reactive("", init=False)
    selected: reactive[Staff | None] = reactive(None, init=False)

    def __init__(self, till: Till, manager: Staff, grant: Grant | None = None) -> None:
        """``manager``: who acts; ``grant``: the approval they gave a cashier, if so."""
        super().__init__()
        self.till = till
        self.manager = manager
        self.grant = grant
        self.people: dict[str, Staff] = {}
        self.field = TypedField(
            _("Name"), _("tap, then type a name"), max_length=40, id="staff-name"
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="staff-dialog"):
            title = _("Staff · {name}") if self.grant is None else _("Staff · approved by {name}")
            yield Static(title.format(name=self.manager.name), id="staff-title", markup=False)
            with Horizontal(id="staff-new"):
                yield self.field
                yield TapButton(_("Add cashier"), "success", id="staff-add")
            yield Static("", id="staff-message", markup=False)
            yield TouchScroll(id="staff-list")
            with Horizontal(id="staff-actions"):
                yield TapButton(_("Reset PIN"), "primary", id="staff-pin", disabled=True)
                yield TapButton(_("Deactivate"), "warning", id="staff-active", disabled=True)
                yield TapButton(_("Close"), "default", id="staff-close")

    def on_mount(self) -> None:
        self.show_people()

    @work(exclusive=True, group="staff-list", exit_on_error=False)
    async def show_people(self) -> None:
        try:
            people = await self.till.staff.people()
        except Exception as err:
            log.exception("could not list the staff")
            self.message = _("Could not list the staff: {error}").format(error=err)
            return
        self.people = {staff.id: staff for staff, _ in people}
        listing = self.query_one("#staff-list", TouchScroll)
        await listing.remove_children()
        await listing.mount_all(
            TapButton(person_label(s, len(b)), id=f"person-{s.id}", classes="person", name=s.id)
            for s, b in people
        )
        chosen = self.selected
        self.selected = self.people.get(chosen.id) if chosen else None

    def watch_message(self, message: str) -> None:
        self.query_one("#staff-message", Static).update(message)

    def watch_selected(self, staff: Staff | None) -> None:
        for button in self.query(".person").results(TapButton):
            button.variant = "primary" if staff and button.name == staff.id else "default"
        pin = self.query_one("#staff-pin", TapButton)
        toggle = self.query_one("#staff-active", TapButton)
        pin.disabled = toggle.disabled = staff is None
        pin.disabled = pin.disabled or not (staff and staff.active)
        toggle.label = _("Reactivate") if staff and not staff.active else _("Deactivate")

    @on(Button.Pressed, ".person")
    def _chosen(self, event: Button.Pressed) -> None:
        assert event.button.name is not None
        self.message = ""
        self.selected = self.people.get(event.button.name)

    @on(TypedField.Tapped)
    def _field_tapped(self, event: TypedField.Tapped) -> None:
        event.field.active = True

    def on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            self.close()
        elif not (self.field.active and self.field.key(event)):
            return
        event.stop()
        event.prevent_default()

    # -- the actions: each checks the approval first, then asks the service ------------------

    async def _acting(self) -> Staff:
        """Who acts now: the manager, while the approval they gave still holds."""
        if self.grant is None:
            return self.manager
        return await self.till.access.granted(self.grant, "manage_staff")

    def _with_pin(self, title: str, act: Callable[[Staff, str], Awaitable[StaffChange]]) -> None:
        async def with_manager(pin: str) -> StaffChange:
            return await act(await self._acting(), pin)

        self.app.push_screen(NewPinScreen(self.till.clock, title, with_manager), self._changed)

    @on(Button.Pressed, "#staff-add")
    def add(self) -> None:
        name = " ".join(self.field.text.split())
        if not name:
            self.message = _("Type the new cashier's name first (tap the Name field)")
            return
        self.field.active = False
        self._with_pin(
            _("A PIN for {name}").format(name=name),
            lambda by, pin: self.till.staff.add(name, "cashier", pin, by),
        )

    @on(Button.Pressed, "#staff-pin")
    def reset_pin(self) -> None:
        staff = self.selected
        if staff is not None:
            self._with_pin(
                _("A new PIN for {name}").format(name=staff.name),
                lambda by, pin: self.till.staff.set_pin(staff.id, pin, by),
            )

    @on(Button.Pressed, "#staff-active")
    def toggle_active(self) -> None:
        staff = self.selected
        if staff is None:
            return
        if not staff.active:
            self._with_pin(
                _("Reactivate {name}: a new PIN").format(name=staff.name),
                lambda by, pin: self.till.staff.reactivate(staff.id, pin, by),
            )
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._deactivate(staff)

        question = _(
            "{name}'s PIN and badges will open nothing. Their sales and records stay;"
            " a manager can reactivate them with a new PIN."
        ).format(name=staff.name)
        title = _("Deactivate {name}?").format(name=staff.name)
        self.app.push_screen(ConfirmScreen(title, question, _("Deactivate"), _("Keep")), confirmed)

    @work(exclusive=True, group="staff-change", exit_on_error=False)
    async def _deactivate(self, staff: Staff) -> None:
        try:
            change = await self.till.staff.deactivate(staff.id, await self._acting())
        except Exception as err:  # the last manager, oneself, an approval lapsed: say so
            log.warning("deactivation refused", extra={"error": str(err)})
            self.message = _("Not done: {error}").format(error=err)
            return
        self._changed(change)

    def _changed(self, change: StaffChange | None) -> None:
        if change is None:
            return
        if change.record.body["action"] == "added":
            self.field.text = ""
        self.message = change_words(change)
        self.selected = change.staff
        self.show_people()

    @on(Button.Pressed, "#staff-close")
    def close(self) -> None:
        self.dismiss(None)
