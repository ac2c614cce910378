"""Receipt printers: a ``Printer`` protocol and ESC/POS printers built on python-escpos.

One class per way a printer can be attached, chosen by config (``printer_from_settings``):
``EscposNetworkPrinter`` (raw TCP 9100), ``EscposUsbPrinter`` (libusb, vendor/product id),
``EscposSerialPrinter`` (RS-232 or USB-serial) and ``EscposFilePrinter`` (a device node such as
``/dev/usb/lp0``, written blind: it cannot answer status queries).

Every job opens the printer, asks its status with DLE EOT where the link can read (network,
serial, USB), sends the whole job as one write, asks again, and closes; so a printer that was
power-cycled or re-plugged between sales just works. python-escpos blocks, so every job runs in a
worker thread, and one lock keeps jobs from interleaving on the wire.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import textwrap
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from appliance.core.receipt import Receipt, ReceiptLine, ReportPrintout
from appliance.i18n import SOURCE_LANGUAGE, _, check_language, translations

if TYPE_CHECKING:
    from escpos.escpos import Escpos

# python-escpos is imported where it is used: importing it parses its printer database, which
# a kiosk should not pay for before its first screen.

log = logging.getLogger(__name__)

T = TypeVar("T")

PAPER_STATES = ("ok", "near_end", "out", "unknown")

# The code pages a job starts in, by the shop's language, best first (those the printer's
# python-escpos capability profile lists): Western European pages with the euro sign, and for
# Brazil, paying in reais, the Portuguese page. Starting in one of them means python-escpos's
# automatic code page switching only kicks in for rarer characters.
WESTERN_PAGES = ("CP858", "CP1252", "ISO_8859-15", "CP850", "CP437")
CODE_PAGES = {
    "en": WESTERN_PAGES,
    "es": WESTERN_PAGES,
    "pt_PT": WESTERN_PAGES,
    "pt_BR": ("CP860", *WESTERN_PAGES),
}

# What a test page prints to show the code page works: Spanish and Portuguese, and the euro.
ACCENT_SAMPLE = "ñ á é í ó ú ü ç ã õ ê ô à ¿ ¡ €  Ñ Á É Í Ó Ú Ü Ç Ã Õ Ê Ô À"


class PrinterError(Exception):
    """The printer could not do what was asked; the message says what to check."""


class PrinterOffline(PrinterError):
    """Not reachable, or reachable but offline (cover open, error)."""


class PaperOut(PrinterError):
    """The paper roll is empty (before the job, or it ran out during it)."""


class PrinterUnreachable(PrinterOffline):
    """The link to the printer cannot be opened (no answer on the network, device unplugged)."""


class PrinterNameUnknown(PrinterUnreachable):
    """The printer's host name does not resolve: a setting to fix, not a cable to check."""


class CoverOpen(PrinterOffline):
    """The printer's cover is open (it is offline until it is closed)."""


@dataclass(frozen=True)
class PrinterStatus:
    online: bool
    paper: str  # one of PAPER_STATES; "unknown" when the printer does not answer DLE EOT
    cover_open: bool = False
    # False when nothing was learnt from the printer itself: a backend that cannot read (file)
    # or a printer that never answers DLE EOT. ``online`` then only means "the link opened".
    known: bool = True

    @classmethod
    def after(cls, err: PrinterError) -> PrinterStatus:
        """What a failed print or check tells of the printer."""
        paper = "out" if isinstance(err, PaperOut) else "unknown"
        return cls(False, paper, cover_open=isinstance(err, CoverOpen), known=False)

    def reported(self) -> dict[str, Any]:
        """The printer's part of the heartbeat (docs/PROTOCOL.md), left in the store."""
        return {"online": self.online, "paper": self.paper, "cover_open": self.cover_open}

    @property
    def ready(self) -> bool:
        """Able to print now, as far as the printer says."""
        return self.online and self.paper != "out" and not self.cover_open

    @property
    def problem(self) -> str | None:
        """What staff should see while the printer cannot print; None when it can."""
        if self.paper == "out":
            return _("Printer out of paper")
        if self.cover_open:
            return _("Printer cover open")
        if not self.online:
            return _("Printer offline")
        return None

    @property
    def warning(self) -> str | None:
        """Worth telling staff even though printing works."""
        return _("Printer paper running low") if self.paper == "near_end" else None


