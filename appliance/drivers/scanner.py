"""Barcode scanners that are not keyboards: serial (RS-232, or USB in CDC-ACM / USB-UART mode).

A serial scanner sends each code as ASCII ended by CR, LF or CR LF. ``SerialScanner.run`` opens
the port with pyserial, reads it off the event loop (``asyncio.to_thread``; every read returns
within ``read_timeout_s`` so cancelling never waits on a blocked thread for long), splits lines
with a ``LineFramer`` and hands each event to a callback on the event loop:

- ``Scanned(code)``: a line of printable ASCII, stripped.
- ``Refused(reason)``: a line that cannot be a code (control bytes, non-ASCII: usually a wrong
  baud rate) or one longer than ``max_length`` without an end of line; it is dropped whole.
- ``Connected(port)`` / ``Disconnected(port, reason, retry_in_s)``: the port opened, or it failed
  (unplugged: pyserial raises ``SerialException``). The scanner retries with a doubling backoff
  (``backoff_min_s`` .. ``backoff_max_s``), reset once the port opens again.

Keyboard-wedge scanners need no driver: the sell screen tells their bursts from typing
(``appliance.tui.scan``). Which kind a till has is ``[scanner] kind`` in the settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import serial

__all__ = [
    "MAX_CODE_LENGTH",
    "Connected",
    "Disconnected",
    "LineFramer",
    "Refused",
    "Scanned",
    "ScannerEvent",
    "SerialScanner",
]

log = logging.getLogger(__name__)

# GS1-128 and GS1 DataMatrix element strings stay well below this; anything longer is noise.
MAX_CODE_LENGTH = 128
TERMINATORS = b"\r\n"


@dataclass(frozen=True)
class Scanned:
    code: str


@dataclass(frozen=True)
class Refused:
    reason: str


@dataclass(frozen=True)
class Connected:
    port: str


@dataclass(frozen=True)
class Disconnected:
    port: str
    reason: str
    retry_in_s: float


ScannerEvent = Scanned | Refused | Connected | Disconnected


class LineFramer:
    """Bytes in, scanner events out: CR/LF-terminated lines, garbage and over-long lines refused."""

    def __init__(self, max_length: int = MAX_CODE_LENGTH) -> None:
        self.max_length = max_length
        self._line = bytearray()
        self._overflowed = False

    def feed(self, data: bytes) -> list[Scanned | Refused]:
        events: list[Scanned | Refused] = []
        for byte in data:
            if byte in TERMINATORS:
                event = self._end_line()
                if event is not None:
                    events.append(event)
            elif self._overflowed:
                continue  # the rest of an over-long line, dropped up to its end
            elif len(self._line) >= self.max_length:
                self._overflowed = True
                self._line.clear()
                events.append(
                    Refused(
                        f"scanner sent more than {self.max_length} characters without an end of "
                        "line; ignored"
                    )
                )
            else:
                self._line.append(byte)
        return events

    def reset(self) -> None:
        """Forget a partial line (the port closed in the middle of one)."""
        self._line.clear()
        self._overflowed = False

    def _end_line(self) -> Scanned | Refused | None:
        line = bytes(self._line)
        overflowed = self._overflowed
        self.reset()
        if overflowed:
            return None  # already refused when it grew too long
        text = line.strip(b" \t")
        if not text:
            return None  # the LF of a CR LF, or a blank line
        if any(b < 0x20 or b > 0x7E for b in text):
            shown = text[:24].decode("ascii", "backslashreplace")
            return Refused(
                f"scanner sent unreadable data ({shown!r}); check its baud rate and that it "
                "sends plain ASCII"
            )
        return Scanned(text.decode("ascii"))


class SerialScanner:
    """Reads codes from a serial port until cancelled; reconnects when the port goes away."""

    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        *,
        max_length: int = MAX_CODE_LENGTH,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 10.0,
        read_timeout_s: float = 0.2,
    ) -> None:
        if not 0 < backoff_min_s <= backoff_max_s:
            raise ValueError("scanner backoff needs 0 < backoff_min_s <= backoff_max_s")
        self.port = port
        self.baudrate = baudrate
        self.max_length = max_length
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.read_timeout_s = read_timeout_s

    async def run(self, emit: Callable[[ScannerEvent], None]) -> None:
        """Open, read, deliver; on failure wait and reopen. Returns only by cancellation."""
        delay = self.backoff_min_s
        framer = LineFramer(self.max_length)
        while True:
            try:
                port = await self._open_port()
            except serial.SerialException as err:
                reason = f"cannot open {self.port}: {_reason(err)}"
            else:
                delay = self.backoff_min_s
                framer.reset()
                log.info("scanner connected", extra={"port": self.port})
                emit(Connected(self.port))
                try:
                    await self._read_until_error(port, framer, emit)
                except serial.SerialException as err:
                    reason = f"{self.port} stopped answering: {_reason(err)}"
                finally:
                    port.close()
            log.warning("scanner unavailable", extra={"port": self.port, "reason": reason})
            emit(Disconnected(self.port, reason, delay))
            await asyncio.sleep(delay)
            delay = min(self.backoff_max_s, delay * 2)

    async def _open_port(self) -> serial.Serial:
        opening = asyncio.ensure_future(asyncio.to_thread(self._open))
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            # Cancelled while the thread was opening: close what it opened, or it leaks.
            await asyncio.wait([opening])
            if not opening.cancelled() and opening.exception() is None:
                opening.result().close()
            raise

    def _open(self) -> serial.Serial:
        # exclusive: a second reader of the same scanner would steal half of its codes.
        return serial.Serial(self.port, self.baudrate, timeout=self.read_timeout_s, exclusive=True)

    async def _read_until_error(
        self, port: serial.Serial, framer: LineFramer, emit: Callable[[ScannerEvent], None]
    ) -> None:
        while True:
            read = asyncio.ensure_future(asyncio.to_thread(_read_some, port))
            try:
                data = await asyncio.shield(read)
            except asyncio.CancelledError:
                # Wake the reading thread now rather than at its timeout, and let it finish
                # before the port is closed under it.
                with contextlib.suppress(Exception):
                    port.cancel_read()
                await asyncio.wait([read], timeout=self.read_timeout_s * 5)
                if read.done() and not read.cancelled():
                    read.exception()  # retrieved: a read failing as we stop is no news
                raise
            for event in framer.feed(data):
                if isinstance(event, Refused):
                    log.warning("scanner data refused", extra={"reason": event.reason})
                emit(event)


def _read_some(port: serial.Serial) -> bytes:
    """Whatever has arrived, waiting at most the port's timeout for the first byte."""
    try:
        data: bytes = port.read(max(1, port.in_waiting))
    except OSError as err:  # in_waiting's ioctl on a vanished device
        raise serial.SerialException(str(err)) from err
    return data


def _reason(err: serial.SerialException) -> str:
    return str(err) or type(err).__name__
