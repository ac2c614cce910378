"""NFC readers: an ``NfcReader`` protocol and a PN532 on a serial line (HSU, UART or USB-UART).

``Pn532Reader`` speaks the PN532 host protocol (NXP UM0701-02) through pyserial. pyserial blocks,
so every exchange runs in a worker thread under one lock; the event loop never waits on the wire.
The port is opened lazily and the chip woken up (0x55 burst + SAMConfiguration) on first use, so
``await reader.firmware_version()`` alone is a complete self-test.

What can go wrong, and what the caller sees (all ``NfcError``):
- the port is missing or vanishes (reader unplugged): ``NfcUnavailable``; the port is closed and
  the next call tries to open it again;
- no ACK or no answer in time: ``NfcTimeout`` (after one resend of the command);
- garbage on the line is skipped; a bad data checksum is answered with NACK (the PN532 resends)
  up to twice, then ``NfcFrameError``; a frame cut short, or an extended frame: ``NfcFrameError``;
- the error frame, or a card-level error in InDataExchange: ``NfcCommandError``.

``taps()`` is the polling loop the kiosk runs: it yields a ``CardTap`` each time a card arrives in
the field, and survives every error above by closing the port and opening it again with a backoff.
"""

from __future__ import annotations

import asyncio
import logging
import termios
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import serial

from appliance.drivers import pn532_frames as pf
from appliance.drivers.ndef import (
    CC_PAGE,
    NdefError,
    NdefRecord,
    data_area_size,
    find_ndef_tlv,
    parse_message,
)
from appliance.drivers.pn532_frames import FirmwareVersion

__all__ = [
    "CardTap",
    "FirmwareVersion",
    "NfcCommandError",
    "NfcError",
    "NfcFrameError",
    "NfcReader",
    "NfcTimeout",
    "NfcUnavailable",
    "NoNfcReader",
    "Pn532Reader",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

NTAG_READ = 0x30  # READ: 4 pages (16 bytes) from a page address
READ_CHUNK_S = 0.05  # how long one blocking read may wait; bounds how late close() is noticed
COMMAND_ATTEMPTS = 2  # a command without ACK (or NACKed) is sent once more
NACK_RETRIES = 2  # times we ask the PN532 to resend an answer whose checksum failed
# MxRtyPassiveActivation: how often InListPassiveTarget retries before answering "no target"
# (0xFF, the chip's default, waits for a card forever and would hold the line).
PASSIVE_RETRIES = 0x02

# InDataExchange status byte, bits 0-5 (UM0701-02 table "Error code list"), the common ones.
CARD_ERRORS = {
    0x01: "the card did not answer (removed?)",
    0x02: "CRC error from the card",
    0x03: "parity error from the card",
    0x13: "data format error from the card",
    0x14: "authentication error",
    0x27: "command not acceptable now",
    0x29: "the card was released",
}


class NfcError(Exception):
    """The NFC reader could not do what was asked; the message says what to check."""


class NfcUnavailable(NfcError):
    """No reader: not configured, the serial port cannot be opened, or it went away."""


class NfcTimeout(NfcError):
    """The reader did not acknowledge or answer in time."""


class NfcFrameError(NfcError):
    """What came back is not a usable frame (checksum, truncated, unsupported)."""


class NfcCommandError(NfcError):
    """The PN532 or the card reported an error for a well-formed command."""


@dataclass(frozen=True)
class CardTap:
    """A card in the reader's field: its UID (upper-case hex) and what its NDEF area says."""

    uid: str
    atqa: int
    sak: int
    records: tuple[NdefRecord, ...] = ()
    ndef_error: str | None = None  # set when the NDEF area could not be read or parsed

    @property
    def uri(self) -> str | None:
        """The first URI record (a Bolt Card's ``lnurlw://…``), if any."""
        return next((r.uri for r in self.records if r.uri is not None), None)

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.records if r.text is not None]

    @property
    def uid_tail(self) -> str:
        """The last 4 hex digits: enough to tell cards apart in a log, not to clone one."""
        return "…" + self.uid[-4:]


