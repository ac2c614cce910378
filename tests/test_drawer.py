"""The GPIO cash drawer on gpiozero's own MockFactory (the pulse on the output pin, the open
sensor), the open-too-long watch, and the drawer settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from appliance.bootstrap import drawer_from_settings
from appliance.config import ConfigError, load_settings
from appliance.core.drawer import DrawerBodyError, drawer_open_body
from appliance.drivers.drawer import DrawerError, GpioDrawer
from appliance.drivers.printer import EscposNetworkPrinter
from appliance.services.drawer import DrawerChanged, DrawerState, DrawerWatch

pytestmark = pytest.mark.timeout(30)

BOUND_S = 5.0  # every wait below is for an event, bounded by this


def output_pin(drawer: GpioDrawer) -> Any:
    return drawer.pin_factory.pin(drawer.output_pin)


@pytest.fixture
async def drawer() -> AsyncIterator[GpioDrawer]:
    """A solenoid on GPIO17 and a switch to ground on GPIO27 (pull-up: low means open)."""
    gpio = GpioDrawer("GPIO17", pulse_ms=100, sensor_pin="GPIO27", pin_factory="mock")
    await gpio.start()
    assert gpio.problem is None
    yield gpio
    await gpio.close()


async def next_state(queue: asyncio.Queue[DrawerState]) -> DrawerState:
    async with asyncio.timeout(BOUND_S):
        return await queue.get()


def watch_with_queue(watch: DrawerWatch) -> asyncio.Queue[DrawerState]:
    queue: asyncio.Queue[DrawerState] = asyncio.Queue()
    watch.bus.subscribe(DrawerChanged, lambda event: queue.put_nowait(event.state))
    return queue


async def test_pulse_energises_the_output_for_on_ms(drawer: GpioDrawer) -> None:
    pin = output_pin(drawer)
    assert pin.function == "output" and pin.state is False  # at rest: not energised
    await drawer.open()
    assert [s.state for s in pin.states] == [False, True, False]
    on_for = pin.states[2].timestamp  # seconds from switching on to switching off
    assert 0.1 <= on_for < 0.6
    await drawer.open()
    assert [s.state for s in pin.states] == [False, True, False, True, False]


async def test_active_low_driver_rests_high_and_pulses_low() -> None:
    gpio = GpioDrawer("GPIO22", pulse_ms=20, active_high=False, pin_factory="mock")
    await gpio.start()
    try:
        pin = output_pin(gpio)
        assert pin.state is True
        pin.clear_states()
        await gpio.open()
        assert [s.state for s in pin.states] == [True, False, True]
        assert gpio.is_open is None  # no sensor configured
    finally:
        await gpio.close()


async def test_sensor_follows_the_switch(drawer: GpioDrawer) -> None:
    sensor = drawer.pin_factory.pin("GPIO27")
    assert sensor.pull == "up" and drawer.is_open is False
    changes: asyncio.Queue[bool] = asyncio.Queue()
    drawer.set_listener(changes.put_nowait)

    sensor.drive_low()  # the switch closes to ground: open
    async with asyncio.timeout(BOUND_S):
        assert await changes.get() is True
    assert drawer.is_open is True
    sensor.drive_high()
    async with asyncio.timeout(BOUND_S):
        assert await changes.get() is False
    assert drawer.is_open is False


@pytest.mark.parametrize(
    ("pull", "open_high", "closed_level"),
    [("down", True, "low"), ("down", False, "high"), ("none", True, "low"), ("up", True, "low")],
)
async def test_sensor_polarity_is_configurable(
    pull: str, open_high: bool, closed_level: str
) -> None:
    gpio = GpioDrawer(
        "GPIO17",
        sensor_pin="GPIO27",
        sensor_pull=pull,
        sensor_open_high=open_high,
        pin_factory="mock",
    )
    await gpio.start()
    try:
        sensor = gpio.pin_factory.pin("GPIO27")
        changes: asyncio.Queue[bool] = asyncio.Queue()
        gpio.set_listener(changes.put_nowait)
        # Put the line at the closed level (it may rest there already), then open it.
        (sensor.drive_low if closed_level == "low" else sensor.drive_high)()
        (sensor.drive_high if closed_level == "low" else sensor.drive_low)()
        seen = []
        async with asyncio.timeout(BOUND_S):
            while not seen or seen[-1] is not True:
                seen.append(await changes.get())
        assert seen in ([True], [False, True])  # closed first only if it did not rest closed
        assert gpio.is_open is True
    finally:
        await gpio.close()


async def test_a_pin_that_does_not_exist_is_a_drawer_error_not_a_crash() -> None:
    gpio = GpioDrawer("GPIO99", pin_factory="mock")
    await gpio.start()  # never raises: the kiosk must start without its drawer
    assert gpio.problem is not None and "GPIO99" in gpio.problem
    with pytest.raises(DrawerError, match="GPIO99"):
        await gpio.open()
    await gpio.close()


async def test_an_unknown_pin_factory_is_reported_at_opening() -> None:
    gpio = GpioDrawer("GPIO17", pin_factory="nosuchfactory")
    await gpio.start()
    with pytest.raises(DrawerError, match="nosuchfactory"):
        await gpio.open()
    await gpio.close()


async def test_watch_warns_when_open_too_long_and_clears_on_close(drawer: GpioDrawer) -> None:
    watch = DrawerWatch(drawer, warn_after_s=0.05)
    states = watch_with_queue(watch)
    watch.start()
    assert await next_state(states) == DrawerState(False)
    sensor = drawer.pin_factory.pin("GPIO27")

    sensor.drive_low()
    opened = await next_state(states)
    assert opened.open is True and not opened.warning
    warned = await next_state(states)  # the watch's own timer, after warn_after_s
    assert warned.open is True and warned.warning
    assert warned.status() == {"open": True, "open_too_long": True}

    sensor.drive_high()
    assert await next_state(states) == DrawerState(False)
    assert watch.state.status() == {"open": False, "open_too_long": False}
    watch.close()


async def test_watch_timing_with_an_injected_clock(drawer: GpioDrawer) -> None:
    now = [1000.0]
    watch = DrawerWatch(drawer, warn_after_s=30, clock=lambda: now[0])
    states = watch_with_queue(watch)
    watch.start()
    await next_state(states)
    drawer.pin_factory.pin("GPIO27").drive_low()
    assert (await next_state(states)).open is True

    now[0] += 29.5
    assert watch.check().warning is False  # not yet: the watch waits for the remaining 0.5 s
    assert watch.open_for_s() == pytest.approx(29.5)
    now[0] += 1
    assert watch.check().warning is True
    assert (await next_state(states)).warning is True
    watch.close()


async def test_watch_never_warns_with_zero(drawer: GpioDrawer) -> None:
    now = [0.0]
    watch = DrawerWatch(drawer, warn_after_s=0, clock=lambda: now[0])
    watch.start()
    drawer.pin_factory.pin("GPIO27").drive_low()
    states = watch_with_queue(watch)
    assert (await next_state(states)).open is True
    now[0] += 10_000
    assert watch.check().warning is False
    watch.close()


def test_drawer_settings_choose_the_driver(tmp_path: Path) -> None:
    printer = EscposNetworkPrinter("127.0.0.1")
    env = {
        "BITAGORA_DRAWER_KIND": "gpio",
        "BITAGORA_DRAWER_GPIO_PIN": "GPIO5",
        "BITAGORA_DRAWER_SENSOR_PIN": "GPIO6",
        "BITAGORA_DRAWER_SENSOR_PULL": "down",
        "BITAGORA_DRAWER_SENSOR_OPEN_LEVEL": "high",
        "BITAGORA_DRAWER_ACTIVE_LEVEL": "low",
        "BITAGORA_DRAWER_ON_MS": "150",
        "BITAGORA_DRAWER_PIN_FACTORY": "mock",
    }
    gpio = drawer_from_settings(load_settings(tmp_path, env=env).drawer, printer)
    assert isinstance(gpio, GpioDrawer)
    assert (gpio.output_pin, gpio.sensor_pin, gpio.sensor_pull) == ("GPIO5", "GPIO6", "down")
    assert (gpio.active_high, gpio.sensor_open_high, gpio.pulse_ms) == (False, True, 150)
    assert gpio.pin_factory == "mock"
    assert drawer_from_settings(load_settings(tmp_path, env={}).drawer, printer).kind == "printer"
    none = load_settings(tmp_path, env={"BITAGORA_DRAWER_KIND": "none"}).drawer
    assert drawer_from_settings(none, printer).kind == "none"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("KIND", "usb", "drawer.kind"),
        ("ACTIVE_LEVEL", "up", "drawer.active_level"),
        ("SENSOR_PULL", "sideways", "drawer.sensor_pull"),
        ("SENSOR_OPEN_LEVEL", "1", "drawer.sensor_open_level"),
        ("PIN_FACTORY", "rpi", "drawer.pin_factory"),
        ("OPEN_WARN_S", "-1", "drawer.open_warn_s"),
        ("SENSOR_PIN", "GPIO17", "drawer.sensor_pin"),
    ],
)
def test_bad_drawer_settings_name_the_key(
    tmp_path: Path, key: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path, env={f"BITAGORA_DRAWER_{key}": value})


def test_drawer_open_bodies() -> None:
    assert drawer_open_body("sale", "ana", "Ana", sale_id="s-1") == {
        "reason": "sale",
        "staff": {"id": "ana", "name": "Ana"},
        "sale_id": "s-1",
    }
    assert drawer_open_body("no_sale", "ana", "Ana", approved_by=("marco", "Marco")) == {
        "reason": "no_sale",
        "staff": {"id": "ana", "name": "Ana"},
        "approved_by": {"id": "marco", "name": "Marco"},
    }
    assert drawer_open_body("count", "marco", "Marco")["reason"] == "count"
    assert drawer_open_body("refund", "ana", "Ana", refund_id="r-1")["refund_id"] == "r-1"
    for bad in (
        lambda: drawer_open_body("lunch", "ana", "Ana"),
        lambda: drawer_open_body("sale", "ana", "Ana"),
        lambda: drawer_open_body("no_sale", "ana", "Ana"),
        lambda: drawer_open_body("no_sale", "ana", "Ana", sale_id="s-1", approved_by=("m", "M")),
        lambda: drawer_open_body("refund", "ana", "Ana"),
    ):
        with pytest.raises(DrawerBodyError):
            bad()