class Printer(Protocol):
    @property
    def address(self) -> str: ...

    async def print_receipt(self, receipt: Receipt) -> PrinterStatus: ...

    async def print_report(self, report: ReportPrintout) -> PrinterStatus: ...

    async def print_test_page(self) -> PrinterStatus: ...

    async def kick_drawer(self, pin: int = 0, on_ms: int = 100, off_ms: int = 100) -> None: ...

    async def status(self) -> PrinterStatus: ...


class EscposPrinter:
    """What every python-escpos backend shares: rendering, the job protocol and DLE EOT.

    A backend says how to open its link (``_open``), how to read an answer (``_answer``, None
    when nothing came back in time) and whether it can read at all (``reads_status``).
    """

    kind = "escpos"
    reads_status = True

    def __init__(
        self,
        width_chars: int = 48,
        profile: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        """Receipts and reports are printed in the language each says it is in (the shop's,
        docs/TRANSLATING.md), which also picks the code page the job starts in (CODE_PAGES)."""
        if width_chars < 16:
            raise ValueError(f"width_chars must be at least 16, got {width_chars}")
        try:
            if profile is not None:  # the default profile always exists
                from escpos.capabilities import get_profile

                get_profile(profile)  # an unknown profile fails at start, not at the first sale
        except Exception as err:
            raise PrinterError(f"unknown python-escpos printer profile {profile!r}") from err
        self.width_chars = width_chars
        self.profile = profile
        self.timeout = timeout
        # A printer answers DLE EOT in milliseconds; one that never does should not stall a sale.
        self.status_timeout = min(timeout, 2.0)
        # Some print servers pass data through and never answer DLE EOT: such a printer prints
        # with paper "unknown". One that has answered before and falls silent is hung, not that.
        self._answered = False
        self._lock = asyncio.Lock()

    @property
    def address(self) -> str:
        raise NotImplementedError

    def describe(self) -> str:
        """For technicians: backend, address, paper width and profile."""
        mm = 80 if self.width_chars >= 42 else 58
        return f"{self.kind} printer {self.address}, {mm} mm, profile {self.profile or 'default'}"

    def render(self, receipt: Receipt) -> bytes:
        return render_receipt(receipt, self.width_chars, self.profile)

    async def print_receipt(self, receipt: Receipt) -> PrinterStatus:
        return await self.print_bytes(self.render(receipt))

    async def print_report(self, report: ReportPrintout) -> PrinterStatus:
        """An X or Z report, in its own layout (``compose_report``)."""
        return await self.print_bytes(render_report(report, self.width_chars, self.profile))

    async def print_test_page(self) -> PrinterStatus:
        """A page for the technician: backend, width ruler, accents through the code page, QR."""
        return await self.print_bytes(
            render_test_page(self.describe(), self.width_chars, self.profile)
        )

    async def print_bytes(self, data: bytes) -> PrinterStatus:
        """Send one rendered job. Returns once the printer took every byte and, where it can
        answer, reported after the job that it is still fine (so the paper did not run out);
        the status returned is the one after the job."""

        def job(printer: Escpos) -> PrinterStatus:
            before = self._read_status(printer)
            self._raise_unless_ready(before)
            self._write(printer, data)
            if not before.known:
                return before  # a printer that does not answer status: nothing more to learn
            after = self._read_status(printer)
            if after.paper == "out":
                raise PaperOut(
                    f"printer at {self.address} ran out of paper while printing; "
                    "the receipt may be incomplete"
                )
            self._raise_unless_ready(after)
            return after

        return await self._run(job)

    async def kick_drawer(self, pin: int = 0, on_ms: int = 100, off_ms: int = 100) -> None:
        if pin not in (0, 1):
            raise ValueError(f"drawer pin must be 0 or 1, got {pin}")
        for name, ms in (("on_ms", on_ms), ("off_ms", off_ms)):
            if not 2 <= ms <= 510:
                raise ValueError(f"drawer {name} must be 2..510 ms, got {ms}")

        def job(printer: Escpos) -> None:
            if self._read_status(printer).online:
                printer.cashdraw([27, ord("p"), pin, on_ms // 2, off_ms // 2])  # ESC p m t1 t2
                return
            # ESC p waits while the printer is offline (paper out, cover open) and the drawer would
            # stay shut; the real-time pulse DLE DC4 1 m t (t x 100 ms) is executed regardless.
            log.warning(
                "printer offline, opening the drawer with a real-time pulse",
                extra={"printer": self.address},
            )
            from escpos.constants import DC4, DLE

            pulse = max(1, min(8, round(on_ms / 100)))
            printer._raw(DLE + DC4 + bytes([1, pin, pulse]))

        await self._run(job)

    async def status(self) -> PrinterStatus:
        return await self._run(self._read_status)

    # -- what a backend provides -------------------------------------------------------------

    def _open(self) -> Escpos:
        """An opened python-escpos printer; PrinterOffline when the link cannot be opened."""
        raise NotImplementedError

    def _answer(self, printer: Escpos, query: bytes) -> bytes | None:
        """Send a status query and read the answer; None when none came in time."""
        raise NotImplementedError

    def _write(self, printer: Escpos, data: bytes) -> None:
        printer._raw(data)

    # -- plumbing ----------------------------------------------------------------------------

    async def _run(self, job: Callable[[Escpos], T]) -> T:
        async with self._lock:
            return await asyncio.to_thread(self._connected, job)

    def _connected(self, job: Callable[[Escpos], T]) -> T:
        """Run job on a freshly opened link (and a fresh python-escpos object)."""
        from escpos.exceptions import Error as EscposError

        printer = self._open()
        try:
            return job(printer)
        except OSError as err:  # timeouts, resets, broken pipes, unplugged devices mid-job
            raise PrinterOffline(
                f"connection to printer at {self.address} failed: {err or type(err).__name__}"
            ) from err
        except EscposError as err:
            raise PrinterError(f"printer at {self.address}: {err}") from err
        finally:
            try:
                printer.close()
            except Exception as err:  # closing a link that already broke
                log.debug("closing the printer link failed: %r", err)

    def _raise_unless_ready(self, status: PrinterStatus) -> None:
        if status.paper == "out":
            raise PaperOut(f"printer at {self.address} is out of paper")
        if status.cover_open:
            raise CoverOpen(f"printer at {self.address} has its cover open")
        if not status.online:
            raise PrinterOffline(f"printer at {self.address} is offline (cover open or error?)")

    def _read_status(self, printer: Escpos) -> PrinterStatus:
        """DLE EOT 1 (online), 2 (why offline, asked only then) and 4 (paper sensors)."""
        if not self.reads_status:
            return PrinterStatus(online=True, paper="unknown", known=False)
        state = self._query(printer, 1)
        if state is None:
            if self._answered:
                raise PrinterOffline(f"printer at {self.address} stopped answering status queries")
            return PrinterStatus(online=True, paper="unknown", known=False)
        self._answered = True
        online = not state & 0x08
        cause = self._query(printer, 2) if not online else None
        paper = self._query(printer, 4)
        if paper is None:
            paper_state = "unknown"
        elif paper & 0x60:
            paper_state = "out"
        elif paper & 0x0C:
            paper_state = "near_end"
        else:
            paper_state = "ok"
        cover_open = cause is not None and bool(cause & 0x04)
        return PrinterStatus(online=online, paper=paper_state, cover_open=cover_open)

    def _query(self, printer: Escpos, n: int) -> int | None:
        # Own decoding rather than python-escpos's paper_status(), which reports "paper adequate"
        # when nothing comes back.
        from escpos.constants import RT_STATUS

        raw = self._answer(printer, RT_STATUS + bytes([n]))
        if raw is None:
            log.warning("printer did not answer DLE EOT %d", n, extra={"printer": self.address})
            return None
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


class EscposNetworkPrinter(EscposPrinter):
    """An ESC/POS printer on raw TCP (Epson TM series, most 80/58 mm receipt printers)."""

    kind = "network"

    def __init__(
        self,
        host: str,
        port: int = 9100,
        width_chars: int = 48,
        profile: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(width_chars, profile, timeout)
        self.host = host
        self.port = port

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def _open(self) -> Escpos:
        from escpos.printer import Network

        printer = Network(self.host, self.port, timeout=self.timeout, profile=self.profile)
        try:
            # Our own connect: Network.open() leaves the socket unclosed when connect fails.
            sock = socket.create_connection((self.host, self.port), self.timeout)
        except socket.gaierror as err:
            raise PrinterNameUnknown(
                f"printer host {self.host!r} does not resolve to an address ({err.strerror}): "
                "check the name's spelling, or give the printer's IP address"
            ) from err
        except OSError as err:
            raise PrinterUnreachable(f"printer at {self.address} is not reachable: {err}") from err
        # The 3-byte status query after a job must not wait for the job's ACK (Nagle against
        # delayed ACK costs ~40 ms a job on Linux).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        printer.device = sock
        return printer

    def _answer(self, printer: Escpos, query: bytes) -> bytes | None:
        sock: socket.socket = printer.device
        printer._raw(query)
        sock.settimeout(self.status_timeout)
        try:
            raw = sock.recv(16)
        except TimeoutError:
            return None
        finally:
            sock.settimeout(self.timeout)
        if not raw:
            raise PrinterOffline(f"printer at {self.address} closed the connection")
        return raw


class EscposSerialPrinter(EscposPrinter):
    """A printer on a serial line (RS-232, or a USB-serial adapter such as /dev/ttyUSB0)."""

    kind = "serial"

    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        flow: str = "dsrdtr",
        width_chars: int = 48,
        profile: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        if flow not in ("dsrdtr", "rtscts", "xonxoff", "none"):
            raise ValueError(f"serial flow control must be dsrdtr, rtscts, xonxoff or none: {flow}")
        super().__init__(width_chars, profile, timeout)
        self.port = port
        self.baudrate = baudrate
        self.flow = flow

    @property
    def address(self) -> str:
        return f"{self.port}@{self.baudrate}"

    def _open(self) -> Escpos:
        try:
            from escpos.exceptions import Error as EscposError
            from escpos.printer import Serial
            from serial import SerialException
        except ImportError as err:  # pragma: no cover - pyserial is a dependency
            raise PrinterOffline(f"serial printers need pyserial: {err}") from err
        printer = Serial(
            self.port,
            baudrate=self.baudrate,
            timeout=self.timeout,
            xonxoff=self.flow == "xonxoff",
            dsrdtr=self.flow == "dsrdtr",
            profile=self.profile,
        )
        try:
            printer.open()
            device: Any = printer.device
            if self.flow == "rtscts":
                device.rtscts = True
            device.write_timeout = self.timeout
            device.reset_input_buffer()  # a late answer to an earlier query is not this one's
        except (EscposError, SerialException, OSError) as err:
            raise PrinterUnreachable(
                f"serial printer {self.address} cannot be opened: {err}"
            ) from err
        return printer

    def _answer(self, printer: Escpos, query: bytes) -> bytes | None:
        device: Any = printer.device
        printer._raw(query)
        device.timeout = self.status_timeout
        try:
            raw: bytes = device.read(1)  # read(16) would wait out the timeout for 15 more
        finally:
            device.timeout = self.timeout
        return raw or None

    def _write(self, printer: Escpos, data: bytes) -> None:
        printer._raw(data)
        device: Any = printer.device
        device.flush()  # back only once the bytes left the port


class EscposUsbPrinter(EscposPrinter):
    """A printer on USB, driven through libusb (python-escpos ``Usb``) by vendor and product id.

    Needs read/write access to the device node (a udev rule) and detaches the kernel's usblp
    driver; a printer that the kernel already exposes as /dev/usb/lp0 can be used as ``file``.
    """

    kind = "usb"

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
        width_chars: int = 48,
        profile: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(width_chars, profile, timeout)
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.in_ep = in_ep
        self.out_ep = out_ep

    @property
    def address(self) -> str:
        return f"{self.vendor_id:04x}:{self.product_id:04x}"

    def _open(self) -> Escpos:
        try:
            from escpos.printer import Usb
        except ImportError as err:  # pragma: no cover - pyusb is a dependency
            raise PrinterOffline(f"USB printers need pyusb: {err}") from err
        printer = Usb(
            self.vendor_id,
            self.product_id,
            timeout=int(self.timeout * 1000),
            in_ep=self.in_ep,
            out_ep=self.out_ep,
            profile=self.profile,
        )
        try:
            printer.open()
        except Exception as err:  # DeviceNotFoundError, usb.core.NoBackendError (no libusb), ...
            raise PrinterUnreachable(
                f"USB printer {self.address} not found or not usable: "
                f"{str(err).strip() or type(err).__name__}"
            ) from err
        return printer

    def _answer(self, printer: Escpos, query: bytes) -> bytes | None:
        import usb.core

        printer._raw(query)
        device: Any = printer.device
        try:
            return bytes(device.read(self.in_ep, 16, int(self.status_timeout * 1000))) or None
        except usb.core.USBTimeoutError:
            return None
        except usb.core.USBError as err:
            raise PrinterOffline(f"USB printer {self.address}: {err}") from err


class EscposFilePrinter(EscposPrinter):
    """A printer the kernel exposes as a file (/dev/usb/lp0, a parallel port): write only.

    Nothing can be read back, so its status is always "unknown" and a job counts as printed once
    the kernel took the bytes."""

    kind = "file"
    reads_status = False

    def __init__(
        self,
        path: str,
        width_chars: int = 48,
        profile: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(width_chars, profile, timeout)
        self.path = path

    @property
    def address(self) -> str:
        return self.path

    def _open(self) -> Escpos:
        from escpos.printer import File

        printer = File(self.path, profile=self.profile)
        try:
            # Append, unbuffered: a device node does not care, and a plain file (for a trial
            # without a printer) keeps every job instead of only the last.
            printer.device = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as err:
            raise PrinterUnreachable(f"printer device {self.path} cannot be opened: {err}") from err
        return printer

    def _answer(self, printer: Escpos, query: bytes) -> bytes | None:
        return None  # pragma: no cover - reads_status is False


# -- layout ------------------------------------------------------------------------------------


def render_receipt(receipt: Receipt, width_chars: int = 48, profile: str | None = None) -> bytes:
    """The ESC/POS bytes for a receipt, without a printer (for tests, previews and benchmarks)."""
    from escpos.printer import Dummy

    dummy = Dummy(profile=profile)
    compose_receipt(dummy, receipt, width_chars)
    return bytes(dummy.output)


def render_report(
    report: ReportPrintout, width_chars: int = 48, profile: str | None = None
) -> bytes:
    """The ESC/POS bytes for an X or Z report, without a printer."""
    from escpos.printer import Dummy

    dummy = Dummy(profile=profile)
    compose_report(dummy, report, width_chars)
    return bytes(dummy.output)


def render_test_page(description: str, width_chars: int = 48, profile: str | None = None) -> bytes:
    """A technician's test page: what is attached, a ruler of the line width, the accents the
    shops need (through the code page), a QR code and a cut."""
    from escpos.constants import QR_ECLEVEL_M
    from escpos.printer import Dummy

    printer = Dummy(profile=profile)
    printer.hw("INIT")
    _select_code_page(printer)
    _banner(printer, "TEST PAGE")
    printer.set(align="left")
    for row in _wrap(description, width_chars):
        printer.textln(row)
    printer.textln(datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z"))
    printer.textln(("0123456789" * ((width_chars + 9) // 10))[:width_chars])
    for row in _wrap(ACCENT_SAMPLE, width_chars):
        printer.textln(row)
    printer.set(align="center")
    printer.qr("bitagora:test-page", native=True, size=4, ec=QR_ECLEVEL_M)
    printer.ln()
    printer.set(align="left")
    printer.cut()
    return bytes(printer.output)


def _head(
    printer: Escpos, merchant: str, header_lines: Sequence[str], width: int, language: str
) -> None:
    """Every printout's start: the printer reset to the language's code page, the shop's name
    large and centred, then its header lines."""
    printer.hw("INIT")
    _select_code_page(printer, language)
    printer.set(align="center", bold=True, double_width=True, double_height=True)
    for row in _wrap(merchant, width // 2):
        printer.textln(row)
    printer.set(normal_textsize=True, bold=False)
    for line in header_lines:
        for row in _wrap(line, width):
            printer.textln(row)


def compose_receipt(printer: Escpos, receipt: Receipt, width: int) -> None:
    """Send a receipt to a python-escpos printer object, in the receipt's language.

    Use a fresh printer object per job: python-escpos remembers the code page it last selected,
    while ESC @ resets the printer to CP437, so a reused object can print wrong accents.
    """
    from escpos.constants import QR_ECLEVEL_M

    r = receipt
    language = check_language(r.language)
    _ = translations(language).gettext
    _head(printer, r.merchant, r.header_lines, width, language)
    if r.title:
        _banner(printer, f"** {r.title} **")
    if r.copy:
        _banner(printer, _("** COPY **"))
    if r.training:
        _training_banner(printer, _)

    printer.set(align="left")
    printer.ln()
    # Translators: who served the customer, on a receipt or report ("Atendido por", "Operador")
    served_by = translations(language).pgettext("printout", "Staff")
    for label, value in ((_("Sale"), r.sale_id), (_("Date"), r.at_local), (served_by, r.staff)):
        _rows(printer, _info(label, value, width))
    printer.textln("-" * width)
    for item in r.lines:
        _rows(printer, _item(item, width))
    printer.textln("-" * width)

    _rows(printer, _pair(_("Subtotal"), r.subtotal, width))
    for tax in r.taxes:
        code = f"{_clean(tax.code)} " if tax.code else ""
        vat = _("VAT {rate} on {gross}:").format(rate=tax.rate, gross=tax.gross)
        _rows(printer, _pair(code + vat, tax.tax, width))
    if len(r.taxes) > 1:
        _rows(printer, _pair(_("Tax total"), r.tax, width))
    printer.set(bold=True, double_height=True)
    _rows(printer, _pair(_("TOTAL"), r.total, width))
    printer.set(normal_textsize=True, bold=False)
    if r.rounding:
        # Translators: cash rounding on a receipt: the total rounded to the coins in use
        _rows(printer, _pair(_("Rounding"), r.rounding, width))
    for method, amount in r.payments:
        _rows(printer, _pair(method, amount, width))
    if r.change:
        _rows(printer, _pair(_("Change"), r.change, width))

    if r.footer_lines:
        printer.ln()
        printer.set(align="center")
        for line in r.footer_lines:
            for row in _wrap(line, width):
                printer.textln(row)
    printer.set(align="left")
    printer.ln()
    for row in _wrap(_signed(_, r.journal_seq, r.signature_short), width):
        printer.textln(row)
    if r.copy and r.reprint_seq is not None:
        copied = _("Copy printed {at}, journal #{seq}")
        for row in _wrap(copied.format(at=r.reprint_at_local, seq=r.reprint_seq), width):
            printer.textln(row)
    elif r.copy and r.reprint_at_local:  # printed again because the till stopped mid-print
        copied = _("Copy printed {at} after a restart")
        for row in _wrap(copied.format(at=r.reprint_at_local), width):
            printer.textln(row)

    # Native QR (the printer draws it): the payload travels as data, and python-escpos cannot
    # center native codes itself, so alignment does it.
    printer.set(align="center")
    printer.qr(f"bitagora:{r.sale_id}:{r.journal_seq}", native=True, size=4, ec=QR_ECLEVEL_M)
    printer.ln()
    if r.copy:
        _banner(printer, _("** COPY **"))
    if r.training:
        _training_banner(printer, _)
    printer.set(align="left")
    printer.cut()


def compose_report(printer: Escpos, report: ReportPrintout, width: int) -> None:
    """Send an X or Z report, in its language: the shop, the report's name as a banner, when
    and by whom, then each section's figures label left, amount right. A Z (a signed record)
    ends with its journal number and signature; an X, journalled nowhere, with none. No QR
    code: a report is not a sale to look up."""
    r = report
    language = check_language(r.language)
    _ = translations(language).gettext
    _head(printer, r.merchant, r.header_lines, width, language)
    _banner(printer, r.title)
    printer.set(align="left")
    printer.ln()
    _rows(printer, _info(_("Date"), r.at_local, width))
    _rows(printer, _info(translations(language).pgettext("printout", "Staff"), r.staff, width))
    if r.period:
        _rows(printer, _info(_("Period"), r.period, width))
    for section in r.sections:
        printer.textln("-" * width)
        printer.set(bold=True)
        printer.textln(_truncate(_clean(section.title), width))
        printer.set(bold=False)
        for label, value in section.rows:
            pad = " " * (len(label) - len(label.lstrip()))  # a row under a heading row
            rows = _pair(label, value, width - len(pad)) if value else _wrap(label, width)
            _rows(printer, [pad + row for row in rows])
    printer.textln("-" * width)
    if r.notes:
        printer.set(align="center")
        for note in r.notes:
            for row in _wrap(note, width):
                printer.textln(row)
        printer.set(align="left")
    if r.journal_seq is not None:
        printer.ln()
        for row in _wrap(_signed(_, r.journal_seq, r.signature_short), width):
            printer.textln(row)
    printer.ln()
    printer.cut()


def _select_code_page(printer: Escpos, language: str = SOURCE_LANGUAGE) -> None:
    pages = printer.profile.get_code_pages()
    preferred = next((page for page in CODE_PAGES[language] if page in pages), None)
    if preferred:
        printer.charcode(preferred)  # sends ESC t n now ...
    printer.charcode("AUTO")  # ... and python-escpos switches pages from there when it must


def _signed(_: Callable[[str], str], seq: int, signature: str) -> str:
    return _("Journal #{seq} sig {signature}").format(seq=seq, signature=signature)


def _training_banner(printer: Escpos, _: Callable[[str], str]) -> None:
    """A practice sale's receipt says so at the top and the bottom, big."""
    _banner(printer, _("** TRAINING **"))
    printer.set(align="center")
    printer.textln(_("Not a sale: no money was taken"))


def _banner(printer: Escpos, text: str) -> None:
    printer.set(align="center", bold=True, double_width=True, double_height=True)
    printer.textln(text)
    printer.set(normal_textsize=True, bold=False)


def _rows(printer: Escpos, rows: list[str]) -> None:
    for row in rows:
        printer.textln(row)


def _clean(text: str) -> str:
    """One printable line: composed accents (one code page byte each), no control characters,
    so a product name can never smuggle printer commands (an ESC p in a name opens the drawer);
    the no-break spaces locales put in amounts ("1,80\u00a0€") as plain ones, which every code
    page has."""
    text = unicodedata.normalize("NFC", text)
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zs") else ch for ch in text).strip()


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
