"""Input devices the kiosk reads (serial scanner, NFC reader, touchscreen) and the panel's
backlight, for the UI: readings are published on the event bus as the events below, so the UI
never holds a driver. ``DeviceInputs.start`` begins reading (the kiosk app, at mount); ``close``
cancels and awaits every reader."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.drivers.backlight import BacklightError
from appliance.services.events import Event, EventBus

if TYPE_CHECKING:
    from appliance.drivers.backlight import Backlight
    from appliance.drivers.nfc import NfcReader
    from appliance.drivers.scanner import ScannerEvent, SerialScanner
    from appliance.drivers.touch import TouchEvent, Touchscreen

__all__ = [
    "BacklightError",
    "BarcodeScanned",
    "CardTapped",
    "DeviceInputs",
    "ScanRefused",
    "ScannerConnected",
    "ScannerDisconnected",
    "ScannerStopped",
    "ScreenLight",
    "TouchPressed",
    "TouchReleased",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BarcodeScanned(Event):
    code: str


@dataclass(frozen=True)
class ScanRefused(Event):
    reason: str


@dataclass(frozen=True)
class ScannerConnected(Event):
    pass


@dataclass(frozen=True)
class ScannerDisconnected(Event):
    reason: str


@dataclass(frozen=True)
class ScannerStopped(Event):
    """The scanner's reader ended on a bug: scans no longer arrive."""

    error: str


@dataclass(frozen=True)
class CardTapped(Event):
    """A card on the NFC reader: its UID, and the URI it carries (a Bolt Card's LNURL)."""

    uid: str
    uri: str | None = None


@dataclass(frozen=True)
class TouchPressed(Event):
    """A finger came down at (``x``, ``y``): fractions of the screen, 0..1."""

    x: float
    y: float


@dataclass(frozen=True)
class TouchReleased(Event):
    """That finger lifted; ``tap`` False for a drag or lost events."""

    x: float
    y: float
    tap: bool


class DeviceInputs:
    def __init__(
        self,
        bus: EventBus,
        scanner: SerialScanner | None,
        nfc: NfcReader | None,
        touchscreen: Touchscreen | None,
    ) -> None:
        self.bus = bus
        self.scanner = scanner
        self.nfc = nfc
        self.touchscreen = touchscreen
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def readers(self) -> dict[str, asyncio.Task[None]]:
        """The readers running now, by name ("serial scanner", "nfc", "touchscreen")."""
        return {task.get_name(): task for task in self._tasks}

    def start(self) -> None:
        if self._tasks:
            return
        if self.scanner is not None:
            self._spawn(self._read_scanner(self.scanner), "serial scanner")
        if self.nfc is not None:
            self._spawn(self._read_nfc(self.nfc), "nfc")
        if self.touchscreen is not None:
            self._spawn(self._read_touch(self.touchscreen), "touchscreen")

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    async def _read_scanner(self, scanner: SerialScanner) -> None:
        try:
            await scanner.run(self._scanned)
        except Exception as err:  # a bug in the driver must not take the till down
            log.exception("the scanner reader stopped")
            self.bus.publish(ScannerStopped(str(err)))

    def _scanned(self, event: ScannerEvent) -> None:
        from appliance.drivers.scanner import Connected, Disconnected, Refused, Scanned

        if isinstance(event, Scanned):
            self.bus.publish(BarcodeScanned(event.code))
        elif isinstance(event, Refused):
            self.bus.publish(ScanRefused(event.reason))
        elif isinstance(event, Connected):
            self.bus.publish(ScannerConnected())
        elif isinstance(event, Disconnected):
            self.bus.publish(ScannerDisconnected(event.reason))

    async def _read_nfc(self, nfc: NfcReader) -> None:
        """Poll the reader for as long as the inputs run (reader trouble is retried inside
        ``taps()``); cancelling closes the port."""
        try:
            async for tap in nfc.taps():
                self.bus.publish(CardTapped(tap.uid, tap.uri))
        except Exception:
            log.exception("NFC reader loop stopped")

    async def _read_touch(self, touchscreen: Touchscreen) -> None:
        try:
            await touchscreen.run(self._touched)
        except Exception:  # a bug here must not take the till down: keys and scans still work
            log.exception("the touchscreen reader stopped")

    def _touched(self, event: TouchEvent) -> None:
        from appliance.drivers.touch import Press

        if isinstance(event, Press):
            self.bus.publish(TouchPressed(event.x, event.y))
        else:
            self.bus.publish(TouchReleased(event.x, event.y, event.tap))


class ScreenLight:
    """The panel's backlight, when ``touch.backlight`` names it: ``off``/``on`` raise
    ``BacklightError`` when the file cannot be written."""

    def __init__(self, backlight: Backlight | None) -> None:
        self._backlight = backlight

    @property
    def present(self) -> bool:
        return self._backlight is not None

    def off(self) -> None:
        if self._backlight is not None:
            self._backlight.off()

    def on(self) -> None:
        if self._backlight is not None:
            self._backlight.on()
