"""Printer backends chosen by config: network, serial (over a pseudo-terminal served by the
simulator), a device file (decoded with the simulator's decoder) and USB (no device here: it
must say which one it looked for). Also the code pages Spanish and Portuguese receipts need."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_printer import make_receipt

from appliance.bootstrap import printer_from_settings
from appliance.config import ConfigError, PrinterSettings, load_settings
from appliance.core.receipt import ReceiptLine
from appliance.drivers.printer import (
    ACCENT_SAMPLE,
    EscposFilePrinter,
    EscposNetworkPrinter,
    EscposSerialPrinter,
    EscposUsbPrinter,
    PaperOut,
    PrinterStatus,
    PrinterUnreachable,
)
from bitagora_devtools.sim.printer import Cut, EscPosDecoder, PrinterSimulator

pytestmark = pytest.mark.timeout(20)

# Every accented character a Spanish or Portuguese receipt needs, and the euro.
IBERIAN = "ñ á é í ó ú ü ç ã õ ê ô à ¿ ¡ € Ñ Á É Í Ó Ú Ü Ç Ã Õ Ê Ô À"


def iberian_receipt() -> object:
    return make_receipt(
        merchant="Peña ¿Qué? ¡Olé!",
        lines=(
            ReceiptLine("Açaí com pão", 1, "€3.00", "€3.00", "A"),
            ReceiptLine("Crème brûlée à la façon", 1, "€4.50", "€4.50", "A"),
            ReceiptLine("Pingüino de limón", 2, "€1.25", "€2.50", "A"),
            ReceiptLine("Coração, maçã, vovô", 1, "€2.00", "€2.00", "A"),
        ),
        footer_lines=(IBERIAN, "Obrigado! ¡Gracias!"),
    )


def assert_iberian(text: str) -> None:
    for expected in (
        "Peña ¿Qué? ¡Olé!",
        "Açaí com pão",
        "Crème brûlée à la façon",
        "Pingüino de limón",
        "Coração, maçã, vovô",
        IBERIAN,
        "Obrigado! ¡Gracias!",
    ):
        assert expected in " ".join(text.split()), expected  # wrapped lines joined again
    assert "\ufffd" not in text and "?" not in text.replace("¿Qué?", "")


def decode(data: bytes) -> list[str]:
    return [e.receipt.render() for e in EscPosDecoder().feed(data) if isinstance(e, Cut)]


# -- config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "key"),
    [
        ({"BITAGORA_PRINTER_KIND": "bluetooth"}, "printer.kind"),
        ({"BITAGORA_PRINTER_KIND": "usb"}, "printer.usb_vendor_id"),
        (
            {
                "BITAGORA_PRINTER_KIND": "usb",
                "BITAGORA_PRINTER_USB_VENDOR_ID": "04b8",
                "BITAGORA_PRINTER_USB_PRODUCT_ID": "zz",
            },
            "printer.usb_product_id",
        ),
        ({"BITAGORA_PRINTER_KIND": "serial"}, "printer.serial_port"),
        (
            {
                "BITAGORA_PRINTER_KIND": "serial",
                "BITAGORA_PRINTER_SERIAL_PORT": "/dev/ttyUSB0",
                "BITAGORA_PRINTER_SERIAL_BAUDRATE": "12345",
            },
            "printer.serial_baudrate",
        ),
        (
            {
                "BITAGORA_PRINTER_KIND": "serial",
                "BITAGORA_PRINTER_SERIAL_PORT": "/dev/ttyUSB0",
                "BITAGORA_PRINTER_SERIAL_FLOW": "carrier-pigeon",
            },
            "printer.serial_flow",
        ),
        ({"BITAGORA_PRINTER_KIND": "file"}, "printer.file_path"),
        ({"BITAGORA_PRINTER_PAPER_MM": "76"}, "printer.paper_mm"),
        ({"BITAGORA_PRINTER_RETRY_MAX_MS": "1"}, "printer.retry_max_ms"),
    ],
)
def test_bad_printer_settings_name_the_key(tmp_path: Path, env: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError, match=f"^{key}"):
        load_settings(tmp_path, env=env)


def test_each_kind_builds_its_backend(tmp_path: Path) -> None:
    toml = tmp_path / "appliance.toml"
    toml.write_text(
        '[printer]\nkind = "usb"\nusb_vendor_id = "0x04b8"\nusb_product_id = "0e15"\n'
        'usb_in_ep = "81"\nusb_out_ep = "02"\npaper_mm = 58\nprofile = "TM-T20II"\n',
        encoding="utf-8",
    )
    usb = printer_from_settings(load_settings(tmp_path, env={}).printer)
    assert isinstance(usb, EscposUsbPrinter)
    assert (usb.vendor_id, usb.product_id, usb.in_ep, usb.out_ep) == (0x04B8, 0x0E15, 0x81, 0x02)
    assert (usb.width_chars, usb.profile) == (32, "TM-T20II")
    assert usb.describe() == "usb printer 04b8:0e15, 58 mm, profile TM-T20II"

    serial = printer_from_settings(
        PrinterSettings(kind="serial", serial_port="/dev/ttyS0", serial_baudrate=19200)
    )
    assert isinstance(serial, EscposSerialPrinter) and serial.address == "/dev/ttyS0@19200"
    file = printer_from_settings(PrinterSettings(kind="file", file_path="/dev/usb/lp0"))
    assert isinstance(file, EscposFilePrinter) and file.address == "/dev/usb/lp0"
    network = printer_from_settings(PrinterSettings(host="10.0.0.9", port=9101))
    assert isinstance(network, EscposNetworkPrinter) and network.address == "10.0.0.9:9101"


# -- file --------------------------------------------------------------------------------------


async def test_file_printer_writes_the_job_and_cannot_tell_its_status(tmp_path: Path) -> None:
    path = tmp_path / "lp0"
    path.touch()
    printer = EscposFilePrinter(str(path), timeout=1.0)
    assert await printer.status() == PrinterStatus(online=True, paper="unknown", known=False)
    assert not (await printer.print_receipt(make_receipt(journal_seq=1))).known
    await printer.print_receipt(iberian_receipt())  # type: ignore[arg-type]
    texts = decode(path.read_bytes())
    assert len(texts) == 2 and "Journal #1 " in texts[0]  # appended, not overwritten
    assert_iberian(texts[1])


async def test_missing_device_node_is_unreachable(tmp_path: Path) -> None:
    printer = EscposFilePrinter(str(tmp_path / "no-such-dir" / "lp0"))
    with pytest.raises(PrinterUnreachable, match="no-such-dir"):
        await printer.status()
    with pytest.raises(PrinterUnreachable):
        await printer.print_receipt(make_receipt())


# -- serial ------------------------------------------------------------------------------------


async def test_serial_printer_over_a_pty_prints_and_reads_status(tmp_path: Path) -> None:
    async with PrinterSimulator(tmp_path, port=0) as sim:
        port = await sim.open_pty()
        settings = PrinterSettings(
            kind="serial", serial_port=port, serial_baudrate=19200, serial_flow="none", timeout_s=2
        )
        printer = printer_from_settings(settings)
        assert await printer.status() == PrinterStatus(online=True, paper="ok")
        status = await printer.print_receipt(iberian_receipt())  # type: ignore[arg-type]
        assert status.ready and status.known
        [text] = await sim.wait_receipts(1)
        assert_iberian(text)

        sim.paper_out = True
        with pytest.raises(PaperOut, match=port):
            await printer.print_receipt(make_receipt())
        sim.paper_out = False
        await printer.print_test_page()
        texts = await sim.wait_receipts(2)
        assert "TEST PAGE" in texts[1]
        assert " ".join(ACCENT_SAMPLE.split()) in " ".join(texts[1].split())


async def test_serial_port_that_does_not_exist_is_unreachable(tmp_path: Path) -> None:
    printer = EscposSerialPrinter(str(tmp_path / "ttyUSB9"), timeout=1.0)
    with pytest.raises(PrinterUnreachable, match="ttyUSB9"):
        await printer.status()


# -- usb ---------------------------------------------------------------------------------------


async def test_usb_printer_that_is_not_plugged_in_names_its_ids() -> None:
    printer = printer_from_settings(
        PrinterSettings(kind="usb", usb_vendor_id="04b8", usb_product_id="0202", timeout_s=1)
    )
    with pytest.raises(PrinterUnreachable, match="04b8:0202"):
        await printer.status()
    with pytest.raises(PrinterUnreachable, match="04b8:0202"):
        await printer.print_receipt(make_receipt())


# -- network and code pages --------------------------------------------------------------------


@pytest.mark.parametrize("profile", [None, "TM-T20II", "TM-T88V"])
async def test_iberian_characters_come_out_right_over_tcp(
    tmp_path: Path, profile: str | None
) -> None:
    async with PrinterSimulator(tmp_path, port=0) as sim:
        printer = EscposNetworkPrinter("127.0.0.1", sim.port, profile=profile, timeout=2.0)
        await printer.print_receipt(iberian_receipt())  # type: ignore[arg-type]
        [text] = await sim.wait_receipts(1)
    assert_iberian(text)


async def test_test_page_shows_backend_ruler_accents_and_qr(tmp_path: Path) -> None:
    async with PrinterSimulator(tmp_path, port=0, columns=32) as sim:
        printer = EscposNetworkPrinter("127.0.0.1", sim.port, width_chars=32, timeout=2.0)
        status = await printer.print_test_page()
        [text] = await sim.wait_receipts(1)
    assert status == PrinterStatus(online=True, paper="ok")
    lines = text.splitlines()
    assert f"network printer 127.0.0.1:{sim.port}, 58 mm," in text.replace("\n", " ")
    assert "01234567890123456789012345678901" in lines
    assert "ñ á é í ó ú ü ç ã õ ê ô à ¿ ¡ €" in text
    assert "[QR] bitagora:test-page" in lines
