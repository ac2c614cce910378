"""The receipt printer path: EscposNetworkPrinter (python-escpos) against the ESC/POS simulator
over real TCP, plus the simulator's own robustness (garbage, truncated commands, its CLI)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from escpos.printer import Dummy
from http_helpers import closed_port

from appliance.core.receipt import Receipt, ReceiptLine, ReceiptTax
from appliance.drivers.printer import (
    EscposNetworkPrinter,
    PaperOut,
    PrinterError,
    PrinterOffline,
    PrinterStatus,
    render_receipt,
)
from bitagora_devtools.sim.printer import Cut, EscPosDecoder, PrinterSimulator

pytestmark = pytest.mark.timeout(20)

SALE_ID = "0f8c2c1e-6a4e-4a8e-9a55-3d1f1f0c9a10"
QR_LINE = f"[QR] bitagora:{SALE_ID}:42"


def make_receipt(**changes: object) -> Receipt:
    receipt = Receipt(
        merchant="Bar Açaí",
        header_lines=("Rua das Flores 12, Lisboa", "NIF 123456789"),
        sale_id=SALE_ID,
        at_local="2025-11-28 14:05",
        staff="João",
        lines=(
            ReceiptLine("Espresso", 2, "€2.50", "€5.00", "A"),
            ReceiptLine("Piña colada", 1, "€3.00", "€3.00", "A"),
            ReceiptLine("Pão de queijo", 1, "€1.20", "€1.20", "A"),
            ReceiptLine("Café", 1, "€0.80", "€0.80", "A"),
        ),
        subtotal="€8.26",
        tax="€1.74",
        total="€10.00",
        taxes=(ReceiptTax("A", "21%", "€8.26", "€1.74", "€10.00"),),
        payments=(("Cash", "€20.00"),),
        change="€10.00",
        journal_seq=42,
        signature_short="a1b2c3d4e5f60718",
        footer_lines=("Obrigado! ¡Gracias!",),
    )
    return dataclasses.replace(receipt, **changes)  # type: ignore[arg-type]


def row(left: str, right: str, width: int = 48) -> str:
    return left + " " * (width - len(left) - len(right)) + right


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[PrinterSimulator]:
    async with PrinterSimulator(tmp_path / "printer", port=0) as simulator:
        yield simulator


@pytest.fixture
def printer(sim: PrinterSimulator) -> EscposNetworkPrinter:
    return EscposNetworkPrinter("127.0.0.1", sim.port, timeout=2.0)


async def send_raw(port: int, data: bytes) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def test_receipt_has_items_taxes_total_journal_and_qr(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    await printer.print_receipt(make_receipt())
    [text] = await sim.wait_receipts(1)
    lines = text.splitlines()

    assert row("2 x Espresso @ €2.50", "€5.00 A") in lines
    assert row("Piña colada", "€3.00 A") in lines
    assert row("Subtotal", "€8.26") in lines
    assert row("A VAT 21% on €10.00:", "€1.74") in lines
    assert row("TOTAL", "€10.00") in lines
    assert row("Cash", "€20.00") in lines
    assert row("Change", "€10.00") in lines
    assert "Journal #42 sig a1b2c3d4e5f60718" in lines
    assert QR_LINE in lines
    assert "COPY" not in text
    assert (sim.out_dir / "receipt-000001.txt").read_text(encoding="utf-8") == text
    assert not list(sim.out_dir.glob(".*.tmp"))

    # The styles travelled too: a bold double-size centred name, a bold total.
    printed = sim.printed()[0]
    title = printed.lines[0]
    assert (title.text, title.align, title.bold, title.width, title.height) == (
        "Bar Açaí",
        "center",
        True,
        2,
        2,
    )
    total = next(line for line in printed.lines if line.text.startswith("TOTAL"))
    assert total.bold
    assert printed.qr_payloads == [f"bitagora:{SALE_ID}:42"]


async def test_accents_come_back_exactly(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    # ñ ã é ç are in CP858; Ł ó ź are not, so python-escpos switches code page mid-line and back.
    receipt = make_receipt(merchant="Señor Açaí", footer_lines=("Łódź: ñ á ç ã õ é €",))
    await printer.print_receipt(receipt)
    [text] = await sim.wait_receipts(1)

    for name in ("Piña colada", "Pão de queijo", "Café", "Señor Açaí", "Łódź: ñ á ç ã õ é €"):
        assert name in text
    assert "\ufffd" not in text and "?" not in text


@pytest.mark.parametrize("width", [48, 32])
async def test_lines_fit_the_paper(tmp_path: Path, width: int) -> None:
    long_name = "Café com leite e canela extra grande especial da casa"
    receipt = make_receipt(lines=(ReceiptLine(long_name, 3, "€1.20", "€3.60", "A"),))
    async with PrinterSimulator(tmp_path, port=0, columns=width) as sim:
        printer = EscposNetworkPrinter("127.0.0.1", sim.port, width_chars=width, timeout=2.0)
        await printer.print_receipt(receipt)
        [text] = await sim.wait_receipts(1)
        printed = sim.printed()[0]

    text_lines = [line for line in printed.lines if line.kind == "text"]
    assert all(len(line.text) * line.width <= width for line in text_lines)
    item = next(line.text for line in text_lines if line.text.startswith("3 x Café"))
    assert item.endswith(" €3.60 A") and "." in item  # the name gave way, not the amount
    assert "    @ €1.20" in text.splitlines()
    assert SALE_ID in text.replace("\n", "")  # an identifier is wrapped, never cut
    assert QR_LINE in text.splitlines()


async def test_copy_banner(sim: PrinterSimulator, printer: EscposNetworkPrinter) -> None:
    await printer.print_receipt(make_receipt(copy=True))
    [text] = await sim.wait_receipts(1)
    assert "** COPY **" in text


async def test_control_characters_in_names_are_not_commands(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    evil = ReceiptLine("Tea\x1bp\x00\x19\x19\x1dV\x00", 1, "€1.00", "€1.00", "A")
    await printer.print_receipt(make_receipt(lines=(evil,)))
    [text] = await sim.wait_receipts(1)
    assert sim.drawer_kicks() == []  # print_receipt returns after the printer answered
    assert "Tea" in text and QR_LINE in text  # and the GS V in the name did not cut the receipt


async def test_receipts_from_concurrent_jobs_do_not_interleave(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    first, second = make_receipt(journal_seq=1), make_receipt(journal_seq=2)
    await asyncio.gather(printer.print_receipt(first), printer.print_receipt(second))
    texts = await sim.wait_receipts(2)
    assert sorted(t.count("[QR]") for t in texts) == [1, 1]
    assert {re.findall(r"Journal #(\d+)", t)[0] for t in texts} == {"1", "2"}


async def test_drawer_kick_is_recorded(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    await printer.kick_drawer(0, on_ms=100, off_ms=200)
    await printer.kick_drawer(1, on_ms=50, off_ms=50)
    kicks = await sim.wait_drawer_kicks(2)
    assert kicks == [
        {"pin": 0, "on_ms": 100, "off_ms": 200, "n": 1},
        {"pin": 1, "on_ms": 50, "off_ms": 50, "n": 2},
    ]
    logged = (sim.out_dir / "drawer.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in logged] == kicks


async def test_drawer_opens_with_a_real_time_pulse_when_paper_is_out(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    sim.paper_out = True  # a real printer then ignores ESC p until paper is back
    await printer.kick_drawer(0, on_ms=100, off_ms=100)
    assert await sim.wait_drawer_kicks(1) == [{"pin": 0, "on_ms": 100, "off_ms": 100, "n": 1}]


async def test_kick_drawer_rejects_impossible_pulses(printer: EscposNetworkPrinter) -> None:
    with pytest.raises(ValueError, match="pin"):
        await printer.kick_drawer(2)
    with pytest.raises(ValueError, match="on_ms"):
        await printer.kick_drawer(0, on_ms=1000)


async def test_status_follows_the_printer(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    assert await printer.status() == PrinterStatus(online=True, paper="ok")
    sim.paper_near_end = True
    assert await printer.status() == PrinterStatus(online=True, paper="near_end")
    sim.paper_out = True  # paper end takes an Epson offline as well
    assert await printer.status() == PrinterStatus(online=False, paper="out")
    sim.paper_out = sim.paper_near_end = False
    sim.cover_open = True
    status = await printer.status()
    assert status == PrinterStatus(online=False, paper="ok", cover_open=True)
    assert status.problem == "Printer cover open" and not status.ready


async def test_printing_without_paper_raises_and_prints_nothing(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    sim.paper_out = True
    with pytest.raises(PaperOut, match=f"127.0.0.1:{sim.port}"):
        await printer.print_receipt(make_receipt())
    sim.paper_out = False
    sim.offline = True
    with pytest.raises(PrinterOffline, match="offline"):
        await printer.print_receipt(make_receipt())
    sim.offline = False
    await printer.print_receipt(make_receipt(journal_seq=7))
    [text] = await sim.wait_receipts(1)
    assert "Journal #7 " in text and sim.dropped == 0


async def test_closed_port_raises_printer_offline_naming_the_address() -> None:
    port = closed_port()
    printer = EscposNetworkPrinter("127.0.0.1", port, timeout=1.0)
    for call in (printer.status(), printer.print_receipt(make_receipt()), printer.kick_drawer()):
        with pytest.raises(PrinterOffline, match=f"127.0.0.1:{port}") as caught:
            await call
        assert isinstance(caught.value, PrinterError)


async def test_printer_that_never_answers_status_still_prints() -> None:
    # Some print servers pass data through but drop DLE EOT answers: print anyway, paper unknown.
    received = bytearray()
    closed = asyncio.Event()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.extend(await reader.read())
        writer.close()
        closed.set()

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        printer = EscposNetworkPrinter("127.0.0.1", port, timeout=0.2)
        await printer.print_receipt(make_receipt())
        await asyncio.wait_for(closed.wait(), 2)
        closed.clear()
        assert await printer.status() == PrinterStatus(online=True, paper="unknown", known=False)

    events = EscPosDecoder().feed(bytes(received))
    [cut] = [event for event in events if isinstance(event, Cut)]
    assert QR_LINE in cut.receipt.render().splitlines()


async def test_status_bytes_on_the_wire(sim: PrinterSimulator) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:

        async def ask(n: int) -> int:
            writer.write(b"\x10\x04" + bytes([n]))
            return (await asyncio.wait_for(reader.readexactly(1), 2))[0]

        assert (await ask(1), await ask(4)) == (0x12, 0x12)
        sim.paper_out = True
        assert (await ask(1), await ask(2), await ask(4)) == (0x1A, 0x32, 0x7E)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_garbage_does_not_stop_the_printer(
    sim: PrinterSimulator, printer: EscposNetworkPrinter
) -> None:
    noise = random.Random(9100).randbytes(20_000)
    await send_raw(sim.port, noise)
    # Commands cut short with huge declared lengths: QR data, a raster image, graphics.
    await send_raw(sim.port, b"\x1d(k\xff\xff1P0only a few bytes")
    await send_raw(sim.port, b"\x1dv0\x00\xff\xff\xff\xff\x00\x00")
    await send_raw(sim.port, b"\x1d8L\xff\xff\xff\x7f0p")
    await send_raw(sim.port, b"\x1b")

    await printer.print_receipt(make_receipt())
    assert await printer.status() == PrinterStatus(online=True, paper="ok")
    texts = sim.receipts()  # print_receipt returned after its status check was answered
    assert QR_LINE in texts[-1].splitlines()
    assert row("2 x Espresso @ €2.50", "€5.00 A") in texts[-1].splitlines()


async def test_truncated_command_does_not_swallow_the_next_job(sim: PrinterSimulator) -> None:
    await send_raw(sim.port, b"\x1b@hello\n\x1d(k\x10\x00")  # QR store cut short
    await send_raw(sim.port, b"world\n\x1dV\x00")
    assert await sim.wait_receipts(1) == ["hello\nworld\n"]


def test_decoder_is_indifferent_to_how_bytes_are_split() -> None:
    data = render_receipt(make_receipt(), 48)
    whole = EscPosDecoder().feed(data)
    bytewise = EscPosDecoder()
    events = [event for i in range(len(data)) for event in bytewise.feed(data[i : i + 1])]
    assert len(whole) == len(events) == 1
    assert isinstance(whole[0], Cut) and isinstance(events[0], Cut)
    assert whole[0].receipt.render() == events[0].receipt.render()
    assert QR_LINE in whole[0].receipt.render().splitlines()


def test_image_data_is_skipped_not_printed() -> None:
    # Raster data that happens to contain LF and GS V must neither print nor cut.
    image = b"\x1dv0\x00\x02\x00\x02\x00" + b"\x1dV\x00\n"
    [cut] = EscPosDecoder().feed(b"\x1b@before\n" + image + b"after\n\x1dV\x00")
    assert isinstance(cut, Cut)
    assert cut.receipt.render() == "before\n[IMAGE] 16x2\nafter\n"

    # The same through python-escpos's own image path (a QR drawn as a bitmap).
    dummy = Dummy()
    dummy.textln("before")
    dummy.qr("bitagora:image", native=False)
    dummy.textln("after")
    dummy.cut()
    [cut] = EscPosDecoder().feed(bytes(dummy.output))
    assert isinstance(cut, Cut)
    assert re.fullmatch(r"before\n\n\[IMAGE\] \d+x\d+\n\n\nafter\n", cut.receipt.render())


async def test_stop_closes_idle_connections(tmp_path: Path) -> None:
    sim = PrinterSimulator(tmp_path, port=0)
    await sim.start()
    _, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    writer.write(b"half a line")
    await writer.drain()
    await asyncio.wait_for(sim.stop(), 2)
    writer.close()


async def test_numbering_continues_after_a_restart(tmp_path: Path) -> None:
    for expected in ("receipt-000001.txt", "receipt-000002.txt"):
        async with PrinterSimulator(tmp_path, port=0) as sim:
            printer = EscposNetworkPrinter("127.0.0.1", sim.port, timeout=2.0)
            await printer.print_receipt(make_receipt())
            await sim.wait_receipts(1)
            assert sim.printed()[0].path == tmp_path / expected


async def test_cli_prints_where_it_listens_and_stops_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "receipts"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bitagora_devtools.sim.printer",
        "--port",
        "0",
        "--out",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        first = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode()
        match = re.fullmatch(
            r"printer simulator listening on 127\.0\.0\.1:(\d+), "
            r"receipts in (.+)\n",
            first,
        )
        assert match, first
        assert match.group(2) == str(out)
        printer = EscposNetworkPrinter("127.0.0.1", int(match.group(1)), timeout=2.0)
        await printer.print_receipt(make_receipt())
        receipt = out / "receipt-000001.txt"
        for _ in range(500):  # another process, so no event to await: a bounded poll
            if receipt.exists():
                break
            await asyncio.sleep(0.01)
        assert QR_LINE in receipt.read_text(encoding="utf-8").splitlines()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 5) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
