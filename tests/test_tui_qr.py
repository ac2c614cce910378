"""The pay screen's QR code: the half blocks are qrcode's own modules, a real decoder (zxing-cpp)
reads the drawn text back as the payload, ``qr_payload`` makes unified URIs smaller, and the
widget refuses to draw a code it has no room for."""

from __future__ import annotations

import hashlib
from typing import Any

import coincurve
import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode.constants import ERROR_CORRECT_L, ERROR_CORRECT_M
from textual.app import App, ComposeResult
from textual.containers import Center, Middle
from textual.geometry import Region
from textual.strip import Strip

from appliance.core.btc import bip21_uri
from appliance.tui.widgets.qr import (
    ErrorCorrection,
    QrCode,
    QrError,
    QrText,
    qr_payload,
    render_qr,
)
from bitagora_devtools.sim import bolt11

pytestmark = pytest.mark.timeout(60)

ADDRESS = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # BIP84 m/84'/0'/0'/0/0
P2PKH = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
P2SH = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"
TESTNET_P2PKH = "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"

INVOICE = bolt11.encode(
    node_key=coincurve.PrivateKey(hashlib.sha256(b"qr test node").digest()),
    network="bc",
    amount_msat=12_345_000,
    payment_hash=hashlib.sha256(b"preimage").digest(),
    payment_secret=hashlib.sha256(b"secret").digest(),
    description="BitAgora sale 2024-000042",
    timestamp=1_700_000_000,
    expiry_s=900,
)
UNIFIED = bip21_uri(ADDRESS, 12_345, label="Café Ana #7", lightning=INVOICE)

QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)

# what each half block means: (top module dark, bottom module dark)
HALVES = {" ": (False, False), "▀": (True, False), "▄": (False, True), "█": (True, True)}


def modules_of(code: QrText) -> list[list[bool]]:
    """The half-block text back as rows of modules (True = dark), quiet zone included."""
    rows: list[list[bool]] = []
    for line in code.lines:
        halves = [HALVES[char] for char in line]
        rows.append([top for top, _ in halves])
        rows.append([bottom for _, bottom in halves])
    return rows


def image_of(code: QrText, px: int = 4, surround: int = 8) -> Image.Image:
    """The code as a screen shows it: dark modules black, light ones white, ``px`` pixels a
    module (a cell is one module wide and two high), on a black surround as a dark terminal
    would be around the widget, so only the code's own quiet zone separates the two."""
    rows = modules_of(code)
    width, height = len(rows[0]), len(rows)
    pixels = bytes(0 if dark else 255 for row in rows for dark in row)
    drawn = Image.frombytes("L", (width, height), pixels).resize(
        (width * px, height * px), Image.Resampling.NEAREST
    )
    canvas = Image.new("L", ((width + 2 * surround) * px, (height + 2 * surround) * px), 0)
    canvas.paste(drawn, (surround * px, surround * px))
    return canvas


def decode(code: QrText) -> zxingcpp.Barcode:
    # no try_invert: a code drawn light-on-dark must fail, as it would on many phones
    found = zxingcpp.read_barcode(image_of(code), formats=QR_ONLY, try_invert=False)
    assert found is not None, "zxing-cpp found no QR code"
    assert found.valid
    return found


def extra(found: zxingcpp.Barcode) -> dict[str, Any]:
    """What zxing-cpp read besides the text: "Version", "ECLevel", ..."""
    assert isinstance(found.extra, dict)
    return found.extra


def test_invoice_is_a_typical_one() -> None:
    assert INVOICE.startswith("lnbc123450n1") and 280 <= len(INVOICE) <= 320
    assert UNIFIED.startswith(f"bitcoin:{ADDRESS}?amount=0.00012345&label=Caf%C3%A9%20Ana%20%237&")


