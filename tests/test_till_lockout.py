"""Roles and PIN lockout in the till service, with no UI in front of it: what a cashier may not
do whoever calls the till, five wrong PINs locking the PIN pad (journalled, kept across a
restart, refusing even the right PIN, over when the clock says so, longer each time), wrong
approval PINs locking the staff member who typed them, and a manager lifting a lockout."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lockout_helpers import ManualClock
from tui_helpers import till_with_printer

from appliance.services.till import AuthError, LockedOut, NotAuthorized, Staff, Till
from appliance.store import journal
from appliance.store import staff as staff_store
from bitagora_devtools.seed import DEMO_BADGES
from bitagora_protocol.journal import verify_chain
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)

ANA = Staff(
    "ana", "Ana", "cashier"
)  # demo staff (devtools/bitagora_devtools/seed.py): Ana 1234, Marco 9999
MARCO = Staff("marco", "Marco", "manager")
TEO = Staff("teo", "Teo", "technician")
BADGES = dict(DEMO_BADGES)
WRONG = "5555"


@asynccontextmanager
async def open_till(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Till]:
    """The till over ``tmp_path``'s store (the same store each time: a restart)."""
    async with till_with_printer(tmp_path) as (till, _sim):
        till.clock = clock
        yield till


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def lockout_records(till: Till) -> list[Any]:
    return [r async for r in journal.iterate(till.conn) if r.kind == "staff_lockout"]


async def wrong_pins(till: Till, times: int) -> None:
    for _ in range(times):
        with pytest.raises(AuthError):
            await till.access.unlock(WRONG)


async def cash_sale(till: Till, staff: Staff) -> Any:
    cart = till.sales.new_cart()
    cart.add((await till.sales.products())[0])
    return await till.sales.pay_cash(cart, staff, Money(1000, till.currency))


