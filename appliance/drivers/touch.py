"""The touchscreen, read from its evdev device as the kernel writes it: ``struct input_event``.

Textual gets no mouse events on the Linux console, so the kiosk reads the panel itself (docs/
ARCHITECTURE.md, "Touchscreen"). Each record is a ``struct timeval`` (two C longs), a u16 type, a
u16 code and an s32 value: 24 bytes on 64-bit Linux, 16 on 32-bit (``touch.event_size``).

``TouchDecoder`` turns records into touches: single-touch panels (EV_ABS ABS_X/ABS_Y with EV_KEY
BTN_TOUCH) and multi-touch ones (protocol B: ABS_MT_SLOT, ABS_MT_TRACKING_ID, ABS_MT_POSITION_X/Y)
alike, following the first finger only. State changes take effect at SYN_REPORT, the end of a
frame. After SYN_DROPPED (the kernel's buffer overflowed) everything up to the next SYN_REPORT is
skipped, a touch in progress is cancelled, and a finger still down is ignored until it lifts: a
tap is only ever made of events that all arrived.

``Touchscreen.run`` reads the device with a non-blocking descriptor on the event loop
(``loop.add_reader``) and reopens it when it goes away (unplugged; a FIFO's writer closed).
The raw format is read rather than through the python ``evdev`` package: that package asks the
kernel for the device's identity when it opens it, so it cannot read a FIFO, which is what the
tests (and a replay of a recorded session) write real event bytes into.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import stat
import struct
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "Calibration",
    "Press",
    "Release",
    "TouchDecoder",
    "TouchEvent",
    "Touchscreen",
    "absinfo",
    "device_name",
    "event_size",
    "record",
]

log = logging.getLogger(__name__)

EV_SYN, EV_KEY, EV_ABS = 0x00, 0x01, 0x03
EV_MAX = 0x1F
SYN_REPORT, SYN_DROPPED = 0, 3
BTN_TOUCH = 0x14A
ABS_X, ABS_Y = 0x00, 0x01
ABS_MT_SLOT, ABS_MT_POSITION_X, ABS_MT_POSITION_Y = 0x2F, 0x35, 0x36
ABS_MT_TRACKING_ID = 0x39

# struct input_event by its size: timeval's two longs, then type, code, value.
RECORD_FORMATS = {24: "=qqHHi", 16: "=iiHHi"}
READ_RECORDS = 64
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0


def event_size(setting: int) -> int:
    """Bytes per record: the setting, or what the kernel hands a process of this word size."""
    return setting or struct.calcsize("@l") * 2 + 8


def record(type_: int, code: int, value: int, size: int = 24, at: float = 0.0) -> bytes:
    """One input event as the kernel writes it (for replays and tests)."""
    seconds = int(at)
    return struct.pack(RECORD_FORMATS[size], seconds, int((at - seconds) * 1e6), type_, code, value)


@dataclass(frozen=True)
class Press:
    """A finger came down at (``x``, ``y``): fractions of the screen's width and height, 0..1."""

    x: float
    y: float


@dataclass(frozen=True)
class Release:
    """That finger lifted. ``x``, ``y``: where it came down. ``tap`` is False when it moved
    further than the slop (a drag) or when some of its events were lost."""

    x: float
    y: float
    tap: bool


TouchEvent = Press | Release


@dataclass(frozen=True)
class Calibration:
    """Raw panel values to screen fractions: scale each axis from its min..max, swap the axes
    if the panel is turned against its display, then mirror the screen's axes."""

    min_x: int = 0
    max_x: int = 4095
    min_y: int = 0
    max_y: int = 4095
    swap_xy: bool = False
    invert_x: bool = False
    invert_y: bool = False
    slop_pct: float = 3.0

    def screen(self, raw: tuple[int, int]) -> tuple[float, float]:
        x = _fraction(raw[0], self.min_x, self.max_x)
        y = _fraction(raw[1], self.min_y, self.max_y)
        if self.swap_xy:
            x, y = y, x
        return (1 - x if self.invert_x else x), (1 - y if self.invert_y else y)

    def moved(self, start: tuple[int, int], now: tuple[int, int]) -> bool:
        """Has a finger gone from ``start`` to ``now`` further than a tap may wander?"""
        slop = self.slop_pct / 100
        return abs(now[0] - start[0]) > slop * (self.max_x - self.min_x) or abs(
            now[1] - start[1]
        ) > slop * (self.max_y - self.min_y)


