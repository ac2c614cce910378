"""Staff from the kiosk's Menu, driven by taps through the real app (Textual Pilot) over a real
store: a cashier opens Staff, a manager approves, a cashier is added with a name typed on the
on-screen keyboard and a PIN typed twice, and unlocks the till with it; a manager gives someone
a new PIN, then deactivates them, and that PIN opens nothing; refusals are shown on the screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tui_helpers import kiosk, text, till_with_printer

from appliance.services.till import Staff, Till
from appliance.store import journal
from appliance.tui.app import KioskApp
from appliance.tui.screens.approval import ApprovalScreen
from appliance.tui.screens.confirm import ConfirmScreen
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.manager_menu import ManagerMenuScreen
from appliance.tui.screens.new_pin import NewPinScreen
from appliance.tui.screens.search_keyboard import SearchKeyboardScreen
from appliance.tui.screens.staff import StaffScreen
from appliance.tui.widgets.text_keyboard import TextKeyboard
from bitagora_devtools.script import tap, wait_for_screen, wait_until
from bitagora_protocol.journal import Record

pytestmark = pytest.mark.timeout(120)

# demo staff: Ana 1234 (cashier), Marco 9999 (manager)


async def staff_records(till: Till) -> list[Record]:
    return [r async for r in journal.iterate(till.conn) if r.kind == "staff"]


async def tap_pin(pilot: Any, pin: str) -> None:
    for digit in pin:
        await tap(pilot, f"#key-{digit}")
    await tap(pilot, "#key-ok")


async def open_staff(pilot: Any, approver_pin: str | None) -> StaffScreen:
    """Menu → Staff, approved with ``approver_pin`` when the one logged in may not."""
    await tap(pilot, "#menu")
    await wait_for_screen(pilot, ManagerMenuScreen, "the menu")
    await tap(pilot, "#menu-staff")
    if approver_pin is not None:
        approval = await wait_for_screen(pilot, ApprovalScreen, "the approval")
        assert "a manager must add staff" in text(approval, "#approval-prompt")
        await tap_pin(pilot, approver_pin)
    staff = await wait_for_screen(pilot, StaffScreen, "the staff screen")
    await wait_until(pilot, lambda: bool(staff.query(".person")), "the people")
    return staff


async def new_pin(pilot: Any, first: str, second: str | None = None) -> NewPinScreen[Any]:
    screen = await wait_for_screen(pilot, NewPinScreen, "the new PIN")
    await tap_pin(pilot, first)
    await wait_until(pilot, lambda: screen.first is not None, "the first PIN")
    await tap_pin(pilot, second or first)
    return screen  # type: ignore[no-any-return]


async def lock_and_unlock(pilot: Any, app: KioskApp, pin: str) -> LockScreen:
    """Close the staff screen and the menu, lock the till, type ``pin`` on the lock screen."""
    await tap(pilot, "#staff-close")
    await wait_for_screen(pilot, ManagerMenuScreen, "the menu again")
    await tap(pilot, "#menu-close")
    await wait_until(pilot, lambda: app.screen is app.sell, "selling")
    await tap(pilot, "#lock")
    lock = await wait_for_screen(pilot, LockScreen, "the lock screen")
    await tap_pin(pilot, pin)
    return lock


async def test_a_cashier_with_a_manager_adds_a_cashier_who_then_unlocks(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _), kiosk(till, pin="1234") as (app, pilot):
        staff = await open_staff(pilot, approver_pin="9999")
        assert text(staff, "#staff-title") == "Staff · approved by Marco"
        assert "Ana · cashier · active · 1 badge" in str(staff.query_one("#person-ana").label)

        await tap(pilot, "#staff-add")  # no name yet: said on the screen
        await wait_until(pilot, lambda: "name first" in staff.message, "the refusal")
        await tap(pilot, "#staff-name")
        keyboard = (await wait_for_screen(pilot, SearchKeyboardScreen, "keys")).query_one(
            TextKeyboard
        )
        for key in ("b", "e", "a"):
            await tap(pilot, keyboard.key(key))
        await tap(pilot, keyboard.key("done"))
        await wait_for_screen(pilot, StaffScreen, "the staff screen again")
        assert staff.field.text == "bea"

        await tap(pilot, "#staff-add")
        pad = await new_pin(pilot, "5678", "5687")  # typed differently: asked again
        await wait_until(pilot, lambda: "differ" in pad.pad.message, "the mismatch")
        await new_pin(pilot, "9999")  # Marco's PIN: the service's words on the pad
        await wait_until(pilot, lambda: "someone else" in pad.pad.message, "the refusal")
        await new_pin(pilot, "5678")
        await wait_for_screen(pilot, StaffScreen, "the staff screen after the PIN")
        await wait_until(pilot, lambda: "bea (bea) added as a cashier" in staff.message, "done")
        await wait_until(pilot, lambda: bool(staff.query("#person-bea")), "bea in the list")

        [added] = await staff_records(till)
        assert added.body == {
            "action": "added",
            "staff": {"id": "bea", "name": "bea", "role": "cashier", "active": True},
            "by": {"id": "marco", "name": "Marco"},
        }
        [approval] = [r async for r in journal.iterate(till.conn) if r.kind == "approval"]
        assert approval.body["actions"] == ["manage_staff"]
        assert approval.body["approved_by"] == {"id": "marco", "name": "Marco"}

        await lock_and_unlock(pilot, app, "5678")
        await wait_until(pilot, lambda: app.screen is app.sell, "unlocked")
        assert app.sell.staff == Staff("bea", "bea", "cashier")


async def test_a_manager_deactivates_someone_whose_pin_then_opens_nothing(
    tmp_path: Path,
) -> None:
    async with till_with_printer(tmp_path) as (till, _), kiosk(till, pin="9999") as (app, pilot):
        staff = await open_staff(pilot, approver_pin=None)  # a manager needs nobody
        assert text(staff, "#staff-title") == "Staff · Marco"

        await tap(pilot, "#person-marco")  # the last manager: refused in words
        await tap(pilot, "#staff-active")
        await wait_for_screen(pilot, ConfirmScreen, "the question")
        await tap(pilot, "#confirm-yes")
        await wait_until(pilot, lambda: "Not done:" in staff.message, "the refusal")
        assert "nobody deactivates themselves" in staff.message

        await tap(pilot, "#person-ana")
        await tap(pilot, "#staff-pin")
        await new_pin(pilot, "2468")
        await wait_for_screen(pilot, StaffScreen, "the staff screen after the PIN")
        await wait_until(pilot, lambda: "Ana (ana) has a new PIN" in staff.message, "done")
        assert await till.access.unlock("2468") == Staff("ana", "Ana", "cashier")

        await tap(pilot, "#staff-active")
        await wait_for_screen(pilot, ConfirmScreen, "the question")
        await tap(pilot, "#confirm-yes")
        await wait_until(pilot, lambda: "Ana (ana) is deactivated" in staff.message, "done")
        button = staff.query_one("#person-ana")
        await wait_until(pilot, lambda: "DEACTIVATED" in str(button.label), "the list")
        await wait_until(
            pilot, lambda: str(staff.query_one("#staff-active").label) == "Reactivate", "label"
        )
        assert staff.query_one("#staff-pin").disabled  # a PIN comes with reactivation

        lock = await lock_and_unlock(pilot, app, "2468")
        await wait_until(pilot, lambda: "deactivated" in lock.pad.message, "the refusal")
        assert lock.pad.message == "Ana has been deactivated: a manager can reactivate them"
        assert app.screen is lock
        assert not await till.access.lockout_remaining()  # not counted as a wrong PIN
        records = await staff_records(till)
        assert [r.body["action"] for r in records] == ["pin_set", "deactivated"]
        assert all(r.body["by"] == {"id": "marco", "name": "Marco"} for r in records)