class NfcReader(Protocol):
    async def firmware_version(self) -> FirmwareVersion: ...

    async def read_card(self) -> CardTap | None: ...

    def taps(
        self, on_error: Callable[[NfcError], None] | None = None
    ) -> AsyncIterator[CardTap]: ...

    async def close(self) -> None: ...


class NoNfcReader:
    """A till without an NFC reader (``nfc.kind = "none"``): no taps, ever."""

    description = "none"

    async def firmware_version(self) -> FirmwareVersion:
        raise NfcUnavailable("no NFC reader configured (nfc.kind = none)")

    async def read_card(self) -> CardTap | None:
        raise NfcUnavailable("no NFC reader configured (nfc.kind = none)")

    async def taps(
        self, on_error: Callable[[NfcError], None] | None = None
    ) -> AsyncIterator[CardTap]:
        await asyncio.Event().wait()  # until cancelled
        return
        yield  # pragma: no cover - makes this an async generator

    async def close(self) -> None:
        return None


class Pn532Reader:
    """A PN532 on a serial port in HSU mode (``/dev/ttyS0``, ``/dev/ttyUSB0``, …)."""

    def __init__(
        self,
        port: str,
        baudrate: int = 115200,
        timeout: float = 1.0,
        *,
        poll_interval: float = 0.25,
        backoff_min: float = 0.5,
        backoff_max: float = 10.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.backoff_min = backoff_min
        self.backoff_max = backoff_max
        self.status = "not opened"  # "ok" or the last error, for status reports and doctor
        self._serial: serial.Serial | None = None
        self._decoder = pf.FrameDecoder()
        self._frames: deque[pf.Frame] = deque()
        self._lock = threading.Lock()
        self._abort = threading.Event()

    @property
    def description(self) -> str:
        return f"PN532 on {self.port} at {self.baudrate} baud"

    # -- public API --------------------------------------------------------------------------

    async def firmware_version(self) -> FirmwareVersion:
        def query(ser: serial.Serial) -> FirmwareVersion:
            data = self._exchange(ser, pf.GET_FIRMWARE_VERSION)
            try:
                return pf.parse_firmware_version(data)
            except ValueError as err:
                raise NfcFrameError(str(err)) from None

        return await self._call(query)

    async def read_card(self) -> CardTap | None:
        """The card in the field now (UID and NDEF records), or None when there is none."""
        return await self._call(self._read_card)

    async def taps(
        self, on_error: Callable[[NfcError], None] | None = None
    ) -> AsyncIterator[CardTap]:
        """Each card as it arrives; a card left on the reader is reported once. Runs until
        cancelled, reopening the port with a backoff whenever the reader fails or vanishes;
        ``on_error`` hears of each failure (to show or report the reader's state)."""
        backoff = self.backoff_min
        present: str | None = None
        failures = 0
        try:
            while True:
                try:
                    tap = await self.read_card()
                except NfcError as err:
                    failures += 1
                    present = None
                    # the first failure in a row is news; repeats every few seconds are noise
                    level = logging.WARNING if failures == 1 else logging.DEBUG
                    log.log(level, "NFC reader: %s; retrying in %.1f s", err, backoff)
                    if on_error is not None:
                        on_error(err)
                    await self.close()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.backoff_max)
                    continue
                if failures:
                    log.info("NFC reader back after %d failed polls", failures)
                failures, backoff = 0, self.backoff_min
                if tap is None:
                    present = None
                elif tap.uid != present:
                    present = tap.uid
                    log.info("NFC card %s tapped", tap.uid_tail)
                    yield tap
                await asyncio.sleep(self.poll_interval)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close the port (an exchange in flight stops within READ_CHUNK_S); the next call
        opens it again."""
        self._abort.set()
        await asyncio.to_thread(self._close_locked)

    async def __aenter__(self) -> Pn532Reader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- threads -----------------------------------------------------------------------------

    async def _call(self, job: Callable[[serial.Serial], T]) -> T:
        return await asyncio.to_thread(self._locked, job)

    def _locked(self, job: Callable[[serial.Serial], T]) -> T:
        with self._lock:
            try:
                if self._serial is None:
                    self._serial = self._open()
                result = job(self._serial)
            except NfcUnavailable as err:
                self._close()
                self.status = str(err)
                raise
            except (serial.SerialException, OSError, termios.error) as err:
                # termios.error: tcflush/tcsetattr on a tty whose other side is gone
                self._close()
                self.status = f"NFC reader on {self.port} went away: {err}"
                raise NfcUnavailable(self.status) from err
            except NfcError as err:
                self.status = str(err)
                raise
            self.status = "ok"
            return result

    def _close_locked(self) -> None:
        with self._lock:
            self._close()
            self._abort.clear()

    def _close(self) -> None:
        ser, self._serial = self._serial, None
        self._decoder.clear()
        self._frames.clear()
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError) as err:  # already gone: nothing to undo
                log.debug("closing %s: %s", self.port, err)

    def _open(self) -> serial.Serial:
        try:
            ser = serial.Serial(
                self.port,
                self.baudrate,
                timeout=READ_CHUNK_S,
                write_timeout=self.timeout,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as err:
            raise NfcUnavailable(f"cannot open NFC reader port {self.port}: {err}") from err
        try:
            # Wake the chip from power-down and leave SAM in normal mode (no secure module).
            self._exchange(
                ser,
                pf.SAM_CONFIGURATION,
                bytes([pf.SAM_NORMAL_MODE, 0x14, 0x01]),
                prefix=pf.WAKE_UP,
            )
            # Finite passive-activation retries: "no card" is an answer, not a line held open.
            retries = bytes([pf.RF_CFG_MAX_RETRIES, 0xFF, 0x01, PASSIVE_RETRIES])
            self._exchange(ser, pf.RF_CONFIGURATION, retries)
        except BaseException:
            self._serial = ser  # so that _close() releases it
            self._close()
            raise
        log.info("NFC reader ready", extra={"port": self.port})
        return ser

    def _read_card(self, ser: serial.Serial) -> CardTap | None:
        data = self._exchange(
            ser, pf.IN_LIST_PASSIVE_TARGET, bytes([1, pf.BRTY_106_TYPE_A]), self.timeout
        )
        try:
            targets = pf.parse_list_passive_target_a(data)
        except ValueError as err:
            raise NfcFrameError(str(err)) from None
        if not targets:
            return None
        target = targets[0]
        records: tuple[NdefRecord, ...] = ()
        problem = None
        if target.sak == 0x00:  # Type 2 tag (NTAG21x, Ultralight): NDEF in pages
            try:
                records = self._read_ndef(ser, target.tg)
            except (NdefError, NfcCommandError) as err:
                problem = str(err)
        try:
            self._exchange(ser, pf.IN_RELEASE, bytes([0]))
        except NfcCommandError:
            pass  # the card left already
        return CardTap(target.uid_hex, target.atqa, target.sak, records, problem)

    def _read_ndef(self, ser: serial.Serial, tg: int) -> tuple[NdefRecord, ...]:
        def read(page: int) -> bytes:
            answer = self._exchange(ser, pf.IN_DATA_EXCHANGE, bytes([tg, NTAG_READ, page]))
            status = answer[0] if answer else 0xFF
            if status & 0x3F:
                reason = CARD_ERRORS.get(status & 0x3F, f"card error 0x{status & 0x3F:02X}")
                raise NfcCommandError(f"reading page {page}: {reason}")
            if len(answer) != 17:
                raise NfcFrameError(f"READ of page {page} gave {len(answer) - 1} bytes, not 16")
            return answer[1:]

        first = read(CC_PAGE)  # the capability container and the first 12 bytes of user memory
        size = data_area_size(first[:4])
        user = bytearray(first[4:])
        page = CC_PAGE + 4
        while True:
            found = find_ndef_tlv(bytes(user[:size]))
            if found is None:
                return ()
            start, length = found
            if length >= 0 and start + length <= len(user):
                if start + length > size:
                    raise NdefError("the NDEF message runs past the tag's data area")
                return parse_message(bytes(user[start : start + length]))
            if len(user) >= size:
                raise NdefError("the NDEF message runs past the tag's data area")
            user += read(page)
            page += 4

    # -- the wire ----------------------------------------------------------------------------

    def _exchange(
        self,
        ser: serial.Serial,
        command: int,
        params: bytes = b"",
        timeout: float | None = None,
        *,
        prefix: bytes = b"",
    ) -> bytes:
        """Send one command, wait for its ACK and its answer; the answer after the code."""
        name = pf.COMMAND_NAMES.get(command, f"command 0x{command:02X}")
        timeout = self.timeout if timeout is None else timeout
        frame = prefix + pf.command_frame(command, params)
        for attempt in range(1, COMMAND_ATTEMPTS + 1):
            self._discard_input(ser)
            noise_mark = self._decoder.discarded
            ser.write(frame)
            try:
                ack = self._next_frame(ser, timeout, f"ACK to {name}")
            except NfcTimeout:
                if attempt == COMMAND_ATTEMPTS:
                    raise
                log.debug("no ACK to %s, sending it again", name)
                continue
            if isinstance(ack, pf.ErrorFrame):
                raise NfcCommandError(f"PN532 answered {name} with an error frame")
            if isinstance(ack, pf.Ack):
                return self._answer(ser, command, name, timeout, noise_mark)
            if attempt == COMMAND_ATTEMPTS:
                what = "NACK" if isinstance(ack, pf.Nack) else f"{ack!r}"
                raise NfcFrameError(f"PN532 answered {name} with {what} instead of ACK, twice")
            log.debug("PN532 answered %s with %r instead of ACK, sending it again", name, ack)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answer(
        self, ser: serial.Serial, command: int, name: str, timeout: float, noise_mark: int
    ) -> bytes:
        """Wait for the answer; ``noise_mark`` is the decoder's noise count when the command
        went out, so that an answer garbled beyond recognition is told from no answer."""
        nacks = 0
        while True:
            try:
                frame = self._next_frame(ser, timeout, f"answer to {name}")
            except NfcTimeout as err:
                noise = self._decoder.discarded - noise_mark
                if noise and nacks < NACK_RETRIES:
                    # bytes came but no frame (a garbled length, say): ask for it again
                    nacks += 1
                    noise_mark = self._decoder.discarded
                    ser.write(pf.NACK)
                    continue
                ser.write(pf.ACK)  # an ACK from the host aborts the command still running
                if noise:
                    raise NfcFrameError(
                        f"answer to {name}: {noise} bytes that make no frame, "
                        f"still after {nacks} resends"
                    ) from err
                raise
            if isinstance(frame, pf.InfoFrame):
                if frame.tfi == pf.TFI_PN532 and frame.command == command + 1:
                    return frame.data[1:]
                log.debug("ignoring a stray frame %r while waiting for %s", frame, name)
            elif isinstance(frame, pf.ErrorFrame):
                raise NfcCommandError(f"PN532 answered {name} with an error frame")
            elif isinstance(frame, pf.BadFrame):
                if "checksum" not in frame.reason:
                    raise NfcFrameError(f"answer to {name}: {frame.reason}")
                if nacks == NACK_RETRIES:
                    raise NfcFrameError(
                        f"answer to {name}: {frame.reason}, still after {nacks} resends"
                    )
                nacks += 1
                noise_mark = self._decoder.discarded
                ser.write(pf.NACK)  # please send that answer again
            # a late ACK or NACK here belongs to nothing we wait for: skip it

    def _next_frame(self, ser: serial.Serial, timeout: float, what: str) -> pf.Frame:
        deadline = time.monotonic() + timeout
        while not self._frames:
            if self._abort.is_set():
                raise NfcUnavailable(f"NFC reader on {self.port} was closed")
            if time.monotonic() >= deadline:
                pending = self._decoder.pending
                self._decoder.clear()
                if pending:
                    raise NfcFrameError(
                        f"truncated frame: {pending} bytes of the {what}, then silence"
                    )
                raise NfcTimeout(f"no {what} within {timeout:g} s from {self.port}")
            chunk = ser.read(ser.in_waiting or 1)
            if chunk:
                self._frames.extend(self._decoder.feed(chunk))
        return self._frames.popleft()

    def _discard_input(self, ser: serial.Serial) -> None:
        """Before a command: whatever is still on the line answers nothing we will ask."""
        ser.reset_input_buffer()
        self._decoder.clear()
        self._frames.clear()
