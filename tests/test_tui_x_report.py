"""The X report screen shows the running totals and prints them; a cashier is refused."""

from __future__ import annotations

from pathlib import Path

from print_helpers import sell
from textual.app import App
from tui_helpers import text, till_with_printer

from appliance.services.till import Staff
from appliance.store import staff as staff_store
from appliance.tui.screens.x_report import XReportScreen
from bitagora_devtools.script import SIZE, tap, wait_until
from bitagora_protocol.money import Money


class Host(App[None]):
    def __init__(self, screen: XReportScreen) -> None:
        super().__init__()
        self.report = screen

    def on_mount(self) -> None:
        self.push_screen(self.report)


async def who(conn: object, pin: str) -> Staff:
    staff = await staff_store.staff_by_pin(conn, pin)  # type: ignore[arg-type]
    assert staff is not None
    return staff


async def test_x_report_screen_shows_and_prints(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        shifts = till.shifts
        await shifts.open_shift(await who(till.conn, "1234"), Money(5000, "EUR"))
        await sell(till)
        await sim.wait_receipts(1)
        screen = XReportScreen(shifts, await who(till.conn, "9999"))
        app = Host(screen)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "Sales: 1" in text(screen, "#x-lines"), "the X")
            assert "Float: €50.00" in text(screen, "#x-lines")
            await tap(pilot, "#x-print")
            await wait_until(pilot, lambda: text(screen, "#x-message") == "Printed", "printed")
        [_sale, x] = await sim.wait_receipts(2)
        assert "X REPORT" in x


async def test_x_report_screen_refuses_a_cashier(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        screen = XReportScreen(till.shifts, await who(till.conn, "1234"))
        app = Host(screen)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "manager" in text(screen, "#x-message"), "refusal")