@pytest.mark.parametrize(
    ("payload", "quiet", "level", "qr_level"),
    [
        (UNIFIED, 2, "M", ERROR_CORRECT_M),
        (qr_payload(UNIFIED), 2, "M", ERROR_CORRECT_M),
        (qr_payload(UNIFIED), 4, "L", ERROR_CORRECT_L),
        ("hello", 0, "M", ERROR_CORRECT_M),
    ],
)
def test_half_blocks_are_qrcodes_modules(
    payload: str, quiet: int, level: ErrorCorrection, qr_level: int
) -> None:
    code = render_qr(payload, quiet=quiet, error_correction=level)
    reference = qrcode.QRCode(error_correction=qr_level, border=quiet)
    reference.add_data(payload)  # qrcode's default mode mixing
    reference.make(fit=True)
    expected = reference.get_matrix()

    assert code.version == reference.version
    assert code.modules == reference.modules_count == 17 + 4 * code.version
    assert code.width == len(expected) == code.modules + 2 * quiet
    assert code.height == len(code.lines) == (code.width + 1) // 2
    assert all(len(line) == code.width for line in code.lines)
    rows = modules_of(code)
    assert rows[: len(expected)] == expected
    assert rows[len(expected) :] == [[False] * code.width]  # the odd last row's light half
    # the quiet zone is light: spaces all round (the first quiet // 2 lines, and the last)
    assert all(line == " " * code.width for line in code.lines[: quiet // 2])
    assert all(line[:quiet] == line[code.width - quiet :] == " " * quiet for line in code.lines)
    if quiet:
        assert code.lines[-1] == " " * code.width


def test_a_real_decoder_reads_the_drawn_unified_uri() -> None:
    payload = qr_payload(UNIFIED)
    found = decode(render_qr(payload))
    assert found.text == payload
    assert extra(found)["ECLevel"] == "M"
    # and the raw URI too, at level L and the spec's quiet zone
    found = decode(render_qr(UNIFIED, quiet=4, error_correction="L"))
    assert found.text == UNIFIED
    assert extra(found)["ECLevel"] == "L"


def test_a_light_on_dark_code_is_not_read() -> None:
    # what the text would look like on a dark terminal if the widget did not set its colours:
    # the decoder (without try_invert) must not read it, or the test above proves nothing
    code = render_qr(qr_payload(UNIFIED))
    flip = str.maketrans("▀▄█ ", "▄▀ █")
    inverted = QrText(
        tuple(line.translate(flip) for line in code.lines), code.version, code.modules, code.quiet
    )
    image = image_of(inverted)
    assert zxingcpp.read_barcode(image, formats=QR_ONLY, try_invert=False) is None


def test_qr_payload_uppercases_bech32_and_schemes() -> None:
    upper = qr_payload(UNIFIED)
    assert upper == (
        f"BITCOIN:{ADDRESS.upper()}?amount=0.00012345&label=Caf%C3%A9%20Ana%20%237"
        f"&lightning={INVOICE.upper()}"
    )
    assert qr_payload(upper) == upper
    assert qr_payload(f"lightning:{INVOICE}") == f"LIGHTNING:{INVOICE.upper()}"
    assert qr_payload(f"Bitcoin:{ADDRESS}") == f"BITCOIN:{ADDRESS.upper()}"
    for address in ("tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", "bcrt1q6rhpng9evdsfxn6l8vzymvv"):
        assert qr_payload(f"bitcoin:{address}?amount=1") == f"BITCOIN:{address.upper()}?amount=1"
    # parameter names and other values are left as they are; a lowercase label stays lowercase
    assert qr_payload(f"bitcoin:{ADDRESS}?Lightning={INVOICE}&label=ana&message=x") == (
        f"BITCOIN:{ADDRESS.upper()}?Lightning={INVOICE.upper()}&label=ana&message=x"
    )


@pytest.mark.parametrize("address", [P2PKH, P2SH, TESTNET_P2PKH])
def test_qr_payload_keeps_base58_addresses(address: str) -> None:
    uri = bip21_uri(address, 1000, label="ana", lightning=INVOICE)
    assert qr_payload(uri) == (
        f"BITCOIN:{address}?amount=0.00001&label=ana&lightning={INVOICE.upper()}"
    )


def test_qr_payload_leaves_what_it_does_not_know() -> None:
    mixed = "bc1QcR8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # invalid bech32: not made valid here
    assert qr_payload(f"bitcoin:{mixed}") == f"BITCOIN:{mixed}"
    assert qr_payload(INVOICE) == INVOICE  # no scheme
    assert qr_payload("https://example.com/pay?x=lnbc1") == "https://example.com/pay?x=lnbc1"
    assert qr_payload("bitcoin:?lightning=lnbc1pqqqq&x") == "BITCOIN:?lightning=LNBC1PQQQQ&x"
    assert qr_payload("lightning:lnurl1dp68gurn8ghj7") == "LIGHTNING:LNURL1DP68GURN8GHJ7"


def test_qr_payload_makes_unified_codes_smaller() -> None:
    levels: tuple[ErrorCorrection, ...] = ("M", "L")
    for level in levels:
        raw = decode(render_qr(UNIFIED, error_correction=level))
        upper = decode(render_qr(qr_payload(UNIFIED), error_correction=level))
        assert raw.text == UNIFIED and upper.text == qr_payload(UNIFIED)
        assert int(extra(upper)["Version"]) < int(extra(raw)["Version"])
    for uri in (bip21_uri(P2PKH, 1000), bip21_uri(ADDRESS), f"lightning:{INVOICE}"):
        assert render_qr(qr_payload(uri)).version <= render_qr(uri).version


def test_sizes() -> None:
    assert render_qr("hello").size == (25, 13)  # version 1: 21 modules + 2 * 2
    assert render_qr("hello", quiet=4).size == (29, 15)
    with pytest.raises(ValueError, match="negative"):
        render_qr("hello", quiet=-1)
    with pytest.raises(QrError, match="7100 characters do not fit"):
        render_qr("x" * 7100)


class QrApp(App[None]):
    def __init__(self, payload: str) -> None:
        super().__init__()
        self.payload = payload

    def compose(self) -> ComposeResult:
        with Middle(), Center():
            yield QrCode(self.payload)


def widget_lines(widget: QrCode) -> list[Strip]:
    """The widget as it is drawn on the screen, line by line."""
    return widget.render_lines(Region(0, 0, *widget.outer_size))


def widget_text(widget: QrCode) -> str:
    """The widget's text, wrapped lines joined again."""
    return " ".join("".join(strip.text for strip in widget_lines(widget)).split())


def black_on_white(strip: Strip) -> bool:
    return all(
        segment.style is not None
        and segment.style.color is not None
        and segment.style.bgcolor is not None
        and segment.style.color.get_truecolor() == (0, 0, 0)
        and segment.style.bgcolor.get_truecolor() == (255, 255, 255)
        for segment in strip
    )


async def test_widget_shows_the_code_when_there_is_room() -> None:
    payload = qr_payload(UNIFIED)
    code = render_qr(payload)
    app = QrApp(payload)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        widget = app.query_one(QrCode)
        assert widget.cells == code.size == (73, 37)
        assert widget.fits and widget.size == code.size
        geometry = app.screen.find_widget(widget)
        assert geometry.visible_region == geometry.region  # all of it on screen
        lines = widget_lines(widget)
        assert [strip.text for strip in lines] == list(code.lines)
        assert all(black_on_white(strip) for strip in lines)

        # the terminal shrinks below the code: a message, not a cropped code
        await pilot.resize_terminal(60, 30)
        await pilot.pause()
        assert not widget.fits and widget.has_class("-message")
        assert "Screen too small for the QR code (needs 73x37 cells)" in widget_text(widget)
        assert not set(widget_text(widget)) & {"▀", "▄", "█"}

        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert widget.fits and not widget.has_class("-message")
        assert [strip.text for strip in widget_lines(widget)] == list(code.lines)


async def test_widget_on_a_small_screen_says_what_it_needs() -> None:
    app = QrApp(qr_payload(UNIFIED))
    async with app.run_test(size=(80, 36)) as pilot:  # wide enough, one line short
        await pilot.pause()
        widget = app.query_one(QrCode)
        assert not widget.fits and widget.size.height == 36
        assert widget_text(widget) == "Screen too small for the QR code (needs 73x37 cells)"


async def test_widget_follows_its_payload() -> None:
    app = QrApp("")
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        widget = app.query_one(QrCode)
        assert widget.code is None and widget.cells == (0, 0)
        widget.payload = "hello"
        await pilot.pause()
        assert widget.code == render_qr("hello") and widget.size == (25, 13)
        assert [strip.text for strip in widget_lines(widget)] == list(render_qr("hello").lines)
        widget.payload = qr_payload(UNIFIED)
        await pilot.pause()
        assert widget.size == (73, 37)
        assert widget.code is not None and decode(widget.code).text == qr_payload(UNIFIED)


async def test_widget_with_too_much_data_says_so() -> None:
    app = QrApp("x" * 7100)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        widget = app.query_one(QrCode)
        assert widget.code is None and widget.has_class("-message")
        assert "7100 characters do not fit in one QR code" in widget_text(widget)


async def test_widget_falls_back_to_a_shorter_code_that_fits() -> None:
    """Too little room for the unified code: the Lightning invoice's own code, whole and
    readable; with room again, the unified one; with room for neither, the message."""
    unified, invoice = qr_payload(UNIFIED), qr_payload(f"lightning:{INVOICE}")
    app = QrApp(unified)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        widget = app.query_one(QrCode)
        widget.fallbacks = (invoice,)
        small = render_qr(invoice)
        await pilot.pause()
        assert widget.shown == unified and widget.size == (73, 37)

        await pilot.resize_terminal(small.width + 4, small.height + 1)
        await pilot.pause()
        assert widget.shown == invoice and widget.code == small and widget.size == small.size
        assert [strip.text for strip in widget_lines(widget)] == list(small.lines)
        assert decode(small).text == invoice
        assert not widget.has_class("-message")

        await pilot.resize_terminal(small.width - 1, 40)
        await pilot.pause()
        assert widget.shown is None and widget.has_class("-message")
        assert "needs 73x37 cells" in widget_text(widget)

        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert widget.shown == unified and widget.size == (73, 37)
