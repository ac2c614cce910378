"""A touchscreen for tests: a FIFO that the kiosk's touch driver reads as its evdev device, and a
panel that writes the kernel's ``struct input_event`` records into it, finger by finger.

Positions are given in the panel's pixels and turned into raw controller values by the inverse
of the calibration, so that a test says where a finger is on the glass, as a person would."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot
from textual.widget import Widget

from appliance.drivers.touch import (
    ABS_MT_POSITION_X,
    ABS_MT_POSITION_Y,
    ABS_MT_SLOT,
    ABS_MT_TRACKING_ID,
    ABS_X,
    ABS_Y,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    SYN_DROPPED,
    SYN_REPORT,
    Calibration,
    record,
)
from appliance.tui.app import KioskApp
from bitagora_devtools.script import wait_until

OPEN_TIMEOUT_S = 20.0
RAW = Calibration(0, 4095, 0, 4095)  # a panel reporting 12-bit values, the right way round
FONT = (8, 16)  # the console font Raspberry Pi OS ships (Lat15-Fixed16, 8x16 pixels a cell)


def console_cells(width_px: int, height_px: int) -> tuple[int, int]:
    """The Linux console's size in cells on a panel of this many pixels: whole cells only."""
    return width_px // FONT[0], height_px // FONT[1]


@dataclass
class Panel:
    """The glass: ``width_px`` x ``height_px`` as the display shows it, and the calibration the
    kiosk is configured with (which says how the controller's raw axes lie under it)."""

    fd: int
    width_px: int
    height_px: int
    calibration: Calibration
    size: int = 24
    multitouch: bool = False  # taps as a protocol-B panel sends them (slots, tracking ids)
    tracking_id: int = 100

    def raw(self, x_px: float, y_px: float) -> tuple[int, int]:
        """The controller's values for a finger at this pixel (the calibration, inverted)."""
        c = self.calibration
        fx, fy = x_px / self.width_px, y_px / self.height_px
        if c.invert_x:
            fx = 1 - fx
        if c.invert_y:
            fy = 1 - fy
        if c.swap_xy:
            fx, fy = fy, fx
        return (
            round(c.min_x + fx * (c.max_x - c.min_x)),
            round(c.min_y + fy * (c.max_y - c.min_y)),
        )

    def at_cell(self, col: int, row: int) -> tuple[float, float]:
        """The pixel in the middle of a console cell."""
        return (col + 0.5) * FONT[0], (row + 0.5) * FONT[1]

    def hang_up(self) -> None:
        """The writer goes away: the reader sees end of file."""
        os.close(self.fd)
        self.fd = -1

    def write(self, *events: tuple[int, int, int]) -> None:
        os.write(self.fd, b"".join(record(t, c, v, self.size) for t, c, v in events))

    def down(self, x_px: float, y_px: float) -> None:
        x, y = self.raw(x_px, y_px)
        self.write((EV_KEY, BTN_TOUCH, 1), (EV_ABS, ABS_X, x), (EV_ABS, ABS_Y, y), SYN)

    def move(self, x_px: float, y_px: float) -> None:
        x, y = self.raw(x_px, y_px)
        self.write((EV_ABS, ABS_X, x), (EV_ABS, ABS_Y, y), SYN)

    def up(self) -> None:
        self.write((EV_KEY, BTN_TOUCH, 0), SYN)

    def tap(self, x_px: float, y_px: float) -> None:
        if self.multitouch:
            self.tracking_id += 1
            self.finger_down(0, self.tracking_id, x_px, y_px)
            self.finger_up(0, last=True)
        else:
            self.down(x_px, y_px)
            self.up()

    def finger_down(self, slot: int, tracking_id: int, x_px: float, y_px: float) -> None:
        """Multi-touch (protocol B): a finger in ``slot``; the first one also sets BTN_TOUCH
        and the single-touch axes, as the kernel's pointer emulation does."""
        x, y = self.raw(x_px, y_px)
        self.write(
            (EV_ABS, ABS_MT_SLOT, slot),
            (EV_ABS, ABS_MT_TRACKING_ID, tracking_id),
            (EV_ABS, ABS_MT_POSITION_X, x),
            (EV_ABS, ABS_MT_POSITION_Y, y),
            (EV_KEY, BTN_TOUCH, 1),
            (EV_ABS, ABS_X, x),
            (EV_ABS, ABS_Y, y),
            SYN,
        )

    def finger_move(self, slot: int, x_px: float, y_px: float) -> None:
        x, y = self.raw(x_px, y_px)
        self.write(
            (EV_ABS, ABS_MT_SLOT, slot),
            (EV_ABS, ABS_MT_POSITION_X, x),
            (EV_ABS, ABS_MT_POSITION_Y, y),
            SYN,
        )

    def finger_up(self, slot: int, last: bool) -> None:
        events = [(EV_ABS, ABS_MT_SLOT, slot), (EV_ABS, ABS_MT_TRACKING_ID, -1)]
        self.write(*events, *([(EV_KEY, BTN_TOUCH, 0)] if last else []), SYN)

    def dropped(self) -> None:
        """The kernel's buffer overflowed: SYN_DROPPED, whatever was left of the frame, and
        the SYN_REPORT that ends the loss."""
        self.write((EV_SYN, SYN_DROPPED, 0), (EV_ABS, ABS_X, 1), SYN)


