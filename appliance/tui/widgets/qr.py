"""QR codes on the kiosk screen, for the bitcoin pay screen: drawn with half blocks, dark on light.

Each text line holds two rows of modules: "▀" is dark above, "▄" dark below, "█" both and " "
neither. Dark modules are the *foreground* colour, so the widget sets its own colours (black on
white): phones do not scan an inverted code, which is what a dark terminal would otherwise show.

``render_qr`` is the pure part (qrcode, no Textual); ``QrCode`` is the widget. Give it
``qr_payload(uri)`` rather than the raw URI: the code comes out smaller.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

import qrcode
from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q
from qrcode.exceptions import DataOverflowError
from textual import events
from textual.content import Content
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from appliance.i18n import _
from appliance.tui.widgets import tcss

ErrorCorrection = Literal["L", "M", "Q", "H"]

_ERROR_CORRECTION: dict[str, int] = {
    "L": ERROR_CORRECT_L,
    "M": ERROR_CORRECT_M,
    "Q": ERROR_CORRECT_Q,
    "H": ERROR_CORRECT_H,
}

# Light modules around the code. The spec asks for 4; 2 is enough for phone scanners when the code
# sits on a light background, and it saves 2 lines and 4 columns on a small screen.
DEFAULT_QUIET = 2

# qrcode's mode mixing: runs of at least this many digits (or alphanumeric characters) get their
# own numeric (alphanumeric) segment, the rest is bytes. Shorter runs cost more in segment headers
# than they save (measured on unified BIP21 URIs; 20 is also qrcode's default).
OPTIMIZE_MIN_RUN = 20

# (top module dark, bottom module dark) -> character; dark is drawn in the foreground colour.
_HALF_BLOCKS = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


class QrError(ValueError):
    """A payload that cannot be drawn as a QR code (too long, even at version 40)."""


@dataclass(frozen=True)
class QrText:
    """A QR code as text lines of half blocks, the quiet zone included."""

    lines: tuple[str, ...]
    version: int
    modules: int  # per side, without the quiet zone
    quiet: int

    @property
    def width(self) -> int:
        """Cells across: one per module."""
        return self.modules + 2 * self.quiet

    @property
    def height(self) -> int:
        """Lines: two modules each, the last one half light when the module count is odd."""
        return (self.width + 1) // 2

    @property
    def size(self) -> Size:
        return Size(self.width, self.height)

    def __str__(self) -> str:
        return "\n".join(self.lines)


@functools.lru_cache(maxsize=8)
def render_qr(
    payload: str, *, quiet: int = DEFAULT_QUIET, error_correction: ErrorCorrection = "M"
) -> QrText:
    """``payload`` as a QR code of the smallest version that holds it, in half blocks.

    Kept for the last few payloads (a ``QrText`` never changes): qrcode takes 10-50 ms for a
    Lightning invoice, so the pay screen draws its code ahead in a thread (``QrCode.prepare``)
    while the offer is committed, and the widget then finds it here."""
    if quiet < 0:
        raise ValueError(f"the quiet zone cannot be negative, got {quiet}")
    code = qrcode.QRCode(error_correction=_ERROR_CORRECTION[error_correction], border=quiet)
    code.add_data(payload, optimize=OPTIMIZE_MIN_RUN)
    try:
        code.make(fit=True)
    except (DataOverflowError, ValueError):  # qrcode 8.2 says "Invalid version (was 41 ...)"
        raise QrError(f"{len(payload)} characters do not fit in one QR code") from None
    matrix = code.get_matrix()  # quiet zone included
    if len(matrix) % 2:
        matrix.append([False] * len(matrix))
    lines = tuple(
        "".join(_HALF_BLOCKS[top, bottom] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(matrix[::2], matrix[1::2], strict=True)
    )
    return QrText(lines, code.version, code.modules_count, quiet)


_SCHEME = re.compile(r"^(bitcoin|lightning):", re.IGNORECASE)
_BECH32_ADDRESS = re.compile(r"^(bc|tb|bcrt)1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$", re.IGNORECASE)
# A BOLT11 invoice or an LNURL: bech32, human-readable part, "1", data (no checksum check here).
_BECH32_LIGHTNING = re.compile(r"^ln[a-z0-9]*1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]+$", re.IGNORECASE)


def _upper_bech32(text: str, pattern: re.Pattern[str]) -> str:
    # Bech32 is case-insensitive but never mixed-case: a mixed-case string stays as it is (wrong),
    # rather than being made valid here.
    if pattern.match(text) and text in (text.lower(), text.upper()):
        return text.upper()
    return text


def qr_payload(uri: str) -> str:
    """A BIP21 or ``lightning:`` URI as it is best put in a QR code: the scheme, a bech32
    address and a Lightning invoice in upper case, everything else as it was.

    Why: QR's alphanumeric mode (11 bits for 2 characters, against 16 in byte mode) has digits,
    upper-case letters and " $%*+-./:" only. Bech32 and URI schemes are case-insensitive, so in
    upper case the address and invoice (most of a unified URI) are long alphanumeric runs and the
    code is a version or two smaller, which is easier to scan from a screen. BTCPay Server's
    unified QR codes do the same. Base58 addresses are case-sensitive and parameter values such
    as ``label`` are the shop's own text: they are left alone.
    """
    match = _SCHEME.match(uri)
    if match is None:
        return uri
    scheme, rest = match.group(1).lower(), uri[match.end() :]
    if scheme == "lightning":
        return "LIGHTNING:" + _upper_bech32(rest, _BECH32_LIGHTNING)
    address, question, query = rest.partition("?")
    params = []
    for param in query.split("&") if question else []:
        name, equals, value = param.partition("=")
        if equals and name.lower() == "lightning":
            value = _upper_bech32(value, _BECH32_LIGHTNING)
        params.append(name + equals + value)
    return "BITCOIN:" + _upper_bech32(address, _BECH32_ADDRESS) + question + "&".join(params)


class QrCode(Widget):
    """Shows ``payload`` as a QR code, black on white, at one cell per module.

    The widget is as big as the code (``cells``) unless its container is smaller. Then it draws
    the first of ``fallbacks`` (shorter payloads, e.g. one payment rail of a unified URI) that
    fits, and when none does, a one-line "too small" message: never a cropped code, which no
    phone could read.
    """

    DEFAULT_CSS = tcss(__file__)

    payload: reactive[str] = reactive("", layout=True)
    fallbacks: reactive[tuple[str, ...]] = reactive((), layout=True)

    class Shown(Message):
        """Another payload's code is drawn (``shown``; None: no code), e.g. after a resize."""

        def __init__(self, qr: QrCode, shown: str | None) -> None:
            super().__init__()
            self.qr = qr
            self.shown = shown

        @property
        def control(self) -> QrCode:
            return self.qr

    def __init__(
        self,
        payload: str = "",
        *,
        quiet: int = DEFAULT_QUIET,
        error_correction: ErrorCorrection = "M",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.quiet = quiet
        self.error_correction: ErrorCorrection = error_correction
        self._codes: list[QrText] = []  # the payload's code first, then the fallbacks' that fit
        self._error: str | None = None
        self._shown: str | None = None
        self.set_reactive(QrCode.payload, payload)
        self._draw(payload, ())

    def _draw(self, payload: str, fallbacks: tuple[str, ...]) -> None:
        self._codes, self._error = [], None
        if payload:
            try:
                self._codes = [
                    render_qr(p, quiet=self.quiet, error_correction=self.error_correction)
                    for p in (payload, *fallbacks)
                ]
            except QrError as error:
                self._error = _("Cannot show this payment as a QR code: {error}").format(
                    error=error
                )

    def prepare(self, payloads: tuple[str, ...]) -> None:
        """Draw the codes of ``payloads`` ahead (blocking: run it in a thread), so that showing
        them later costs nothing; a payload that does not fit is left for the widget to say."""
        for payload in payloads:
            try:
                render_qr(payload, quiet=self.quiet, error_correction=self.error_correction)
            except QrError:
                return

    def watch_payload(self, payload: str) -> None:
        self._draw(payload, self.fallbacks)
        self._style_message()

    def watch_fallbacks(self, fallbacks: tuple[str, ...]) -> None:
        self._draw(self.payload, fallbacks)
        self._style_message()

    def _fitting(self, room: Size) -> QrText | None:
        return next(
            (c for c in self._codes if c.width <= room.width and c.height <= room.height), None
        )

    @property
    def code(self) -> QrText | None:
        """The code drawn in the room the widget has (None when there is none, or no room)."""
        return self._fitting(self.size)

    @property
    def shown(self) -> str | None:
        """The payload of the code drawn: ``payload`` or one of ``fallbacks``."""
        code = self.code
        return None if code is None else (self.payload, *self.fallbacks)[self._codes.index(code)]

    @property
    def cells(self) -> Size:
        """The room the payload's own code needs, in cells (0x0 without a payload)."""
        return self._codes[0].size if self._codes else Size(0, 0)

    @property
    def fits(self) -> bool:
        """Whether the widget has been given room for a whole code."""
        return self.code is not None

    def _style_message(self) -> None:
        # colours only: a class that changed the size could flip ``fits`` back and forth
        self.set_class(self._error is not None or not self.fits, "-message")
        shown = self.shown
        if shown != self._shown:
            self._shown = shown
            self.post_message(self.Shown(self, shown))

    def on_resize(self, event: events.Resize) -> None:
        self._style_message()

    def _planned(self, room: Size) -> QrText | None:
        """The code the widget will draw in ``room`` (the first one, when none fits)."""
        return self._fitting(room) or (self._codes[0] if self._codes else None)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        if self._error is not None:
            return len(self._error)
        code = self._planned(container)
        return code.width if code is not None else 0

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self._error is not None:
            return 1
        code = self._planned(Size(width, container.height))
        return code.height if code is not None else 0

    def render(self) -> Content:
        if self._error is not None:
            return Content(self._error)
        if not self._codes:
            return Content("")
        code = self.code
        if code is None:
            width, height = self.cells
            return Content(
                _("Screen too small for the QR code (needs {size} cells)").format(
                    size=f"{width}x{height}"
                )
            )
        return Content(str(code))