def _fraction(value: int, low: int, high: int) -> float:
    return min(max((value - low) / (high - low), 0.0), 1.0)


@dataclass
class _Touch:
    finger: tuple[int, int]  # (slot, tracking id); (0, 0) on a single-touch panel
    raw: tuple[int, int]
    moved: bool = False


class TouchDecoder:
    """Bytes of input events in, ``Press``/``Release`` out; keeps a partial record for the next
    read. ``current_abs``: on a real device, asks the kernel for the axes' values after lost
    events (None on a FIFO, which cannot be asked)."""

    def __init__(
        self,
        calibration: Calibration,
        size: int = 24,
        current_abs: Callable[[], dict[int, int]] | None = None,
    ) -> None:
        self.calibration = calibration
        self.size = size
        self._format = RECORD_FORMATS[size]
        self._current_abs = current_abs
        self._pending = b""
        self._dropping = False
        self._abs = {ABS_X: 0, ABS_Y: 0}
        self._button = False
        self._multitouch = False  # protocol B seen: follow slots, not ABS_X/ABS_Y
        self._slot = 0
        self._slots: dict[int, list[int]] = {}  # slot → [tracking id, x, y]
        self._touch: _Touch | None = None
        self._hold = False  # the followed finger lifted with others down: wait for all up
        self.foreign = 0  # records whose type no input event has: a wrong event_size

    @property
    def partial(self) -> int:
        """Bytes of a record not complete yet."""
        return len(self._pending)

    def feed(self, data: bytes) -> list[TouchEvent]:
        data = self._pending + data
        whole = len(data) - len(data) % self.size
        self._pending = data[whole:]
        out: list[TouchEvent] = []
        for _sec, _usec, type_, code, value in struct.iter_unpack(self._format, data[:whole]):
            self._record(type_, code, value, out)
        return out

    def _record(self, type_: int, code: int, value: int, out: list[TouchEvent]) -> None:
        if type_ == EV_SYN:
            if code == SYN_DROPPED:
                self._dropping = True
            elif code == SYN_REPORT and self._dropping:
                self._dropping = False
                self._resync(out)
            elif code == SYN_REPORT:
                self._frame(out)
        elif type_ > EV_MAX:
            self.foreign += 1
        elif self._dropping:
            return
        elif type_ == EV_KEY and code == BTN_TOUCH:
            self._button = value != 0
        elif type_ == EV_ABS:
            self._axis(code, value)

    def _axis(self, code: int, value: int) -> None:
        if code in (ABS_X, ABS_Y):
            self._abs[code] = value
        elif code == ABS_MT_SLOT:
            self._slot = value
        elif code in (ABS_MT_TRACKING_ID, ABS_MT_POSITION_X, ABS_MT_POSITION_Y):
            slot = self._slots.setdefault(self._slot, [-1, 0, 0])
            if code == ABS_MT_TRACKING_ID:
                self._multitouch = True
                slot[0] = value
            else:
                slot[1 if code == ABS_MT_POSITION_X else 2] = value

    def _fingers(self) -> dict[tuple[int, int], tuple[int, int]]:
        """The fingers down at the end of this frame, each by (slot, tracking id)."""
        if self._multitouch:
            return {(s, v[0]): (v[1], v[2]) for s, v in self._slots.items() if v[0] != -1}
        return {(0, 0): (self._abs[ABS_X], self._abs[ABS_Y])} if self._button else {}

    def _frame(self, out: list[TouchEvent]) -> None:
        fingers = self._fingers()
        touch = self._touch
        if touch is not None:
            if touch.finger in fingers:
                touch.moved = touch.moved or self.calibration.moved(
                    touch.raw, fingers[touch.finger]
                )
                return
            self._end(out, tap=not touch.moved)
            self._hold = bool(fingers)  # a second finger left on the glass is not a new tap
            return
        if not fingers:
            self._hold = False
        elif not self._hold:
            finger = min(fingers)
            self._touch = _Touch(finger, fingers[finger])
            out.append(Press(*self.calibration.screen(fingers[finger])))

    def _end(self, out: list[TouchEvent], tap: bool) -> None:
        touch, self._touch = self._touch, None
        if touch is not None:
            out.append(Release(*self.calibration.screen(touch.raw), tap=tap))

    def _resync(self, out: list[TouchEvent]) -> None:
        """After lost events: cancel the touch, and count every finger as up, so that one still
        down is ignored until a new one comes down (BTN_TOUCH or a tracking id again)."""
        self._end(out, tap=False)
        self._button = False
        self._hold = False
        for slot in self._slots.values():
            slot[0] = -1
        if self._current_abs is not None:
            current = self._current_abs()
            self._slot = current.get(ABS_MT_SLOT, self._slot)
            self._abs.update((axis, current[axis]) for axis in (ABS_X, ABS_Y) if axis in current)


