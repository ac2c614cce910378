"""Receipts in the shop's language, on the code page its letters need (docs/TRANSLATING.md):
the printer starts each job in the language's page (ESC t), and the simulator decodes with the
page the ESC t it received selected, so the letters arrive intact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from print_helpers import cashier, fast_settings_env
from test_printer import make_receipt

from appliance import bootstrap
from appliance.config import load_settings
from appliance.core.receipt import ReceiptLine
from appliance.core.words import moment_text
from appliance.drivers.printer import EscposNetworkPrinter, render_receipt
from appliance.services.printing import local_time
from appliance.store import staff as staff_store
from bitagora_devtools.seed import seed_demo
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_protocol.money import Money

NAMES = ("Água", "Ñandú", "Coração", "Menú")
ESC_T = b"\x1bt"


@pytest.mark.parametrize(
    ("language", "page"), [("es", 19), ("pt_PT", 19), ("pt_BR", 3), ("en", 19)]
)
async def test_letters_arrive_intact_on_the_languages_code_page(
    tmp_path: Path, language: str, page: int
) -> None:
    """CP858 (19: Western European with €) for Spanish and Portugal, CP860 (3: Portuguese)
    for Brazil."""
    receipt = make_receipt(
        lines=tuple(ReceiptLine(name, 1, "R$ 1,00", "R$ 1,00", "A") for name in NAMES),
        language=language,
    )
    data = render_receipt(receipt)
    assert data.startswith(b"\x1b@" + ESC_T + bytes([page]))
    async with PrinterSimulator(tmp_path / "printer", port=0) as sim:
        printer = EscposNetworkPrinter("127.0.0.1", sim.port, timeout=2.0)
        await printer.print_receipt(receipt)
        [text] = await sim.wait_receipts(1)
    for name in NAMES:
        assert name in text
    assert "\ufffd" not in text


def test_brazilian_text_is_sent_in_cp860() -> None:
    """The bytes themselves are CP860's (ç is 0x87, ã 0x84), not another page's."""
    receipt = make_receipt(
        lines=(ReceiptLine("Coração", 1, "R$ 1,00", "R$ 1,00", ""),), language="pt_BR"
    )
    assert "Coração".encode("cp860") in render_receipt(receipt)


@pytest.mark.parametrize(
    ("language", "currency", "words", "locale", "report_date"),
    [
        (
            "es",
            "EUR",
            ["Efectivo", "2,30 €", "Cambio", "0,50 €", "Fecha", "Atendido por"],
            "es_ES",
            r"\d{1,2} [a-z]{3} \d{4}, \d{1,2}:\d\d",  # 7 dic 2026, 14:05
        ),
        (
            "pt_BR",
            "BRL",
            ["Dinheiro", "R$ 2,30", "Troco", "R$ 0,50", "Atendente"],
            "pt_BR",
            r"\d{1,2} de [a-z]{3}\. de \d{4} \d\d:\d\d",  # 7 de dez. de 2026 14:05
        ),
        (
            "pt_PT",
            "EUR",
            ["Numerário", "2,30 €", "Troco", "0,50 €", "Operador"],
            "pt_PT",
            r"\d\d/\d\d/\d{4}, \d\d:\d\d",  # 07/12/2026, 14:05
        ),
    ],
)
async def test_a_sale_prints_in_the_shops_language_and_money(
    tmp_path: Path, language: str, currency: str, words: list[str], locale: str, report_date: str
) -> None:
    async with PrinterSimulator(tmp_path / "printer", port=0) as sim:
        env = {
            **fast_settings_env(sim.port),
            "BITAGORA_DEVICE_LANGUAGE": language,
            "BITAGORA_DEVICE_CURRENCY": currency,
        }
        till = await bootstrap.open_till(load_settings(tmp_path / "device", env=env))
        try:
            await seed_demo(till.conn, till.currency)
            products = {p.sku: p for p in await till.sales.products()}
            cart = till.sales.new_cart()
            cart.add(products["espresso"])
            total = cart.totals().total
            tendered = Money(total.minor + 50, currency)
            result = await till.sales.pay_cash(cart, await cashier(till), tendered)
            [text] = await sim.wait_receipts(1)
            # The X report's date too, as the shop's locale writes it.
            manager = await staff_store.get(till.conn, "marco")
            assert manager is not None
            await till.shifts.x_report(manager)
            report = (await sim.wait_receipts(2))[1]
        finally:
            await till.close()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    for word in words:
        assert any(word in line for line in lines), (word, text)
    assert "Cash" not in text and "Change" not in text
    sold = local_time(result.record.at)
    assert moment_text(sold, locale) in text and sold.strftime("%Y-%m-%d") not in text
    assert re.search(report_date, report), report
