"""The one bridge from the services' event bus to Textual: every device and payment event the
kiosk cares about becomes a ``BusEvent`` message posted to the app, which hands it on (the app
runs in the same event loop as the services, so posting is all it takes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.message import Message

from appliance.services.devices import (
    BarcodeScanned,
    CardTapped,
    ScannerConnected,
    ScannerDisconnected,
    ScannerStopped,
    ScanRefused,
    TouchPressed,
    TouchReleased,
)
from appliance.services.drawer import DrawerChanged
from appliance.services.events import Event, EventBus, PaymentStatus, UnwatchedPayment
from appliance.services.printing import PrinterChanged

BRIDGED: tuple[type[Event], ...] = (
    PrinterChanged,
    DrawerChanged,
    PaymentStatus,
    UnwatchedPayment,
    BarcodeScanned,
    ScanRefused,
    ScannerConnected,
    ScannerDisconnected,
    ScannerStopped,
    CardTapped,
    TouchPressed,
    TouchReleased,
)


class BusEvent(Message):
    """An event from the services' bus, in the app's message queue."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class Bridge:
    def __init__(self, bus: EventBus, app: App[Any]) -> None:
        self.bus = bus
        self.app = app
        self._unsubscribe: list[Callable[[], None]] = []

    def start(self) -> None:
        for kind in BRIDGED:
            self._unsubscribe.append(self.bus.subscribe(kind, self._post))

    def stop(self) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    def _post(self, event: Event) -> None:
        self.app.post_message(BusEvent(event))
