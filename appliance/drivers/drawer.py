"""Cash drawers, chosen by ``[drawer] kind``:

- ``printer``: a drawer wired to the receipt printer's drawer-kick (DK) port, opened with ESC p.
- ``gpio``: a solenoid driven from a GPIO output through a transistor or relay driver, with an
  optional "drawer open" switch on a GPIO input. Built on gpiozero's pluggable pin factory, so
  the same code drives a Raspberry Pi (lgpio, rpigpio, pigpio, native) and gpiozero's own
  ``MockFactory`` (``pin_factory = "mock"``, used by the tests and the demo).
- ``none``: a till without a drawer (card-only counters).

gpiozero blocks (pin setup, the pulse itself) and calls sensor callbacks from its own threads, so
setup and pulses run in worker threads and sensor changes are handed to the event loop with
``loop.call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Protocol

from appliance.drivers.printer import Printer, PrinterError

log = logging.getLogger(__name__)

SENSOR_BOUNCE_S = 0.02  # a drawer switch chatters for a few ms when the drawer slams

SensorListener = Callable[[bool], None]


class DrawerError(Exception):
    """The drawer could not be opened (or set up); the message says what to check."""


class Drawer(Protocol):
    kind: str  # "printer", "gpio" or "none"

    async def start(self) -> None:
        """Set the device up; trouble is kept and reported by ``open`` (never raised here)."""

    async def close(self) -> None: ...

    async def open(self) -> None:
        """Pulse the drawer's solenoid; DrawerError when that could not be done."""

    @property
    def is_open(self) -> bool | None:
        """What the open sensor says; None without a sensor."""

    def set_listener(self, listener: SensorListener | None) -> None:
        """Call ``listener(is_open)`` on the event loop whenever the sensor changes."""


class PrinterKickDrawer:
    """A drawer wired to the printer's drawer-kick port."""

    kind = "printer"

    def __init__(self, printer: Printer, pin: int = 0, on_ms: int = 100, off_ms: int = 100) -> None:
        self.printer = printer
        self.pin = pin
        self.on_ms = on_ms
        self.off_ms = off_ms

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def open(self) -> None:
        try:
            await self.printer.kick_drawer(self.pin, self.on_ms, self.off_ms)
        except (PrinterError, ValueError) as err:
            raise DrawerError(str(err)) from err

    @property
    def is_open(self) -> bool | None:
        return None  # the DK port's sensor pin is not read (yet)

    def set_listener(self, listener: SensorListener | None) -> None:
        return None


class NoDrawer:
    """A till without a drawer (card-only counters)."""

    kind = "none"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def open(self) -> None:
        raise DrawerError("this till has no cash drawer")

    @property
    def is_open(self) -> bool | None:
        return None

    def set_listener(self, listener: SensorListener | None) -> None:
        return None


def make_pin_factory(name: str) -> Any:
    """A gpiozero pin factory by its entry-point name ("mock", "lgpio", ...); None for "" (gpiozero
    then chooses, honouring GPIOZERO_PIN_FACTORY)."""
    if not name:
        return None
    for entry in entry_points(group="gpiozero_pin_factories"):
        if entry.name == name:
            return entry.load()()
    raise DrawerError(f"gpiozero has no pin factory {name!r}")