async def test_the_service_refuses_what_a_role_may_not_do(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with open_till(tmp_path, clock) as till:
        await staff_store.add_staff(till.conn, "teo", "Teo", "technician", "4242")
        with pytest.raises(NotAuthorized, match="Ana is a cashier: a manager must open the drawer"):
            await till.drawer.open_no_sale(ANA, "1234")
        with pytest.raises(NotAuthorized, match="Ana is a cashier: a manager must lift"):
            await till.access.lift_lockout("1234", "ana", requester=ANA)
        with pytest.raises(NotAuthorized, match="Teo is a technician: a cashier or manager"):
            await cash_sale(till, TEO)
        with pytest.raises(NotAuthorized, match="Teo is a technician"):
            await till.receipts.reprint_last(TEO)
        assert [r async for r in journal.iterate(till.conn)] == []  # nothing was recorded
        await cash_sale(till, ANA)  # what a cashier may do, she does
        await till.receipts.reprint_last(ANA)


async def test_five_wrong_pins_lock_the_pin_pad_across_a_restart(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with open_till(tmp_path, clock) as till:
        await wrong_pins(till, 4)
        assert await lockout_records(till) == []
        with pytest.raises(LockedOut) as locked:
            await till.access.unlock(WRONG)
        assert locked.value.subject == "till"
        assert str(locked.value) == "Too many wrong PINs: try again in 1:00"
        (record,) = await lockout_records(till)
        assert record.body == {
            "event": "locked",
            "subject": "till",
            "action": "unlock",
            "failures": 5,
            "lockout": 1,
            "seconds": 60,
            "until": "2026-11-28T09:01:00.000000Z",
        }
        records = [r async for r in journal.iterate(till.conn)]
        verify_chain(records, till.identity.public_key, till.identity.device_id)

    clock.advance(seconds=28)
    async with open_till(tmp_path, clock) as till:  # pulling the plug lifts nothing
        with pytest.raises(LockedOut, match="try again in 0:32"):
            await till.access.unlock("1234")  # even the right PIN
        with pytest.raises(LockedOut):
            await till.drawer.test("9999")  # the doctor's PIN goes through the same pad
        assert await till.access.lockout_remaining() == timedelta(seconds=32)
        assert len(await lockout_records(till)) == 1  # refusals while locked add nothing

        clock.advance(seconds=32)
        assert await till.access.lockout_remaining() == timedelta(0)
        assert (await till.access.unlock("1234")).name == "Ana"


async def test_lockouts_escalate(tmp_path: Path, clock: ManualClock) -> None:
    async with open_till(tmp_path, clock) as till:
        for minutes in (1, 5, 15, 15):
            await wrong_pins(till, 4)
            with pytest.raises(LockedOut):
                await till.access.unlock(WRONG)
            assert await till.access.lockout_remaining() == timedelta(minutes=minutes)
            clock.advance(minutes=minutes)
        seconds = [r.body["seconds"] for r in await lockout_records(till)]
        assert seconds == [60, 300, 900, 900]

        clock.advance(hours=24)  # a day without a wrong PIN: back to the first step
        await wrong_pins(till, 4)
        with pytest.raises(LockedOut, match="1:00"):
            await till.access.unlock(WRONG)


async def test_a_right_pin_in_between_does_not_wipe_wrong_ones(
    tmp_path: Path, clock: ManualClock
) -> None:
    """A cashier's own PIN between guesses at a manager's must not reset the count."""
    async with open_till(tmp_path, clock) as till:
        await wrong_pins(till, 3)
        await till.access.unlock("1234")
        await till.access.unlock_badge(BADGES["ana"])
        await wrong_pins(till, 1)
        with pytest.raises(LockedOut):
            await till.access.unlock(WRONG)

        clock.advance(minutes=1)
        await wrong_pins(till, 4)
        clock.advance(minutes=15)  # a quarter of an hour without a wrong PIN: counted afresh
        await wrong_pins(till, 4)
        assert await till.access.lockout_remaining() == timedelta(0)


async def test_wrong_approval_pins_lock_the_one_who_typed_them(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with open_till(tmp_path, clock) as till:
        for _ in range(4):
            with pytest.raises(AuthError):
                await till.drawer.open_no_sale(ANA, WRONG)
        with pytest.raises(NotAuthorized):  # a real PIN, not a manager's: not counted
            await till.drawer.open_no_sale(ANA, "1234")
        with pytest.raises(LockedOut) as locked:
            await till.drawer.open_no_sale(ANA, WRONG)
        assert locked.value.subject == "staff:ana"
        assert str(locked.value).startswith("Ana is locked out after too many wrong PINs")
        (record,) = await lockout_records(till)
        assert record.body["subject"] == "staff"
        assert record.body["staff"] == {"id": "ana", "name": "Ana"}
        assert record.body["action"] == "no_sale"

        # Ana is out: her PIN, her badge, her sales, even the manager's PIN for her approval
        for attempt in (
            till.access.unlock("1234"),
            till.access.unlock_badge(BADGES["ana"]),
            cash_sale(till, ANA),
            till.drawer.open_no_sale(ANA, "9999"),
        ):
            with pytest.raises(LockedOut, match="locked out"):
                await attempt
        # Not Marco, whose PIN she was after, and not the PIN pad
        assert (await till.access.unlock("9999")).name == "Marco"
        assert await till.access.lockout_remaining() == timedelta(0)
        assert await till.access.lockout_remaining(ANA) == timedelta(minutes=1)

        clock.advance(minutes=1)
        assert (await till.access.unlock("1234")).name == "Ana"


async def test_a_manager_lifts_a_lockout_journalled(tmp_path: Path, clock: ManualClock) -> None:
    async with open_till(tmp_path, clock) as till:
        for _ in range(5):
            with pytest.raises(AuthError):
                await till.drawer.open_no_sale(ANA, WRONG)
        with pytest.raises(LookupError, match="not locked out"):
            await till.access.lift_lockout("9999", "marco", requester=MARCO)
        with pytest.raises(LookupError, match="no staff member"):
            await till.access.lift_lockout("9999", "nobody", requester=MARCO)

        record = await till.access.lift_lockout("9999", "ana", requester=MARCO)
        assert record.kind == "staff_lockout"
        assert record.body == {
            "event": "unlocked",
            "subject": "staff",
            "staff": {"id": "ana", "name": "Ana"},
            "via": "till",
            "by": {"id": "marco", "name": "Marco"},
        }
        assert (await till.access.unlock("1234")).name == "Ana"
        # the escalation is forgotten too: her next lockout is a first one again
        for _ in range(5):
            with pytest.raises(AuthError):
                await till.drawer.open_no_sale(ANA, WRONG)
        assert await till.access.lockout_remaining(ANA) == timedelta(minutes=1)


async def test_badges_work_on_a_locked_pin_pad_and_a_managers_lifts_it(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with open_till(tmp_path, clock) as till:
        await wrong_pins(till, 4)
        with pytest.raises(LockedOut):
            await till.access.unlock(WRONG)
        assert (
            await till.access.unlock_badge(BADGES["ana"])
        ).name == "Ana"  # a badge is not a guess
        assert await till.access.lockout_remaining() == timedelta(
            minutes=1
        )  # a cashier's lifts nothing

        assert (await till.access.unlock_badge(BADGES["marco"])).name == "Marco"
        assert await till.access.lockout_remaining() == timedelta(0)
        locked, lifted = await lockout_records(till)
        assert lifted.body == {
            "event": "unlocked",
            "subject": "till",
            "via": "badge",
            "by": {"id": "marco", "name": "Marco"},
        }
        assert (await till.access.unlock("1234")).name == "Ana"


async def test_a_clock_set_back_at_boot_cannot_stretch_a_lockout(
    tmp_path: Path, clock: ManualClock
) -> None:
    async with open_till(tmp_path, clock) as till:
        await wrong_pins(till, 4)
        with pytest.raises(LockedOut):
            await till.access.unlock(WRONG)
    clock.advance(hours=-3)  # a Pi without RTC, back up with an old time and no NTP yet
    async with open_till(tmp_path, clock) as till:
        assert await till.access.lockout_remaining() == timedelta(minutes=1)
        clock.advance(minutes=1)
        assert (await till.access.unlock("1234")).name == "Ana"


async def test_a_menu_approval_lapses_when_idle_or_ended(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Issue 15 item 8: one manager's approval covers the menu's shift actions for a visit:
    journalled once, refused for anything else, lapsing after ``grant_idle`` without an action
    (each action restarts the wait) or at ``end_grant``."""
    from appliance.services.access import ApprovalLapsed

    async with open_till(tmp_path, clock) as till:
        ana = ANA
        grant = await till.access.grant(ana, ("x_report", "paid_in_out"), pin="9999")
        assert grant.approver.name == "Marco"
        assert grant.record.kind == "approval" and grant.record.body["idle_seconds"] == 120
        clock.advance(seconds=119)
        assert (await till.access.granted(grant, "x_report")).name == "Marco"
        clock.advance(seconds=119)  # the last action restarted the wait
        assert (await till.access.granted(grant, "paid_in_out")).name == "Marco"
        with pytest.raises(ApprovalLapsed, match="does not cover"):
            await till.access.granted(grant, "no_sale")
        clock.advance(seconds=120)
        with pytest.raises(ApprovalLapsed, match="lapsed"):
            await till.access.granted(grant, "x_report")
        again = await till.access.grant(ana, ("x_report",), badge=BADGES["marco"])
        assert again.record.body["via"] == "badge"
        till.access.end_grant(again)
        with pytest.raises(ApprovalLapsed, match="ended"):
            await till.access.granted(again, "x_report")
        with pytest.raises(NotAuthorized):  # a cashier's PIN approves nothing
            await till.access.grant(ana, ("x_report",), pin="1234")
        kinds = [r.kind async for r in journal.iterate(till.conn)]
        assert kinds.count("approval") == 2
