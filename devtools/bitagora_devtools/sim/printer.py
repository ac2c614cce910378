"""An ESC/POS receipt printer on raw TCP (port 9100): tests, the demo and `bitagora sim printer`.

It decodes the byte stream the way an Epson-compatible printer does and writes every cut receipt
as UTF-8 text to ``<out>/receipt-NNNNNN.txt``, and every drawer kick as a JSON line to
``<out>/drawer.jsonl``. Status queries (DLE EOT, GS r) are answered from ``paper_out``,
``paper_near_end``, ``cover_open``, ``offline`` and ``drawer_open``.

Tests switch the printer's condition with those attributes and with: ``silent`` (connections are
taken, but everything sent is swallowed and nothing answered: a hung printer),
``paper_left`` (the roll ends during the receipt after that many more),
``read_delay_s`` (a slow printer: it waits that long before each read), and
``await set_reachable(False)`` (nothing listens on the port any more: connections are refused,
open ones are dropped; ``set_reachable(True)`` listens again on the same port). ``open_pty()``
serves the same printer on a pseudo-terminal as well, for serial printer tests.

Behaviour worth knowing:
- ``ESC t n`` uses Epson's code page numbers (0 = CP437, 2 = CP850, 16 = CP1252, 19 = CP858,
  40 = ISO-8859-15, ...); printers with other numbering (many 58 mm clones) need their own table.
- Paper end, cover open and offline make the printer offline, like the real thing: receipts cut
  while offline are dropped (counted in ``dropped``) and ``ESC p`` is ignored; only the real-time
  pulse ``DLE DC4 1`` still opens the drawer.
- One connection is served at a time (later ones wait, as on a single-port print server). Printer
  state (code page, styles, an unfinished line) survives between connections until ``ESC @``; an
  unfinished command at the end of a connection is dropped so the next job starts in sync.
- Unknown commands are skipped as two bytes (``ESC x``); families with a length field
  (``GS ( x``, ``ESC ( x``, ``FS ( x``, ``GS 8 L``) and image data are skipped whole.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ESC, GS, FS, DLE = 0x1B, 0x1D, 0x1C, 0x10
LF, CR, HT, FF = 0x0A, 0x0D, 0x09, 0x0C
EOT, ENQ, DC4 = 0x04, 0x05, 0x14

# ESC t n -> Python codec, Epson numbering. Pages missing here print U+FFFD for bytes >= 0x80.
# fmt: off
CODE_PAGES: dict[int, str] = {
    0: "cp437", 2: "cp850", 3: "cp860", 4: "cp863", 5: "cp865", 13: "cp857", 14: "cp737",
    15: "iso8859_7", 16: "cp1252", 17: "cp866", 18: "cp852", 19: "cp858", 32: "cp720",
    33: "cp775", 34: "cp855", 35: "cp861", 36: "cp862", 37: "cp864", 38: "cp869",
    39: "iso8859_2", 40: "iso8859_15", 44: "cp1125", 45: "cp1250", 46: "cp1251", 47: "cp1253",
    48: "cp1254", 49: "cp1255", 50: "cp1256", 51: "cp1257", 52: "cp1258", 53: "kz1048",
}
# fmt: on

# Commands with a fixed number of argument bytes: command byte -> argument count.
_ESC_FIXED: dict[int, int] = {
    **dict.fromkeys(b"@2LS<imv\x0c", 0),
    **dict.fromkeys(b"aEG!-tdJKeMR3A+V{r =T%?Uu", 1),
    **dict.fromkeys(b"$\\cBf", 2),
    ord("p"): 3,
    ord("W"): 8,
}
_GS_FIXED: dict[int, int] = {
    **dict.fromkeys(b":", 0),
    **dict.fromkeys(b"!BbHfhwarI|T/EjZ", 1),
    **dict.fromkeys(b"LWP$\\", 2),
    ord("^"): 3,
}
_FS_FIXED: dict[int, int] = {
    **dict.fromkeys(b".&", 0),
    **dict.fromkeys(b"CW!-", 1),
    **dict.fromkeys(b"pS", 2),
}
# GS k m: m 0-6 is format A (NUL-terminated), 65 and up format B (length byte).
_BARCODE_NAMES = ("UPC-A", "UPC-E", "EAN13", "EAN8", "CODE39", "ITF", "CODABAR")
_BARCODES: dict[int, str] = {
    **dict(enumerate(_BARCODE_NAMES)),
    **dict(enumerate((*_BARCODE_NAMES, "CODE93", "CODE128", "GS1-128"), start=65)),
    **dict.fromkeys(range(75, 79), "GS1 DATABAR"),
}
# GS ( k cn: the 2D symbol types
_SYMBOLS: dict[int, str] = {48: "PDF417", 49: "QR", 50: "MAXICODE", 53: "AZTEC", 54: "DATAMATRIX"}
_TEXT = re.compile(rb"[\x20-\xff]+")
_MAX_BARCODE = 255  # GS k format A ends with NUL; a printer stops waiting after this many bytes


@dataclass
class PrintedLine:
    """One printed line: text with the style it was printed in, or a marker for graphics."""

    text: str
    align: str = "left"  # left | center | right
    bold: bool = False
    width: int = 1  # character width multiplier (ESC ! / GS !)
    height: int = 1
    kind: str = "text"  # text | qr | barcode | image | symbol


@dataclass
class PrintedReceipt:
    """Everything printed between two cuts."""

    lines: list[PrintedLine]
    number: int = 0
    path: Path | None = None
    cut_at: float = 0.0  # time.perf_counter() when the cut arrived (for benchmarks)

    @property
    def qr_payloads(self) -> list[str]:
        return [line.text for line in self.lines if line.kind == "qr"]

    def render(self, columns: int = 48) -> str:
        """Readable text: alignment by padding, lines wrapped where the printer would wrap them."""
        out: list[str] = []
        for line in self.lines:
            if line.kind == "qr":
                out.append(f"[QR] {_one_line(line.text)}")
            elif line.kind != "text":
                out.append(f"[{line.kind.upper()}] {_one_line(line.text)}".rstrip())
            else:
                out.extend(_layout(line, columns))
        while out and not out[-1].strip():
            out.pop()
        return "\n".join(out) + "\n"


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _layout(line: PrintedLine, columns: int) -> list[str]:
    per_row = max(1, columns // line.width)
    text = line.text.rstrip()
    rows = [text[i : i + per_row] for i in range(0, len(text), per_row)] or [""]
    laid = []
    for row in rows:
        # Padding counts characters, not printed width: double-width titles stay centred to the eye.
        free = columns - len(row)
        pad = free // 2 if line.align == "center" else free if line.align == "right" else 0
        laid.append((" " * max(0, pad) + row).rstrip())
    return laid


@dataclass(frozen=True)
class Cut:
    receipt: PrintedReceipt


@dataclass(frozen=True)
class DrawerKick:
    pin: int
    on_ms: int
    off_ms: int
    realtime: bool  # DLE DC4 1 works while offline; ESC p does not


@dataclass(frozen=True)
class Query:
    command: str  # "DLE EOT", "GS r", "GS I", "ESC u", "ESC v"
    n: int


Event = Cut | DrawerKick | Query


@dataclass
class _Style:
    page: int = 0
    align: str = "left"
    bold: bool = False
    width: int = 1
    height: int = 1


class EscPosDecoder:
    """Sans-I/O ESC/POS decoder: ``feed`` bytes, get events; the printed paper is kept here."""

    def __init__(self) -> None:
        self.style = _Style()
        self._buf = bytearray()
        self._skip = 0  # image or unknown-payload bytes still to discard
        self._lines: list[PrintedLine] = []
        # the unfinished line: (text, bold, width, height) per run of text
        self._fragments: list[tuple[str, bool, int, int]] = []
        self._line_align: str | None = None
        self._symbols: dict[int, str] = {}  # GS ( k stored data per symbol type (49 = QR)

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        self._buf += data
        buf, pos = self._buf, 0
        while pos < len(buf):
            if self._skip:
                n = min(self._skip, len(buf) - pos)
                self._skip -= n
                pos += n
                continue
            used = self._step(pos, events)
            if used is None:  # command incomplete: wait for more bytes
                break
            pos += used
        del buf[:pos]
        return events

    def end_of_stream(self) -> None:
        """The connection ended: drop a half-received command so the next job starts in sync."""
        if self._buf or self._skip:
            log.info(
                "printer simulator: dropped %d bytes of an unfinished command",
                len(self._buf) + self._skip,
            )
        self._buf.clear()
        self._skip = 0

    # -- parsing -----------------------------------------------------------------------------

    def _step(self, pos: int, events: list[Event]) -> int | None:
        buf = self._buf
        b = buf[pos]
        if b >= 0x20:
            match = _TEXT.match(buf, pos)
            assert match is not None
            self._text(bytes(match.group()))
            return match.end() - pos
        if b == LF:
            self._newline()
        elif b == FF:
            self._newline()
        elif b == HT:
            width = sum(len(text) for text, *_ in self._fragments)
            self._text(b" " * (8 - width % 8))
        elif b == ESC:
            return self._esc(pos, events)
        elif b == GS:
            return self._gs(pos, events)
        elif b == FS:
            return self._fs(pos)
        elif b == DLE:
            return self._dle(pos, events)
        return 1  # CR, NUL, BEL, CAN and other control bytes print nothing

    def _have(self, pos: int, n: int) -> bytes | None:
        """The n bytes from pos, or None when they have not all arrived yet."""
        return bytes(self._buf[pos : pos + n]) if len(self._buf) - pos >= n else None

    def _esc(self, pos: int, events: list[Event]) -> int | None:
        head = self._have(pos, 2)
        if head is None:
            return None
        cmd = head[1]
        if cmd in _ESC_FIXED:
            size = 2 + _ESC_FIXED[cmd]
            args = self._have(pos + 2, size - 2)
            if args is None:
                return None
            self._esc_fixed(cmd, args, events)
            return size
        if cmd == ord("("):  # ESC ( fn pL pH data
            return self._length_prefixed(pos, 3)
        if cmd == ord("*"):  # bit image, column format: ESC * m nL nH data
            hdr = self._have(pos, 5)
            if hdr is None:
                return None
            columns = hdr[3] | hdr[4] << 8
            self._skip = columns * (1 if hdr[2] in (0, 1) else 3)
            return 5
        if cmd == ord("D"):  # tab positions, NUL-terminated, at most 32
            end = self._buf.find(0, pos + 2, pos + 35)
            if end >= 0:
                return end + 1 - pos
            return 35 if len(self._buf) - pos >= 35 else None
        log.debug("printer simulator: unknown command ESC 0x%02x", cmd)
        return 2

    def _esc_fixed(self, cmd: int, args: bytes, events: list[Event]) -> None:
        st = self.style
        c = chr(cmd)
        if c == "@":
            self.style = _Style()
            self._fragments.clear()  # ESC @ clears the print buffer (the unfinished line)
            self._line_align = None
        elif c == "a":
            st.align = {0: "left", 1: "center", 2: "right"}.get(args[0] % 48, "left")
        elif c == "E":
            st.bold = bool(args[0] & 1)
        elif c == "!":
            st.bold = bool(args[0] & 0x08)
            st.height = 2 if args[0] & 0x10 else 1
            st.width = 2 if args[0] & 0x20 else 1
        elif c == "t":
            st.page = args[0]
        elif c == "d":
            self._feed_lines(args[0])
        elif c == "J":
            if self._fragments:
                self._newline()
        elif c in "im":
            events.append(Cut(self._cut()))
        elif c == "p":
            events.append(DrawerKick(args[0] % 48, args[1] * 2, args[2] * 2, realtime=False))
        elif c in "uv":
            events.append(Query(f"ESC {c}", args[0] if args else 0))

    def _gs(self, pos: int, events: list[Event]) -> int | None:
        head = self._have(pos, 2)
        if head is None:
            return None
        cmd = head[1]
        if cmd in _GS_FIXED:
            size = 2 + _GS_FIXED[cmd]
            args = self._have(pos + 2, size - 2)
            if args is None:
                return None
            if cmd == ord("!"):
                self.style.width = (args[0] >> 4 & 7) + 1
                self.style.height = (args[0] & 7) + 1
            elif cmd in b"rI":
                events.append(Query(f"GS {chr(cmd)}", args[0]))
            return size
        if cmd == ord("V"):  # cut: GS V m, or GS V m n for the feed-and-cut forms
            mode = self._have(pos + 2, 1)
            if mode is None:
                return None
            size = 4 if mode[0] in (65, 66, 97, 98, 103, 104) else 3
            if len(self._buf) - pos < size:
                return None
            events.append(Cut(self._cut()))
            return size
        if cmd == ord("v"):  # raster image: GS v 0 m xL xH yL yH data
            hdr = self._have(pos, 8)
            if hdr is None:
                return None
            width_bytes, height = hdr[4] | hdr[5] << 8, hdr[6] | hdr[7] << 8
            self._graphic("image", f"{width_bytes * 8}x{height}")
            self._skip = width_bytes * height
            return 8
        if cmd == ord("("):
            return self._gs_function(pos, events)
        if cmd == ord("8"):  # GS 8 L p1 p2 p3 p4 data (large graphics)
            hdr = self._have(pos, 7)
            if hdr is None:
                return None
            self._skip = int.from_bytes(hdr[3:7], "little")
            return 7
        if cmd == ord("*"):  # define downloaded bit image: GS * x y data(x*y*8)
            hdr = self._have(pos, 4)
            if hdr is None:
                return None
            self._skip = hdr[2] * hdr[3] * 8
            return 4
        if cmd == ord("k"):
            return self._barcode(pos)
        log.debug("printer simulator: unknown command GS 0x%02x", cmd)
        return 2

    def _gs_function(self, pos: int, events: list[Event]) -> int | None:
        """GS ( fn pL pH data: 2D symbols (fn 'k') are read, every other function is skipped."""
        hdr = self._have(pos, 5)
        if hdr is None:
            return None
        if hdr[2] != ord("k"):
            return self._length_prefixed(pos, 3)
        size = 5 + (hdr[3] | hdr[4] << 8)
        body = self._have(pos + 5, size - 5)
        if body is None:
            return None  # at most 64 KiB, so waiting for all of it is bounded
        if len(body) >= 2:
            symbol, fn = body[0], body[1]
            if fn == 80 and len(body) >= 3:  # store data: cn fn m d1..dk
                self._symbols[symbol] = body[3:].decode("utf-8", errors="replace")
            elif fn == 81 and symbol in self._symbols:  # print the stored symbol
                kind = "qr" if symbol == 49 else "symbol"
                prefix = "" if symbol == 49 else f"{_SYMBOLS.get(symbol, symbol)} "
                self._graphic(kind, prefix + self._symbols[symbol])
        return size

    def _length_prefixed(self, pos: int, length_at: int) -> int | None:
        hdr = self._have(pos, length_at + 2)
        if hdr is None:
            return None
        self._skip = hdr[length_at] | hdr[length_at + 1] << 8
        return length_at + 2

    def _barcode(self, pos: int) -> int | None:
        hdr = self._have(pos, 3)
        if hdr is None:
            return None
        kind = hdr[2]
        name = _BARCODES.get(kind, f"type {kind}")
        if kind <= 6:  # format A: data ends with NUL
            end = self._buf.find(0, pos + 3, pos + 3 + _MAX_BARCODE)
            if end < 0:
                if len(self._buf) - pos < 3 + _MAX_BARCODE:
                    return None
                end = pos + 3 + _MAX_BARCODE - 1
            data = bytes(self._buf[pos + 3 : end])
            size = end + 1 - pos
        else:  # format B: GS k m n data
            length = self._have(pos + 3, 1)
            if length is None:
                return None
            size = 4 + length[0]
            raw = self._have(pos + 4, length[0])
            if raw is None:
                return None
            data = raw
        self._graphic("barcode", f"{name} {data.decode('latin-1')}")
        return size

    def _fs(self, pos: int) -> int | None:
        head = self._have(pos, 2)
        if head is None:
            return None
        cmd = head[1]
        if cmd in _FS_FIXED:
            size = 2 + _FS_FIXED[cmd]
            return size if len(self._buf) - pos >= size else None
        if cmd == ord("("):
            return self._length_prefixed(pos, 3)
        log.debug("printer simulator: unknown command FS 0x%02x", cmd)
        return 2

    def _dle(self, pos: int, events: list[Event]) -> int | None:
        head = self._have(pos, 3)
        if head is None:
            # a lone DLE followed by a non-command byte is just skipped once we see that byte
            nxt = self._have(pos, 2)
            if nxt is None or nxt[1] in (EOT, ENQ, DC4):
                return None
            return 1
        cmd, n = head[1], head[2]
        if cmd == EOT:
            if n in (7, 8):  # DLE EOT 7 a / DLE EOT 8 a (ink, extended status)
                return 4 if len(self._buf) - pos >= 4 else None
            events.append(Query("DLE EOT", n))
            return 3
        if cmd == ENQ:
            return 3
        if cmd == DC4:
            size = {1: 5, 2: 5, 3: 5, 7: 4, 8: 10}.get(n, 3)
            args = self._have(pos, size)
            if args is None:
                return None
            if n == 1:  # DLE DC4 1 m t: real-time pulse of t x 100 ms on and off
                pulse = max(1, min(args[4], 8)) * 100
                events.append(DrawerKick(args[3] % 48, pulse, pulse, realtime=True))
            return size
        return 1

    # -- the paper ---------------------------------------------------------------------------

    def _text(self, raw: bytes) -> None:
        codec = CODE_PAGES.get(self.style.page)
        if codec is None:
            text = "".join(chr(b) if b < 0x80 else "\ufffd" for b in raw)
        else:
            text = raw.decode(codec, errors="replace")
        if not self._fragments:
            self._line_align = self.style.align  # alignment is taken at the start of a line
        st = self.style
        self._fragments.append((text, st.bold, st.width, st.height))

    def _newline(self) -> None:
        frags = self._fragments
        st = self.style
        self._lines.append(
            PrintedLine(
                text="".join(text for text, *_ in frags),
                align=self._line_align or st.align,
                bold=any(bold for _, bold, _, _ in frags) if frags else st.bold,
                width=max((w for _, _, w, _ in frags), default=st.width),
                height=max((h for _, _, _, h in frags), default=st.height),
            )
        )
        frags.clear()
        self._line_align = None

    def _feed_lines(self, n: int) -> None:
        if self._fragments:
            self._newline()
            n -= 1
        for _ in range(max(0, n)):
            self._newline()

    def _graphic(self, kind: str, text: str) -> None:
        if self._fragments:
            self._newline()
        self._lines.append(PrintedLine(text, align=self.style.align, kind=kind))

    def _cut(self) -> PrintedReceipt:
        if self._fragments:
            self._newline()
        receipt = PrintedReceipt(self._lines)
        self._lines = []
        return receipt


class PrinterSimulator:
    """A network receipt printer: raw TCP, ESC/POS in, receipt files and status bytes out."""

    def __init__(
        self,
        out_dir: Path,
        host: str = "127.0.0.1",
        port: int = 9100,
        *,
        columns: int = 48,
        idle_timeout: float = 60.0,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.host = host
        self.columns = columns
        self.idle_timeout = idle_timeout
        # Printer condition, read at every status query; tests flip these.
        self.paper_out = False
        self.paper_near_end = False
        self.cover_open = False
        self.offline = False
        self.drawer_open = False  # the drawer's open sensor (DLE EOT 1 bit 2)
        self.silent = False  # swallow everything, answer nothing (a hung printer)
        self.paper_left: int | None = None  # receipts the roll still has room for (None: plenty)
        self.read_delay_s = 0.0  # a slow printer: pause before every read
        self.dropped = 0  # receipts cut while the printer could not print
        self.bytes_received = 0  # every byte read from any connection, swallowed ones included
        self._ptys: list[tuple[tuple[int, int], asyncio.Task[Any]]] = []
        self._port = port
        self._server: asyncio.Server | None = None
        self._decoder = EscPosDecoder()
        self._busy = asyncio.Lock()
        self._changed = asyncio.Condition()
        self._clients: set[asyncio.Task[Any]] = set()
        self._printed: list[PrintedReceipt] = []
        self._kicks: list[dict[str, int]] = []
        self._next_number = 1
        self._kick_count = 0

    @property
    def port(self) -> int:
        return self._port

    @property
    def ready(self) -> bool:
        """Able to print: the conditions that put a real printer offline are all clear."""
        return not (self.offline or self.paper_out or self.cover_open)

    async def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        # Continue numbering after earlier runs so no receipt file is ever overwritten.
        numbers = [
            int(p.stem.split("-")[1])
            for p in self.out_dir.glob("receipt-*.txt")
            if p.stem.split("-")[1].isdigit()
        ]
        self._next_number = max(numbers, default=0) + 1
        drawer_log = self.out_dir / "drawer.jsonl"
        if drawer_log.exists():
            self._kick_count = len(drawer_log.read_text(encoding="utf-8").splitlines())
        self._server = await asyncio.start_server(self._serve_client, self.host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("printer simulator listening on %s:%d", self.host, self._port)

    async def stop(self) -> None:
        for fds, task in self._ptys:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            for fd in fds:
                os.close(fd)
        self._ptys.clear()
        await self._stop_listening()

    async def _stop_listening(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._clients):
            task.cancel()
        await asyncio.gather(*self._clients, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def set_reachable(self, reachable: bool) -> None:
        """Unplug the printer from the network (connections refused) or plug it back in."""
        if reachable and self._server is None:
            self._server = await asyncio.start_server(self._serve_client, self.host, self._port)
        elif not reachable:
            await self._stop_listening()

    async def open_pty(self) -> str:
        """Serve this printer on a new pseudo-terminal too; returns the path to open (the
        serial port a printer driver is given). Closed by ``stop``."""
        import pty
        import tty

        master, slave = pty.openpty()
        tty.setraw(slave)  # no echo, no LF -> CRLF: bytes pass as on a serial line
        path = os.ttyname(slave)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(os.dup(master), "rb", 0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(os.dup(master), "wb", 0)
        )
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        # The slave stays open here too, so the master never reads EIO between two jobs; the
        # line has its own decoder, as a printer's serial port has its own input buffer.
        decoder = EscPosDecoder()

        async def serve() -> None:
            try:
                await self._pump(reader, writer, idle=False, decoder=decoder)
            finally:
                writer.close()

        task = asyncio.create_task(serve(), name=f"printer-sim {path}")
        self._ptys.append(((master, slave), task))
        return path

    async def __aenter__(self) -> PrinterSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def receipts(self) -> list[str]:
        """Texts of the receipts cut since start, in order (as written to the files)."""
        return [r.render(self.columns) for r in self._printed]

    def printed(self) -> list[PrintedReceipt]:
        """The same receipts with per-line style (alignment, bold, size) and QR payloads."""
        return list(self._printed)

    def drawer_kicks(self) -> list[dict[str, int]]:
        return [dict(k) for k in self._kicks]

    # A bounded default timeout (rather than asyncio.timeout at the call) keeps tests from hanging.
    async def wait_receipts(self, n: int, timeout: float = 5.0) -> list[str]:  # noqa: ASYNC109
        """Wait until at least n receipts have been written; TimeoutError names what arrived."""
        await self._wait(
            lambda: len(self._printed) >= n,
            timeout,
            lambda: f"{len(self._printed)} of {n} receipts",
        )
        return self.receipts()

    async def wait_drawer_kicks(
        self,
        n: int,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, int]]:
        await self._wait(
            lambda: len(self._kicks) >= n,
            timeout,
            lambda: f"{len(self._kicks)} of {n} drawer kicks",
        )
        return self.drawer_kicks()

    async def _wait(
        self,
        done: Callable[[], bool],
        timeout: float,  # noqa: ASYNC109
        progress: Callable[[], str],
    ) -> None:
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(done)
        except TimeoutError:
            raise TimeoutError(f"printer simulator: only {progress()} after {timeout}s") from None

    # -- connections -------------------------------------------------------------------------

    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        peer = writer.get_extra_info("peername")
        try:
            async with self._busy:  # one job at a time, like the printer's single data port
                await self._pump(reader, writer)
        except (ConnectionError, TimeoutError) as err:
            log.info("printer simulator: connection from %s ended: %r", peer, err)
        except asyncio.CancelledError:
            pass  # stop() closes connections this way
        except Exception:  # one bad client must never take the printer down
            log.exception("printer simulator: error serving %s", peer)
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()
            self._clients.discard(task)

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        idle: bool = True,
        decoder: EscPosDecoder | None = None,
    ) -> None:
        decoder = decoder or self._decoder
        try:
            while True:
                if self.read_delay_s:
                    await asyncio.sleep(self.read_delay_s)
                async with asyncio.timeout(self.idle_timeout if idle else None):
                    data = await reader.read(4096 if self.read_delay_s else 65536)
                if not data:
                    return
                self.bytes_received += len(data)
                if self.silent:
                    continue  # hung: takes the bytes, prints nothing, answers nothing
                for event in decoder.feed(data):
                    if isinstance(event, Query):
                        writer.write(self._answer(event))
                        await writer.drain()
                    elif isinstance(event, Cut):
                        await self._finish(event.receipt)
                    else:
                        await self._kick(event)
        finally:
            decoder.end_of_stream()

    def _answer(self, query: Query) -> bytes:
        """Status bytes as Epson documents them (DLE EOT: bits 1 and 4 set, bits 0 and 7 clear)."""
        near_end = self.paper_near_end or self.paper_out  # both sensors trip when the roll is out
        n = query.n if query.command == "GS I" else query.n % 48
        if query.command == "DLE EOT":
            status = {
                1: (0x04 if self.drawer_open else 0) | (0 if self.ready else 0x08),
                2: (0x04 if self.cover_open else 0)
                | (0x20 if self.paper_out else 0)
                | (0x40 if self.offline else 0),
                3: 0x40 if self.offline else 0,
                4: (0x0C if near_end else 0) | (0x60 if self.paper_out else 0),
            }.get(n)
            return b"" if status is None else bytes([0x12 | status])
        if query.command in ("GS r", "ESC v") and n in (0, 1):  # paper sensor
            return bytes([(0x03 if near_end else 0) | (0x0C if self.paper_out else 0)])
        if (query.command == "GS r" and n == 2) or query.command == "ESC u":  # drawer sensor
            return bytes([0x01 if self.drawer_open else 0])
        if query.command == "GS I":  # printer ID: model, type, version, then strings
            ids = {1: b"\x20", 2: b"\x02", 3: b"\x10", 65: b"_SIM 1.0\x00", 66: b"_BitAgora\x00"}
            return ids.get(n if n > 64 else n % 48, b"")
        return b""

    async def _finish(self, receipt: PrintedReceipt) -> None:
        if not any(line.text.strip() for line in receipt.lines):
            return  # a cut with nothing printed since the last one leaves no receipt
        if self.paper_left is not None:
            if self.paper_left <= 0:
                self.paper_out = True  # the roll ran out during this receipt
            self.paper_left -= 1
        if not self.ready:
            self.dropped += 1
            log.warning("printer simulator: offline, receipt dropped (%d so far)", self.dropped)
            return
        receipt.cut_at = time.perf_counter()
        receipt.number = self._next_number
        self._next_number += 1
        receipt.path = self.out_dir / f"receipt-{receipt.number:06d}.txt"
        text = receipt.render(self.columns)
        await asyncio.to_thread(_write_atomic, receipt.path, text)
        async with self._changed:
            self._printed.append(receipt)
            self._changed.notify_all()

    async def _kick(self, kick: DrawerKick) -> None:
        if not kick.realtime and not self.ready:
            log.warning("printer simulator: offline, ESC p drawer kick ignored")
            return
        self._kick_count += 1
        entry = {"pin": kick.pin, "on_ms": kick.on_ms, "off_ms": kick.off_ms, "n": self._kick_count}
        await asyncio.to_thread(_append_line, self.out_dir / "drawer.jsonl", json.dumps(entry))
        async with self._changed:
            self._kicks.append(entry)
            self._changed.notify_all()


def _write_atomic(path: Path, text: str) -> None:
    # A reader polling the directory never sees a half-written receipt.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's options, for a CLI that nests it as a subcommand."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100, help="0 picks a free port")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("printer-out"),
        help="directory for receipt-NNNNNN.txt and drawer.jsonl",
    )
    parser.add_argument("--columns", type=int, default=48, help="48 for 80 mm, 32 for 58 mm")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or SIGINT; 1 when the address cannot be bound."""
    try:
        return asyncio.run(_serve(args.out, args.host, args.port, args.columns))
    except OSError as err:
        print(f"error: cannot listen on {args.host}:{args.port}: {err}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bitagora sim printer", description="ESC/POS receipt printer simulator on raw TCP"
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


async def _serve(out_dir: Path, host: str, port: int, columns: int) -> int:
    sim = PrinterSimulator(out_dir, host, port, columns=columns)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await sim.start()
    print(f"printer simulator listening on {host}:{sim.port}, receipts in {out_dir}", flush=True)
    try:
        await stopping.wait()
    finally:
        await sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