class GpioDrawer:
    """A solenoid on a GPIO output (through a driver), and optionally an open switch on an input.

    ``active_high``: the output level that energises the driver. ``sensor_pull``: "up", "down" or
    "none" (an external resistor). ``sensor_open_high``: the input level while the drawer is open.
    ``pin_factory``: a gpiozero Factory, or None for gpiozero's default.
    """

    kind = "gpio"

    def __init__(
        self,
        output_pin: str,
        *,
        pulse_ms: int = 100,
        active_high: bool = True,
        sensor_pin: str | None = None,
        sensor_pull: str = "up",
        sensor_open_high: bool = False,
        pin_factory: Any = None,
    ) -> None:
        if not 2 <= pulse_ms <= 2000:
            raise ValueError(f"pulse_ms must be 2..2000, got {pulse_ms}")
        if sensor_pull not in ("up", "down", "none"):
            raise ValueError(f"sensor_pull must be up, down or none, got {sensor_pull!r}")
        self.output_pin = output_pin
        self.pulse_ms = pulse_ms
        self.active_high = active_high
        self.sensor_pin = sensor_pin or None
        self.sensor_pull = sensor_pull
        self.sensor_open_high = sensor_open_high
        self.pin_factory = pin_factory
        self._factory_name: str | None = None
        self.problem: str | None = None  # why the devices could not be set up, if they could not
        self._solenoid: Any = None
        self._sensor: Any = None
        self._is_open: bool | None = None
        self._listener: SensorListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._setup_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._ensure_setup()

    async def close(self) -> None:
        self._listener = None
        await asyncio.to_thread(self._teardown)

    async def _ensure_setup(self) -> bool:
        if self._solenoid is not None:
            return True
        try:
            await asyncio.to_thread(self._setup)
        except Exception as err:  # gpiozero raises many kinds: bad pin, pin in use, no GPIO chip
            self.problem = f"GPIO drawer on {self.output_pin} could not be set up: {err}"
            log.warning("drawer GPIO setup failed", extra={"error": str(err)})
            return False
        self.problem = None
        return True

    def _setup(self) -> None:
        from gpiozero import DigitalInputDevice, DigitalOutputDevice

        with self._setup_lock:
            if self._solenoid is not None:
                return
            if isinstance(self.pin_factory, str):
                name = self.pin_factory
                self.pin_factory = make_pin_factory(name)
                self._factory_name = name  # made here, so closed (and made again) here
            solenoid = DigitalOutputDevice(
                self.output_pin,
                active_high=self.active_high,
                initial_value=False,
                pin_factory=self.pin_factory,
            )
            sensor = None
            if self.sensor_pin is not None:
                pull_up = {"up": True, "down": False, "none": None}[self.sensor_pull]
                try:
                    sensor = DigitalInputDevice(
                        self.sensor_pin,
                        pull_up=pull_up,
                        # Only for an external resistor: then "active" simply means open.
                        active_state=self.sensor_open_high if pull_up is None else None,
                        bounce_time=SENSOR_BOUNCE_S,
                        pin_factory=self.pin_factory,
                    )
                except BaseException:
                    solenoid.close()
                    raise
                sensor.when_activated = self._sensor_changed
                sensor.when_deactivated = self._sensor_changed
            self._solenoid, self._sensor = solenoid, sensor
            self._is_open = self._read_sensor(sensor)

    def _teardown(self) -> None:
        with self._setup_lock:
            for device in (self._sensor, self._solenoid):
                if device is not None:
                    device.close()
            self._solenoid = self._sensor = None
            if self._factory_name is not None:
                self.pin_factory.close()  # a factory we made: release its GPIO chip handle
                self.pin_factory, self._factory_name = self._factory_name, None

    # -- the pulse --------------------------------------------------------------------------

    async def open(self) -> None:
        if not await self._ensure_setup():
            raise DrawerError(self.problem or "GPIO drawer not set up")
        async with self._lock:  # one pulse at a time
            try:
                await asyncio.to_thread(self._pulse)
            except Exception as err:
                raise DrawerError(f"GPIO drawer pulse on {self.output_pin} failed: {err}") from err

    def _pulse(self) -> None:
        solenoid = self._solenoid
        if solenoid is None:
            raise DrawerError("GPIO drawer was closed")
        try:
            solenoid.on()
            # The pulse length is the solenoid's energising time, timed in this worker thread.
            time.sleep(self.pulse_ms / 1000)
        finally:
            solenoid.off()  # never leave a solenoid energised: it overheats

    # -- the sensor -------------------------------------------------------------------------

    @property
    def is_open(self) -> bool | None:
        return self._is_open

    def set_listener(self, listener: SensorListener | None) -> None:
        self._listener = listener

    def _read_sensor(self, sensor: Any) -> bool:
        active = bool(sensor.is_active)
        if self.sensor_pull == "none":
            return active  # active_state was set so that active means open
        active_high = self.sensor_pull == "down"  # gpiozero: a pulled-up input is active low
        return active == (active_high == self.sensor_open_high)

    def _sensor_changed(self, sensor: Any) -> None:
        """gpiozero's callback, on one of its threads (or the caller's, with MockFactory)."""
        is_open = self._read_sensor(sensor)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._deliver, is_open)

    def _deliver(self, is_open: bool) -> None:
        if is_open == self._is_open:
            return
        self._is_open = is_open
        log.info("drawer %s", "opened" if is_open else "closed")
        if self._listener is not None:
            self._listener(is_open)
