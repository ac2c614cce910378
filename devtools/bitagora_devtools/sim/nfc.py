"""A PN532 NFC reader on a pseudo-terminal: tests, the demo and ``bitagora sim nfc``.

The simulator holds the master side of a pty pair; the driver opens the slave's path exactly as it
would open ``/dev/ttyS0``, and the bytes on it are real PN532 HSU frames (UM0701-02). It decodes
the host's frames, ACKs them, and answers GetFirmwareVersion, SAMConfiguration, RFConfiguration
(max retries), InListPassiveTarget (106 kbps Type A), InDataExchange with an NTAG READ, and
InRelease; any other command gets the error frame, as the chip answers a syntax error. A NACK from
the host makes it resend its last answer; an ACK from the host aborts a waiting command.

Like the chip, it sleeps until the host sends the HSU wake-up burst (0x55 …), and with the default
MxRtyPassiveActivation (0xFF) InListPassiveTarget waits for a card as long as it takes.

Cards: ``place_card(SimCard.ntag215(uid, [uri_record(…)]))`` puts a tag in the field (it stays
until ``remove_card()``), with an NTAG215's memory: pages 0-2 UID, check bytes and lock bytes,
page 3 the capability container ``E1 10 3E 00``, the NDEF TLV from page 4 on, 135 pages in all.

Faults, for the failure paths (``inject(name, times=1)``):
- on the next command(s): ``silent`` (no ACK, no answer), ``nack`` (NACK instead of ACK, command
  not run), ``error_frame`` (ACK, then the error frame);
- on the next answer(s) sent, resends included: ``garbage`` (noise, with a false start code, before
  the frame), ``bad_dcs``, ``bad_lcs``, ``truncate`` (the first half of the frame only);
- ``mute = True``: a hung chip, nothing comes back until it is set False;
- ``unplug()`` closes the pty (the driver's reads and writes fail, the device node goes away);
  ``replug()`` makes a new pty. Its ``/dev/pts/N`` is usually a different one, so give the
  simulator a ``link`` path: it keeps a symlink there pointing at the current pty (as udev keeps
  ``/dev/serial/by-id/…``), removed while unplugged, and the driver is configured with the link.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import tty
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance.drivers import pn532_frames as pf
from appliance.drivers.ndef import NdefRecord, encode_message, encode_tlv, text_record, uri_record

log = logging.getLogger(__name__)

NTAG215_PAGES = 135
NTAG215_USER_PAGES = (4, 129)  # first and last page of user memory (504 bytes)
STATUS_OK = 0x00
STATUS_TIMEOUT = 0x01  # the card did not answer

COMMAND_FAULTS = ("silent", "nack", "error_frame")
ANSWER_FAULTS = ("garbage", "bad_dcs", "bad_lcs", "truncate")
NOISE = b"\x13\x37\x00\xff\x42\x99"  # contains a false start code followed by nonsense


@dataclass
class SimCard:
    """A card the simulator can hold in its field."""

    uid: bytes
    atqa: int = 0x0044
    sak: int = 0x00
    memory: bytearray | None = None  # Type 2 tag pages, 4 bytes each

    @classmethod
    def ntag215(
        cls, uid: str | bytes, records: list[NdefRecord] | tuple[NdefRecord, ...] = ()
    ) -> SimCard:
        """An NTAG215 with a 7-byte UID and, when records are given, an NDEF message."""
        raw = bytes.fromhex(uid) if isinstance(uid, str) else uid
        if len(raw) != 7:
            raise ValueError(f"an NTAG215 has a 7-byte UID, got {len(raw)} bytes")
        mem = bytearray(NTAG215_PAGES * 4)
        bcc0 = 0x88 ^ raw[0] ^ raw[1] ^ raw[2]
        bcc1 = raw[3] ^ raw[4] ^ raw[5] ^ raw[6]
        mem[0:12] = bytes([*raw[0:3], bcc0, *raw[3:7], bcc1, 0x48, 0x00, 0x00])
        mem[12:16] = b"\xe1\x10\x3e\x00"  # CC: NDEF 1.0, 496-byte data area, read/write
        user = encode_tlv(encode_message(records)) if records else bytes([0x03, 0x00, 0xFE])
        first, last = NTAG215_USER_PAGES
        if len(user) > (last - first + 1) * 4:
            raise ValueError("the NDEF message does not fit an NTAG215")
        mem[first * 4 : first * 4 + len(user)] = user
        mem[130 * 4 : 131 * 4] = b"\x00\x00\x00\xbd"  # dynamic lock bytes, RFUI
        mem[131 * 4 : 132 * 4] = b"\x04\x00\x00\xff"  # CFG0: MIRROR, RFUI, MIRROR_PAGE, AUTH0
        return cls(raw, 0x0044, 0x00, mem)

    @classmethod
    def badge(cls, uid: str | bytes) -> SimCard:
        """A plain ISO 14443-A badge with a 4-byte UID and no NDEF (MIFARE Classic-like)."""
        raw = bytes.fromhex(uid) if isinstance(uid, str) else uid
        return cls(raw, 0x0004, 0x08, None)

    def read(self, page: int) -> bytes | None:
        """NTAG READ: 16 bytes from ``page``, rolling over to page 0; None (NAK) when the
        address is outside the tag."""
        if self.memory is None:
            return None
        pages = len(self.memory) // 4
        if not 0 <= page < pages:
            return None
        return b"".join(
            bytes(self.memory[((page + i) % pages) * 4 : ((page + i) % pages) * 4 + 4])
            for i in range(4)
        )


@dataclass
class _Plug:
    master: int
    slave: int
    name: str


@dataclass
class Pn532Simulator:
    link: Path | None = None
    firmware: tuple[int, int, int, int] = (0x32, 0x01, 0x06, 0x07)
    mute: bool = False
    card: SimCard | None = None
    commands: list[int] = field(default_factory=list)  # every command code run, in order
    wakeups: int = 0
    bytes_in: int = 0  # everything the host wrote, heard or not
    resends: int = 0  # answers sent again on the host's NACK
    aborts: int = 0  # waiting commands the host aborted with an ACK
    _plug: _Plug | None = None
    _asleep: bool = True
    _decoder: pf.FrameDecoder = field(default_factory=pf.FrameDecoder)
    _command_faults: deque[str] = field(default_factory=deque)
    _answer_faults: deque[str] = field(default_factory=deque)
    _last_answer: bytes | None = None
    _waiting: bool = False  # an InListPassiveTarget holding for a card
    _selected: bool = False
    _max_passive_retries: int = 0xFF
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    # -- life cycle --------------------------------------------------------------------------

    @property
    def path(self) -> str:
        """What the driver opens: the link when there is one, else the pty's own path."""
        if self.link is not None:
            return str(self.link)
        if self._plug is None:
            raise RuntimeError("the NFC simulator is unplugged")
        return self._plug.name

    @property
    def plugged(self) -> bool:
        return self._plug is not None

    async def start(self) -> None:
        self.replug()

    async def stop(self) -> None:
        self.unplug()

    async def __aenter__(self) -> Pn532Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def replug(self) -> None:
        """Power the reader up on a new pty (a no-op while plugged)."""
        if self._plug is not None:
            return
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: bytes pass as they are
        os.set_blocking(master, False)
        self._plug = _Plug(master, slave, os.ttyname(slave))
        self._asleep, self._waiting, self._selected = True, False, False
        self._max_passive_retries = 0xFF
        self._decoder = pf.FrameDecoder()
        self._last_answer = None
        asyncio.get_running_loop().add_reader(master, self._readable)
        if self.link is not None:
            tmp = self.link.with_name(f".{self.link.name}.tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._plug.name)
            os.replace(tmp, self.link)
        log.info("nfc simulator plugged in on %s", self._plug.name)
        self._notify()

    def unplug(self) -> None:
        """Pull the cable: the pty closes under the driver and the device node disappears."""
        plug, self._plug = self._plug, None
        if plug is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may be closing already
            asyncio.get_running_loop().remove_reader(plug.master)
        os.close(plug.master)
        os.close(plug.slave)
        if self.link is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link.unlink()
        log.info("nfc simulator unplugged from %s", plug.name)
        self._notify()

    # -- what a test or the demo does ---------------------------------------------------------

    def place_card(self, card: SimCard) -> None:
        """Hold a card on the reader (it stays until ``remove_card``)."""
        self.card, self._selected = card, False
        if self._waiting:
            self._waiting = False
            self._send_answer(self._list_answer())
        self._notify()

    def remove_card(self) -> None:
        self.card, self._selected = None, False
        self._notify()

    def inject(self, fault: str, times: int = 1) -> None:
        if fault in COMMAND_FAULTS:
            self._command_faults.extend([fault] * times)
        elif fault in ANSWER_FAULTS:
            self._answer_faults.extend([fault] * times)
        else:
            raise ValueError(f"unknown fault {fault!r}: {COMMAND_FAULTS + ANSWER_FAULTS}")

    # A bounded default timeout (rather than asyncio.timeout at the call) keeps tests from hanging.
    async def wait_for(
        self,
        condition: Callable[[], bool],
        what: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until ``condition()`` holds (checked whenever the simulator's state changes)."""
        try:
            async with asyncio.timeout(timeout):
                while not condition():
                    event = self._changed
                    await event.wait()
        except TimeoutError:
            raise TimeoutError(f"nfc simulator: no {what} after {timeout}s") from None

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- the wire ----------------------------------------------------------------------------

    def _readable(self) -> None:
        plug = self._plug
        if plug is None:
            return
        try:
            data = os.read(plug.master, 4096)
        except BlockingIOError:
            return
        except OSError as err:
            log.warning("nfc simulator: read failed: %s", err)
            return
        self.bytes_in += len(data)
        if self._asleep:
            if 0x55 not in data:
                return  # a sleeping chip hears nothing but the wake-up burst
            self._asleep = False
            self.wakeups += 1
            data = data[data.index(0x55) :]
        if self.mute:
            self._notify()
            return
        for frame in self._decoder.feed(data):
            self._handle(frame)
        self._notify()

    def _write(self, data: bytes) -> None:
        if self._plug is None:
            return
        try:
            os.write(self._plug.master, data)
        except OSError as err:
            log.warning("nfc simulator: write failed: %s", err)

    def _handle(self, frame: pf.Frame) -> None:
        if isinstance(frame, pf.Ack):
            if self._waiting:
                self._waiting = False
                self.aborts += 1
            return
        if isinstance(frame, pf.Nack):
            if self._last_answer is not None:
                self.resends += 1
                self._send_answer(self._last_answer)
            return
        if not isinstance(frame, pf.InfoFrame) or frame.tfi != pf.TFI_HOST or not frame.data:
            return  # the chip ignores frames it cannot check or that are not for it
        fault = self._command_faults.popleft() if self._command_faults else None
        if fault == "silent":
            return
        if fault == "nack":
            self._write(pf.NACK)
            return
        self._write(pf.ACK)
        self._waiting = False  # a new command replaces one still waiting
        if fault == "error_frame":
            self._write(pf.ERROR_FRAME)
            return
        command, params = frame.data[0], frame.data[1:]
        self.commands.append(command)
        answer = self._run(command, params)
        if answer is not None:
            self._send_answer(answer)

    def _send_answer(self, frame: bytes) -> None:
        self._last_answer = frame
        fault = self._answer_faults.popleft() if self._answer_faults else None
        if fault == "garbage":
            frame = NOISE + frame
        elif fault == "bad_dcs":
            frame = frame[:-2] + bytes([frame[-2] ^ 0x5A]) + frame[-1:]
        elif fault == "bad_lcs":
            frame = frame[:4] + bytes([frame[4] ^ 0x5A]) + frame[5:]
        elif fault == "truncate":
            frame = frame[: len(frame) // 2]
        self._write(frame)

    # -- the commands ------------------------------------------------------------------------

    def _run(self, command: int, params: bytes) -> bytes | None:
        if command == pf.GET_FIRMWARE_VERSION:
            return pf.response_frame(command, bytes(self.firmware))
        if command == pf.SAM_CONFIGURATION and params[:1] in (b"\x01", b"\x02", b"\x03", b"\x04"):
            return pf.response_frame(command)
        if command == pf.RF_CONFIGURATION and params[:1] == bytes([pf.RF_CFG_MAX_RETRIES]):
            if len(params) == 4:
                self._max_passive_retries = params[3]
            return pf.response_frame(command)
        if command == pf.RF_CONFIGURATION and params:
            return pf.response_frame(command)  # other items: accepted, not simulated
        if command == pf.IN_LIST_PASSIVE_TARGET and params[:2] == bytes([1, pf.BRTY_106_TYPE_A]):
            if self.card is None and self._max_passive_retries == 0xFF:
                self._waiting = True  # like the chip: wait for a card until one comes
                return None
            return self._list_answer()
        if command == pf.IN_DATA_EXCHANGE and len(params) >= 2:
            return pf.response_frame(command, self._exchange(params[0], params[1:]))
        if command == pf.IN_RELEASE and params:
            self._selected = False
            return pf.response_frame(command, bytes([STATUS_OK]))
        return pf.ERROR_FRAME  # a command or parameters the chip does not understand

    def _list_answer(self) -> bytes:
        card = self.card
        if card is None:
            self._selected = False
            return pf.response_frame(pf.IN_LIST_PASSIVE_TARGET, b"\x00")
        self._selected = True
        target = bytes([1, card.atqa >> 8, card.atqa & 0xFF, card.sak, len(card.uid)]) + card.uid
        return pf.response_frame(pf.IN_LIST_PASSIVE_TARGET, b"\x01" + target)

    def _exchange(self, tg: int, data: bytes) -> bytes:
        card = self.card
        if card is None or not self._selected or tg != 1:
            return bytes([STATUS_TIMEOUT])
        if data[0] == 0x30 and len(data) == 2:
            block = card.read(data[1])
            if block is not None:
                return bytes([STATUS_OK]) + block
        return bytes([STATUS_TIMEOUT])  # a NAK from the tag, or a command it does not know


# -- bitagora sim nfc --------------------------------------------------------------------------


def card_from_options(uid: str, uri: str | None, text: str | None) -> SimCard:
    """A 7-byte UID makes an NTAG215 (with the NDEF records given); a 4-byte one a badge."""
    raw = bytes.fromhex(uid.replace(":", ""))
    records = [r for r in (uri and uri_record(uri), text and text_record(text)) if r]
    if len(raw) == 7:
        return SimCard.ntag215(raw, records)
    if records:
        raise ValueError("NDEF records need a 7-byte UID (an NTAG215)")
    return SimCard.badge(raw)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--link",
        type=Path,
        default=None,
        help="keep a symlink here to the current pty (stable across unplug/replug)",
    )
    parser.add_argument("--tap", metavar="UID", help="hold this card on the reader from the start")
    parser.add_argument("--ndef-uri", metavar="URI", help="URI record on the --tap card")
    parser.add_argument("--ndef-text", metavar="TEXT", help="text record on the --tap card")


def run(args: argparse.Namespace) -> int:
    try:
        first = card_from_options(args.tap, args.ndef_uri, args.ndef_text) if args.tap else None
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(args.link, first))


HELP = (
    "commands: tap UID [URI] | text UID TEXT | remove | unplug | replug | fault NAME [TIMES] | quit"
)


async def _serve(link: Path | None, first: SimCard | None) -> int:
    sim = Pn532Simulator(link=link)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await sim.start()
    if first is not None:
        sim.place_card(first)
    print(f"nfc simulator on {sim.path}", flush=True)
    print(HELP, flush=True)

    def command_line() -> None:
        line = sys.stdin.readline()
        if not line:  # end of input (e.g. stdin is /dev/null): keep serving
            loop.remove_reader(sys.stdin.fileno())
            return
        try:
            reply = _control(sim, line.split())
        except (ValueError, IndexError) as err:
            reply = f"error: {err}"
        if reply == "quit":
            stopping.set()
        elif reply:
            print(reply, flush=True)

    with contextlib.suppress(OSError, ValueError):  # stdin may be closed or not pollable
        loop.add_reader(sys.stdin.fileno(), command_line)
    try:
        await stopping.wait()
    finally:
        with contextlib.suppress(OSError, ValueError):
            loop.remove_reader(sys.stdin.fileno())
        await sim.stop()
    return 0


def _control(sim: Pn532Simulator, words: list[str]) -> str:
    if not words:
        return ""
    verb = words[0].lower()
    if verb == "tap":
        sim.place_card(card_from_options(words[1], words[2] if len(words) > 2 else None, None))
        return f"card {words[1]} on the reader"
    if verb == "text":
        sim.place_card(card_from_options(words[1], None, " ".join(words[2:])))
        return f"card {words[1]} on the reader"
    if verb == "remove":
        sim.remove_card()
        return "no card"
    if verb == "unplug":
        sim.unplug()
        return "unplugged"
    if verb == "replug":
        sim.replug()
        return f"nfc simulator on {sim.path}"
    if verb == "fault":
        sim.inject(words[1], int(words[2]) if len(words) > 2 else 1)
        return f"fault {words[1]} armed"
    if verb in ("quit", "exit"):
        return "quit"
    return HELP


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bitagora sim nfc", description="PN532 NFC reader simulator on a pty"
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
