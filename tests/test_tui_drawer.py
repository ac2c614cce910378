"""The drawer on the kiosk: No sale on a manager's PIN (taps on the modal's keypad), a cashier's
PIN refused, and the open-too-long warning that comes and goes with the sensor (gpiozero's
MockFactory drives the GPIO sensor pin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static
from tui_helpers import kiosk, till_with_printer

from appliance.services.till import Till
from appliance.store import drawer as drawer_store
from appliance.tui.scan import StepClock
from appliance.tui.screens.no_sale import NoSaleScreen
from bitagora_devtools.script import tap, wait_until
from bitagora_devtools.sim.printer import PrinterSimulator

pytestmark = pytest.mark.timeout(60)

GPIO_ENV = {
    "BITAGORA_DRAWER_KIND": "gpio",
    "BITAGORA_DRAWER_PIN_FACTORY": "mock",
    "BITAGORA_DRAWER_GPIO_PIN": "GPIO17",
    "BITAGORA_DRAWER_SENSOR_PIN": "GPIO27",
    "BITAGORA_DRAWER_ON_MS": "20",
}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Till, PrinterSimulator]]:
    async with till_with_printer(tmp_path, GPIO_ENV) as rig:
        yield rig


async def enter_pin(pilot: Any, screen: NoSaleScreen, pin: str) -> None:
    for digit in pin:
        await tap(pilot, f"#key-{digit}")
    await tap(pilot, "#key-ok")
    app = pilot.app
    await wait_until(
        pilot, lambda: app.screen is not screen or bool(screen.pad.message), "the PIN check"
    )


async def test_no_sale_opens_the_drawer_on_a_managers_pin(
    rig: tuple[Till, PrinterSimulator],
) -> None:
    till, _sim = rig
    solenoid = till.devices.drawer.pin_factory.pin("GPIO17")  # type: ignore[attr-defined]
    async with kiosk(till, StepClock()) as (app, pilot):  # Ana, a cashier, is logged in
        sell = app.sell
        await tap(pilot, "#no-sale")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, NoSaleScreen) and app.screen.is_mounted,
            "the PIN modal",
        )
        modal = app.screen
        assert isinstance(modal, NoSaleScreen)

        await enter_pin(pilot, modal, "1234")  # Ana's own PIN: refused by the till
        assert app.screen is modal
        assert "Ana is a cashier" in modal.pad.message
        assert await drawer_store.openings(till.conn) == []
        assert [s.state for s in solenoid.states] == [False]  # never pulsed

        await enter_pin(pilot, modal, "9999")  # Marco, a manager
        await wait_until(pilot, lambda: app.screen is sell, "the sell screen again")
        assert sell.notice == "Drawer opened (no sale, approved by Marco)"
        (opening,) = await drawer_store.openings(till.conn)
        assert opening.body["reason"] == "no_sale"
        assert opening.body["staff"]["id"] == "ana"
        assert opening.body["approved_by"]["id"] == "marco"
        assert [s.state for s in solenoid.states] == [False, True, False]


async def test_cancel_leaves_the_drawer_shut(rig: tuple[Till, PrinterSimulator]) -> None:
    till, _sim = rig
    async with kiosk(till, StepClock()) as (app, pilot):
        await tap(pilot, "#no-sale")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, NoSaleScreen) and app.screen.is_mounted,
            "the PIN modal",
        )
        await tap(pilot, "#approval-cancel")
        await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen again")
        assert await drawer_store.openings(till.conn) == []


async def test_drawer_open_too_long_warning_comes_and_goes(
    rig: tuple[Till, PrinterSimulator],
) -> None:
    till, _sim = rig
    till.drawer.watch.warn_after_s = 0.05  # a short bound instead of the configured 30 s
    sensor = till.devices.drawer.pin_factory.pin("GPIO27")  # type: ignore[attr-defined]
    async with kiosk(till, StepClock()) as (app, pilot):
        banner = app.sell.query_one("#drawer-banner", Static)
        assert not banner.display

        sensor.drive_low()  # the drawer opens
        await wait_until(pilot, lambda: banner.has_class("-warning"), "the warning")
        assert banner.display
        assert "open for over 0.05 s" in str(banner.render())

        sensor.drive_high()  # and is pushed shut
        await wait_until(pilot, lambda: not banner.display, "the warning to go")
        assert not banner.has_class("-warning")


async def test_no_sale_is_hidden_without_a_drawer(tmp_path: Path) -> None:
    async with (
        till_with_printer(tmp_path, {"BITAGORA_DRAWER_KIND": "none"}) as (till, _sim),
        kiosk(till, StepClock()) as (app, _pilot),
    ):
        assert not app.sell.query_one("#no-sale").display
