"""The till and the cash drawer: every opening a signed journal record with its reason, the
printer-port kick against the ESC/POS simulator over TCP, no-sale openings only on a manager's
PIN (checked by the till, not the screen), and a drawer failure that never undoes a sale."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import till_with_printer

from appliance.services.drawer import DrawerChanged
from appliance.services.till import AuthError, DrawerError, DrawerState, NotAuthorized, Staff, Till
from appliance.store import drawer as drawer_store
from appliance.store import journal, outbox, sales
from appliance.store import staff as staff_store
from bitagora_protocol.journal import verify_chain
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)

ANA = Staff(
    "ana", "Ana", "cashier"
)  # demo staff (devtools/bitagora_devtools/seed.py): Ana 1234, Marco 9999
GPIO_ENV = {
    "BITAGORA_DRAWER_KIND": "gpio",
    "BITAGORA_DRAWER_PIN_FACTORY": "mock",
    "BITAGORA_DRAWER_GPIO_PIN": "GPIO17",
    "BITAGORA_DRAWER_SENSOR_PIN": "GPIO27",
    "BITAGORA_DRAWER_ON_MS": "50",
}


async def cash_sale(till: Till, sku: str = "espresso") -> Any:
    cart = till.sales.new_cart()
    cart.add(next(p for p in await till.sales.products() if p.sku == sku))
    return await till.sales.pay_cash(cart, ANA, Money(1000, till.currency))


async def records(till: Till) -> list[Any]:
    return [r async for r in journal.iterate(till.conn)]


async def sensor_to(till: Till, pin: Any, level: str) -> None:
    """Drive the open sensor's pin and wait (bounded) until the till has written the status."""
    changes: asyncio.Queue[DrawerState] = asyncio.Queue()
    unsubscribe = till.bus.subscribe(DrawerChanged, lambda event: changes.put_nowait(event.state))
    try:
        (pin.drive_low if level == "low" else pin.drive_high)()
        async with asyncio.timeout(5):
            await changes.get()
            await till.settle()
    finally:
        unsubscribe()


async def test_cash_sale_kicks_through_the_printer_and_records_the_opening(tmp_path: Path) -> None:
    env = {
        "BITAGORA_DRAWER_PIN": "1",
        "BITAGORA_DRAWER_ON_MS": "120",
        "BITAGORA_DRAWER_OFF_MS": "240",
    }
    async with till_with_printer(tmp_path, env) as (till, sim):
        result = await cash_sale(till)
        assert result.problems == ()
        assert await sim.wait_drawer_kicks(1) == [{"pin": 1, "on_ms": 120, "off_ms": 240, "n": 1}]

        sale, opening = await records(till)
        assert (sale.kind, opening.kind) == ("sale", "drawer_open")
        assert opening.seq == sale.seq + 1  # written after the sale's commit, before the pulse
        assert opening.body == {
            "reason": "sale",
            "sale_id": result.sale_id,
            "staff": {"id": "ana", "name": "Ana"},
        }
        verify_chain(await records(till), till.identity.public_key, till.identity.device_id)
        queued = await outbox.pending(till.conn, 10)
        assert [r.seq for r in queued] == [sale.seq, opening.seq]  # both go to central


async def test_no_sale_needs_a_managers_pin(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        with pytest.raises(NotAuthorized, match="manager"):
            await till.drawer.open_no_sale(ANA, "1234")  # Ana's own PIN: a cashier's
        with pytest.raises(AuthError):
            await till.drawer.open_no_sale(ANA, "0000")
        assert await records(till) == []  # refused: nothing recorded ...
        assert sim.drawer_kicks() == []  # ... and nothing opened

        opening = await till.drawer.open_no_sale(ANA, "9999")  # Marco, a manager
        assert opening.problem is None
        assert opening.record.kind == "drawer_open"
        assert opening.record.body == {
            "reason": "no_sale",
            "staff": {"id": "ana", "name": "Ana"},
            "approved_by": {"id": "marco", "name": "Marco"},
        }
        assert len(await sim.wait_drawer_kicks(1)) == 1
        assert [r.seq for r in await drawer_store.openings(till.conn)] == [opening.record.seq]


async def test_no_sale_without_a_drawer_is_refused(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path, {"BITAGORA_DRAWER_KIND": "none"}) as (till, sim):
        with pytest.raises(DrawerError, match="no cash drawer"):
            await till.drawer.open_no_sale(ANA, "9999")
        result = await cash_sale(till)
        assert result.problems == ()
        assert [r.kind for r in await records(till)] == ["sale"]  # no drawer, no opening
        assert sim.drawer_kicks() == []


async def test_drawer_failure_after_commit_keeps_the_sale_and_reports_it(tmp_path: Path) -> None:
    env = {**GPIO_ENV, "BITAGORA_DRAWER_GPIO_PIN": "GPIO99", "BITAGORA_DRAWER_SENSOR_PIN": ""}
    async with till_with_printer(tmp_path, env) as (till, sim):
        result = await cash_sale(till)
        assert len(result.problems) == 1
        assert (
            result.problems[0].startswith("Drawer did not open") and "GPIO99" in result.problems[0]
        )
        assert await sales.sale_count(till.conn) == 1
        assert len(await sim.wait_receipts(1)) == 1  # the receipt still prints
        kinds = [(r.kind, r.body.get("reason")) for r in await records(till)]
        # The opening was recorded before the pulse was tried: the till did command it.
        assert kinds == [("sale", None), ("drawer_open", "sale")]


async def test_printer_down_the_sale_stands_and_the_drawer_problem_is_reported(
    tmp_path: Path,
) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        await sim.stop()
        result = await cash_sale(till)
        assert any(p.startswith("Drawer did not open") for p in result.problems)
        assert await sales.sale_count(till.conn) == 1


async def test_gpio_drawer_for_a_sale_and_its_sensor_in_the_device_status(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path, GPIO_ENV) as (till, _sim):
        result = await cash_sale(till)
        assert result.problems == ()
        factory = till.devices.drawer.pin_factory  # type: ignore[attr-defined]
        solenoid = factory.pin("GPIO17")
        assert [s.state for s in solenoid.states] == [False, True, False]
        assert solenoid.states[2].timestamp >= 0.05

        async def drawer_status() -> Any:
            raw = await outbox.get_state(till.conn, outbox.DRAWER_STATUS)
            return json.loads(raw) if raw else None

        assert await drawer_status() == {"open": False, "open_too_long": False}  # from the sale
        await sensor_to(till, factory.pin("GPIO27"), "low")
        assert await drawer_status() == {"open": True, "open_too_long": False}
        await sensor_to(till, factory.pin("GPIO27"), "high")
        assert await drawer_status() == {"open": False, "open_too_long": False}


async def test_technicians_test_pulse_is_journalled(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        await staff_store.add_staff(till.conn, "tec", "Teo", "technician", "4242")
        with pytest.raises(NotAuthorized):
            await till.drawer.test("1234")
        opening = await till.drawer.test("4242")
        assert opening.record.body["reason"] == "test"
        assert opening.record.body["approved_by"] == {"id": "tec", "name": "Teo"}
        assert len(await sim.wait_drawer_kicks(1)) == 1