# -- the kernel's evdev ioctls: a real device's axis ranges and current values ----------------

_IOC_READ = 2
ABSINFO = struct.Struct("=6i")  # value, minimum, maximum, fuzz, flat, resolution


def _ioc_read(number: int, size: int) -> int:
    return (_IOC_READ << 30) | (size << 16) | (ord("E") << 8) | number


def absinfo(fd: int) -> dict[int, tuple[int, int, int]]:
    """{axis: (value, minimum, maximum)} for the position axes the device has (EVIOCGBIT,
    EVIOCGABS); OSError on anything that is not an input device."""
    bits = bytearray(8)
    fcntl.ioctl(fd, _ioc_read(0x20 + EV_ABS, len(bits)), bits)  # EVIOCGBIT(EV_ABS)
    has = int.from_bytes(bits, "little")
    found = {}
    for axis in (ABS_X, ABS_Y, ABS_MT_SLOT, ABS_MT_POSITION_X, ABS_MT_POSITION_Y):
        if has >> axis & 1:
            info = bytearray(ABSINFO.size)
            fcntl.ioctl(fd, _ioc_read(0x40 + axis, ABSINFO.size), info)  # EVIOCGABS(axis)
            value, low, high, *_ = ABSINFO.unpack(info)
            found[axis] = (value, low, high)
    return found


def device_name(fd: int) -> str:
    buffer = bytearray(256)
    fcntl.ioctl(fd, _ioc_read(0x06, len(buffer)), buffer)  # EVIOCGNAME
    return buffer.split(b"\0", 1)[0].decode("utf-8", "replace")


class Touchscreen:
    """Reads the evdev node ``path`` for as long as ``run`` runs, handing each touch to a
    callback on the event loop. ``size``: bytes per event record (0: this process's own)."""

    def __init__(self, path: str, calibration: Calibration | None = None, size: int = 0) -> None:
        self.path = path
        self.calibration = calibration if calibration is not None else Calibration()
        self.size = event_size(size)

    async def run(self, on_event: Callable[[TouchEvent], None]) -> None:
        retry_s = RETRY_MIN_S
        trouble = ""
        while True:
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as err:
                if str(err) != trouble:  # said once per outage, not at every retry
                    trouble = str(err)
                    log.warning("touchscreen %s: %s; retrying", self.path, err.strerror)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            trouble, retry_s = "", RETRY_MIN_S
            try:
                await self._read(fd, on_event)
            except OSError as err:  # ENODEV: unplugged
                log.warning("touchscreen %s: %s; reopening", self.path, err.strerror)
                await asyncio.sleep(retry_s)
            finally:
                os.close(fd)

    async def _read(self, fd: int, on_event: Callable[[TouchEvent], None]) -> None:
        """Until end of file (a FIFO's writer went away; a device never ends)."""
        device = stat.S_ISCHR(os.fstat(fd).st_mode)
        decoder = TouchDecoder(
            self.calibration, self.size, (lambda: _current_abs(fd)) if device else None
        )
        loop = asyncio.get_running_loop()
        readable = asyncio.Event()
        loop.add_reader(fd, readable.set)
        warned = False
        try:
            while True:
                await readable.wait()
                readable.clear()
                while True:
                    try:
                        data = os.read(fd, READ_RECORDS * self.size)
                    except BlockingIOError:
                        break
                    if not data:
                        if decoder.partial:
                            log.warning(
                                "touchscreen %s: dropped %d bytes of an incomplete event",
                                self.path,
                                decoder.partial,
                            )
                        return
                    for event in decoder.feed(data):
                        on_event(event)
                    if decoder.foreign and not warned:
                        warned = True
                        log.error(
                            "touchscreen %s sends records that are not input events: is "
                            "touch.event_size (%d bytes) right for this system?",
                            self.path,
                            self.size,
                        )
        finally:
            loop.remove_reader(fd)


def _current_abs(fd: int) -> dict[int, int]:
    try:
        return {axis: info[0] for axis, info in absinfo(fd).items()}
    except OSError:
        return {}