SYN = (EV_SYN, SYN_REPORT, 0)


def touch_env(fifo: Path, calibration: Calibration, **more: str) -> dict[str, str]:
    """BITAGORA_TOUCH_* settings for a kiosk that reads ``fifo`` with ``calibration``."""
    c = calibration
    env = {
        "BITAGORA_TOUCH_DEVICE": str(fifo),
        "BITAGORA_TOUCH_MIN_X": str(c.min_x),
        "BITAGORA_TOUCH_MAX_X": str(c.max_x),
        "BITAGORA_TOUCH_MIN_Y": str(c.min_y),
        "BITAGORA_TOUCH_MAX_Y": str(c.max_y),
        "BITAGORA_TOUCH_SWAP_XY": str(c.swap_xy).lower(),
        "BITAGORA_TOUCH_INVERT_X": str(c.invert_x).lower(),
        "BITAGORA_TOUCH_INVERT_Y": str(c.invert_y).lower(),
    }
    return env | {f"BITAGORA_TOUCH_{k.upper()}": v for k, v in more.items()}


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


@asynccontextmanager
async def panel(
    fifo: Path, width_px: int, height_px: int, calibration: Calibration, size: int = 24
) -> AsyncIterator[Panel]:
    """The writing end of the FIFO, once the driver has opened the reading end (opening a FIFO
    for writing waits for a reader: the kernel's own rendezvous)."""
    try:
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            fd = await asyncio.to_thread(os.open, fifo, os.O_WRONLY)
    except TimeoutError:
        # Nobody opened it for reading: open it ourselves so that the waiting thread returns.
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        raise AssertionError(f"the touch driver never opened {fifo}") from None
    glass = Panel(fd, width_px, height_px, calibration, size)
    try:
        yield glass
    finally:
        if glass.fd >= 0:
            os.close(glass.fd)


def centre(widget: Widget) -> tuple[int, int]:
    region = widget.region
    return region.x + region.width // 2, region.y + region.height // 2


async def touch(pilot: Pilot[None], glass: Panel, widget: Widget) -> None:
    """A finger on ``widget``'s middle and off again; returns once the tap reached the app."""
    await touch_cell(pilot, glass, *centre(widget))


async def touch_cell(pilot: Pilot[None], glass: Panel, col: int, row: int) -> None:
    app = pilot.app
    assert isinstance(app, KioskApp) and app.touch is not None
    taps = app.touch.taps
    glass.tap(*glass.at_cell(col, row))
    await wait_until(pilot, lambda: app.touch is not None and app.touch.taps > taps, "the tap")
