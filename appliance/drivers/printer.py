"""Receipt printers: a ``Printer`` protocol and an ESC/POS network printer built on python-escpos.

``EscposNetworkPrinter`` opens one TCP connection per job (raw port 9100), checks the printer's
status with DLE EOT before printing, and closes again, so a printer that was power-cycled or
re-plugged between sales just works. python-escpos blocks, so every job runs in a worker thread,
and one lock keeps jobs from interleaving on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import textwrap
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from escpos.capabilities import get_profile
from escpos.constants import DC4, DLE, QR_ECLEVEL_M, RT_STATUS
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.printer import Dummy, Network

from appliance.core.receipt import Receipt, ReceiptLine

log = logging.getLogger(__name__)

T = TypeVar("T")

PAPER_STATES = ("ok", "near_end", "out", "unknown")

# Western European pages that have the euro sign, best first. Starting the job in one of them
# means python-escpos's automatic code page switching only kicks in for rarer characters.
PREFERRED_CODE_PAGES = ("CP858", "CP1252", "ISO_8859-15", "CP850", "CP437")


class PrinterError(Exception):
    """The printer could not do what was asked; the message says what to check."""


class PrinterOffline(PrinterError):
    """Not reachable, or reachable but offline (cover open, error)."""


class PaperOut(PrinterError):
    """The paper roll is empty (before the job, or it ran out during it)."""


@dataclass(frozen=True)
class PrinterStatus:
    online: bool
    paper: str  # one of PAPER_STATES; "unknown" when the printer does not answer DLE EOT


class Printer(Protocol):
    async def print_receipt(self, receipt: Receipt) -> None: ...

    async def kick_drawer(self, pin: int = 0, on_ms: int = 100, off_ms: int = 100) -> None: ...

    async def status(self) -> PrinterStatus: ...


class EscposNetworkPrinter:
    """An ESC/POS printer on raw TCP (Epson TM series, most 80/58 mm receipt printers)."""

    def __init__(
        self,
        host: str,
        port: int = 9100,
        width_chars: int = 48,
        profile: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if width_chars < 16:
            raise ValueError(f"width_chars must be at least 16, got {width_chars}")
        try:
            get_profile(profile)  # an unknown profile fails here, at start, not at the first sale
        except Exception as err:
            raise PrinterError(f"unknown python-escpos printer profile {profile!r}") from err
        self.host = host
        self.port = port
        self.width_chars = width_chars
        self.profile = profile
        self.timeout = timeout
        # A printer answers DLE EOT in milliseconds; one that never does should not stall a sale.
        self.status_timeout = min(timeout, 2.0)
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def print_receipt(self, receipt: Receipt) -> None:
        def job(printer: Network) -> None:
            before = self._read_status(printer)
            self._raise_unless_ready(before)
            compose_receipt(printer, receipt, self.width_chars)
            if before.paper == "unknown":
                return  # a printer that does not answer status queries: nothing more to learn
            if self._read_status(printer).paper == "out":
                raise PaperOut(
                    f"printer at {self.address} ran out of paper while printing; "
                    "the receipt may be incomplete"
                )

        await self._run(job)

    async def kick_drawer(self, pin: int = 0, on_ms: int = 100, off_ms: int = 100) -> None:
        if pin not in (0, 1):
            raise ValueError(f"drawer pin must be 0 or 1, got {pin}")
        for name, ms in (("on_ms", on_ms), ("off_ms", off_ms)):
            if not 2 <= ms <= 510:
                raise ValueError(f"drawer {name} must be 2..510 ms, got {ms}")

        def job(printer: Network) -> None:
            if self._read_status(printer).online:
                printer.cashdraw([27, ord("p"), pin, on_ms // 2, off_ms // 2])  # ESC p m t1 t2
                return
            # ESC p waits while the printer is offline (paper out, cover open) and the drawer would
            # stay shut; the real-time pulse DLE DC4 1 m t (t x 100 ms) is executed regardless.
            log.warning(
                "printer offline, opening the drawer with a real-time pulse",
                extra={"printer": self.address},
            )
            pulse = max(1, min(8, round(on_ms / 100)))
            printer._raw(DLE + DC4 + bytes([1, pin, pulse]))

        await self._run(job)

    async def status(self) -> PrinterStatus:
        return await self._run(self._read_status)

    # -- plumbing ----------------------------------------------------------------------------

    async def _run(self, job: Callable[[Network], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(self._connected, job)

    def _connected(self, job: Callable[[Network], T]) -> T:
        """Run job on a fresh connection (and a fresh python-escpos object, see compose_receipt)."""
        printer = Network(self.host, self.port, timeout=self.timeout, profile=self.profile)
        try:
            # Our own connect: Network.open() leaves the socket unclosed when connect fails.
            printer.device = socket.create_connection((self.host, self.port), self.timeout)
        except OSError as err:
            raise PrinterOffline(f"printer at {self.address} is not reachable: {err}") from err
        try:
            return job(printer)
        except OSError as err:  # timeouts, resets, broken pipes mid-job
            raise PrinterOffline(
                f"connection to printer at {self.address} failed: {err or type(err).__name__}"
            ) from err
        except EscposError as err:
            raise PrinterError(f"printer at {self.address}: {err}") from err
        finally:
            printer.close()

    def _raise_unless_ready(self, status: PrinterStatus) -> None:
        if status.paper == "out":
            raise PaperOut(f"printer at {self.address} is out of paper")
        if not status.online:
            raise PrinterOffline(f"printer at {self.address} is offline (cover open or error?)")

    def _read_status(self, printer: Network) -> PrinterStatus:
        """DLE EOT 1 (online) and 4 (paper). A printer that does not answer counts as online
        with paper "unknown": the connection itself worked."""
        state = self._query(printer, 1)
        paper = self._query(printer, 4) if state is not None else None
        if paper is None:
            paper_state = "unknown"
        elif paper & 0x60:
            paper_state = "out"
        elif paper & 0x0C:
            paper_state = "near_end"
        else:
            paper_state = "ok"
        return PrinterStatus(online=state is None or not state & 0x08, paper=paper_state)

    def _query(self, printer: Network, n: int) -> int | None:
        # Own decoding rather than python-escpos's paper_status(), which reports "paper adequate"
        # when nothing comes back.
        sock = printer.device
        sock.settimeout(self.status_timeout)
        try:
            raw: bytes = printer.query_status(RT_STATUS + bytes([n]))
        except TimeoutError:
            log.warning("printer did not answer DLE EOT %d", n, extra={"printer": self.address})
            return None
        finally:
            sock.settimeout(self.timeout)
        if not raw:
            raise PrinterOffline(f"printer at {self.address} closed the connection")
        byte = raw[-1]
        if byte & 0x93 != 0x12:  # Epson fixes bits 1 and 4 to 1, bits 0 and 7 to 0
            log.warning(
                "printer sent an invalid status byte 0x%02x for DLE EOT %d",
                byte,
                n,
                extra={"printer": self.address},
            )
            return None
        return byte


# -- layout ------------------------------------------------------------------------------------


def render_receipt(receipt: Receipt, width_chars: int = 48, profile: str | None = None) -> bytes:
    """The ESC/POS bytes for a receipt, without a printer (for tests, previews and benchmarks)."""
    dummy = Dummy(profile=profile)
    compose_receipt(dummy, receipt, width_chars)
    return bytes(dummy.output)


def compose_receipt(printer: Escpos, receipt: Receipt, width: int) -> None:
    """Send a receipt to a python-escpos printer object.

    Use a fresh printer object per job: python-escpos remembers the code page it last selected,
    while ESC @ resets the printer to CP437, so a reused object can print wrong accents.
    """
    r = receipt
    printer.hw("INIT")
    _select_code_page(printer)

    printer.set(align="center", bold=True, double_width=True, double_height=True)
    for row in _wrap(r.merchant, width // 2):
        printer.textln(row)
    printer.set(normal_textsize=True, bold=False)
    for line in r.header_lines:
        for row in _wrap(line, width):
            printer.textln(row)
    if r.copy:
        _banner(printer, "** COPY **")

    printer.set(align="left")
    printer.ln()
    for label, value in (("Sale", r.sale_id), ("Date", r.at_local), ("Staff", r.staff)):
        _rows(printer, _info(label, value, width))
    printer.textln("-" * width)
    for item in r.lines:
        _rows(printer, _item(item, width))
    printer.textln("-" * width)

    _rows(printer, _pair("Subtotal", r.subtotal, width))
    for tax in r.taxes:
        code = f"{_clean(tax.code)} " if tax.code else ""
        _rows(printer, _pair(f"{code}VAT {tax.rate} on {tax.gross}:", tax.tax, width))
    if len(r.taxes) > 1:
        _rows(printer, _pair("Tax total", r.tax, width))
    printer.set(bold=True, double_height=True)
    _rows(printer, _pair("TOTAL", r.total, width))
    printer.set(normal_textsize=True, bold=False)
    for method, amount in r.payments:
        _rows(printer, _pair(method, amount, width))
    if r.change:
        _rows(printer, _pair("Change", r.change, width))

    if r.footer_lines:
        printer.ln()
        printer.set(align="center")
        for line in r.footer_lines:
            for row in _wrap(line, width):
                printer.textln(row)
    printer.set(align="left")
    printer.ln()
    for row in _wrap(f"Journal #{r.journal_seq} sig {r.signature_short}", width):
        printer.textln(row)

    # Native QR (the printer draws it): the payload travels as data, and python-escpos cannot
    # center native codes itself, so alignment does it.
    printer.set(align="center")
    printer.qr(f"bitagora:{r.sale_id}:{r.journal_seq}", native=True, size=4, ec=QR_ECLEVEL_M)
    printer.ln()
    if r.copy:
        _banner(printer, "** COPY **")
    printer.set(align="left")
    printer.cut()


def _select_code_page(printer: Escpos) -> None:
    pages = printer.profile.get_code_pages()
    preferred = next((page for page in PREFERRED_CODE_PAGES if page in pages), None)
    if preferred:
        printer.charcode(preferred)  # sends ESC t n now ...
    printer.charcode("AUTO")  # ... and python-escpos switches pages from there when it must


def _banner(printer: Escpos, text: str) -> None:
    printer.set(align="center", bold=True, double_width=True, double_height=True)
    printer.textln(text)
    printer.set(normal_textsize=True, bold=False)


def _rows(printer: Escpos, rows: list[str]) -> None:
    for row in rows:
        printer.textln(row)


def _clean(text: str) -> str:
    """One printable line: composed accents (one code page byte each), no control characters,
    so a product name can never smuggle printer commands (an ESC p in a name opens the drawer)."""
    text = unicodedata.normalize("NFC", text)
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text).strip()


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(_clean(text), width, break_on_hyphens=False) or [""]


def _truncate(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    if width < 2:
        return text[: max(width, 0)]
    return text[: width - 1].rstrip() + "."


def _pair(left: str, right: str, width: int) -> list[str]:
    """Label left, amount right; the label gives way, never the amount."""
    left, right = _clean(left), _clean(right)
    gap = width - len(left) - len(right)
    if gap >= 1:
        return [left + " " * gap + right]
    room = width - len(right) - 1
    if room >= 6:
        return [_truncate(left, room) + " " + right]
    return [*_wrap(left, width), right.rjust(width)]


def _info(label: str, value: str, width: int) -> list[str]:
    """A label and an identifier; an identifier that does not fit goes on its own lines, whole."""
    label, value = _clean(label), _clean(value)
    if len(label) + 1 + len(value) <= width:
        return [label + " " * (width - len(label) - len(value)) + value]
    return [label, *(value[i : i + width] for i in range(0, len(value), width))]


def _item(line: ReceiptLine, width: int) -> list[str]:
    """ "2 x Espresso @ €2.50      €5.00 A": the name is shortened before anything else."""
    amount = _clean(line.amount) + (f" {_clean(line.tax_code)}" if line.tax_code else "")
    qty = f"{line.quantity} x " if line.quantity != 1 else ""
    unit = f" @ {_clean(line.unit_price)}" if line.quantity != 1 else ""
    name = _clean(line.name)
    room = width - len(qty) - len(amount) - 1
    if len(name) + len(unit) <= room:
        text = qty + name + unit
        return [text + " " * (width - len(text) - len(amount)) + amount]
    text = qty + _truncate(name, room)
    rows = [text + " " * (width - len(text) - len(amount)) + amount]
    if unit:
        rows.append(f"    @ {_clean(line.unit_price)}")  # unit price on its own line
    return rows
