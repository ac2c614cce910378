"""Cash drawers. Kind ``printer`` kicks the drawer through the receipt printer (ESC p)."""

from __future__ import annotations

from typing import Protocol

from appliance.config import DrawerSettings
from appliance.drivers.printer import Printer


class Drawer(Protocol):
    async def open(self) -> None: ...


class PrinterKickDrawer:
    """A drawer wired to the printer's drawer-kick port."""

    def __init__(self, printer: Printer, pin: int = 0, on_ms: int = 100, off_ms: int = 100) -> None:
        self.printer = printer
        self.pin = pin
        self.on_ms = on_ms
        self.off_ms = off_ms

    async def open(self) -> None:
        await self.printer.kick_drawer(self.pin, self.on_ms, self.off_ms)


class NoDrawer:
    """A till without a drawer (card-only counters)."""

    async def open(self) -> None:
        return None


def drawer_from_settings(settings: DrawerSettings, printer: Printer) -> Drawer:
    if settings.kind == "none":
        return NoDrawer()
    return PrinterKickDrawer(printer, settings.pin, settings.on_ms, settings.off_ms)
