"""The persistent print queue and its worker, against the ESC/POS simulator over real TCP:
every printer trouble keeps the receipt queued, shows in the printer state (the kiosk's banner),
and prints it exactly once when the printer is back, a restart of the kiosk included."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from print_helpers import cashier, open_till, sell, till_and_printer
from store_helpers import cash_sale_body

from appliance.services.printing import PrinterState
from appliance.services.till import NothingToReprint, Till
from appliance.store import catalog, journal, outbox, print_queue, sales
from appliance.store.config_documents import STATE_CENTRAL_KEY, apply_signed
from appliance.store.db import transaction
from bitagora_devtools.sim.printer import PrinterSimulator
from bitagora_protocol.catalog import catalog_sha256
from bitagora_protocol.config_document import FORMAT, encode, sign
from bitagora_protocol.journal import public_key_bytes, verify_chain

pytestmark = pytest.mark.timeout(30)


def journal_seqs(texts: list[str]) -> list[int]:
    return [int(re.findall(r"Journal #(\d+) sig", text)[0]) for text in texts]


async def test_a_sale_prints_its_receipt_once_from_the_queue(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        result = await sell(till)
        assert result.problems == ()
        [text] = await sim.wait_receipts(1)
        assert f"Journal #{result.record.seq} sig {result.record.sig[:16]}" in text
        assert "Peña Açaí" in text and "Espresso" in text and "COPY" not in text
        assert await print_queue.waiting(till.conn) == []
        job = await print_queue.get(till.conn, result.record.seq)
        assert job is not None and job.attempts == 1 and not job.copy
        assert till.printing.state == PrinterState()
        assert sim.dropped == 0


async def test_the_receipt_is_queued_in_the_sales_transaction(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, _sim):
        await till.printing.close()  # nobody prints: look at the queue itself
        with pytest.raises(RuntimeError):
            async with transaction(till.conn):
                await journal.append(till.conn, till.identity, "sale", cash_sale_body(1))
                raise RuntimeError("power cut before COMMIT")
        assert await print_queue.waiting(till.conn) == []
        record = await sales.record_sale(till.conn, till.identity, cash_sale_body(2))
        [job] = await print_queue.waiting(till.conn)
        assert (job.journal_seq, job.sale_seq, job.copy) == (record.seq, record.seq, False)


async def test_paper_out_queues_shows_and_prints_when_paper_is_back(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        sim.paper_out = True
        first = await sell(till)
        assert any("Receipt not printed" in p and "out of paper" in p for p in first.problems)
        second = await sell(till, "water")
        assert any("out of paper" in p for p in second.problems)
        state = await till.printing.wait_for(lambda s: s.waiting == 2)
        assert state.banner == "Printer out of paper — 2 receipts waiting"
        assert sim.receipts() == [] and sim.dropped == 0  # nothing was even sent

        sim.paper_out = False
        texts = await sim.wait_receipts(2)
        await till.printing.wait_idle()
        assert journal_seqs(texts) == [first.record.seq, second.record.seq]  # in order
        assert till.printing.state.banner is None
        assert len(sim.receipts()) == 2


async def test_paper_running_out_during_a_job_prints_it_again_whole(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        sim.paper_near_end = True
        sim.paper_left = 1
        await sell(till)
        await sim.wait_receipts(1)
        state = await till.printing.wait_for(lambda s: s.waiting == 0)
        assert state.banner == "Printer paper running low"

        result = await sell(till, "cake")  # the roll ends half way through this one
        assert any("ran out of paper while printing" in p for p in result.problems)
        state = await till.printing.wait_for(lambda s: s.problem is not None)
        assert state.banner == "Printer out of paper — 1 receipt waiting"
        assert sim.dropped == 1

        sim.paper_out = sim.paper_near_end = False  # a new roll
        sim.paper_left = None
        texts = await sim.wait_receipts(2)
        await till.printing.wait_idle()
        assert journal_seqs(texts)[-1] == result.record.seq and len(sim.receipts()) == 2


async def test_unreachable_printer_queues_then_prints_once_when_back(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        await sim.set_reachable(False)
        result = await sell(till)
        assert any("not reachable" in p for p in result.problems)
        state = await till.printing.wait_for(lambda s: s.problem is not None)
        assert state.banner == "Printer not reachable — 1 receipt waiting"
        job = await print_queue.get(till.conn, result.record.seq)
        assert job is not None and job.last_error and "not reachable" in job.last_error

        await sim.set_reachable(True)
        [text] = await sim.wait_receipts(1)
        await till.printing.wait_idle()
        assert journal_seqs([text]) == [result.record.seq]
        assert till.printing.state.problem is None
        assert len(sim.receipts()) == 1


async def test_printer_that_stops_answering_keeps_the_receipt(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        await sell(till)  # it answered status queries once: silence now means trouble
        await sim.wait_receipts(1)
        sim.silent = True
        result = await sell(till, "tea")
        assert any("stopped answering" in p for p in result.problems)
        assert (await till.printing.wait_for(lambda s: s.waiting == 1)).problem == (
            "Printer offline"
        )
        # Known to be down now: the next sale is told at once, without another attempt.
        known = await sell(till, "water")
        told = "Receipt not printed: Printer offline (queued: it prints when the printer is back)"
        assert told in known.problems
        sim.silent = False
        texts = await sim.wait_receipts(3)
        await till.printing.wait_idle()
        assert journal_seqs(texts)[1:] == [result.record.seq, known.record.seq]
        assert len(sim.receipts()) == 3


async def test_cover_open_queues_and_prints_when_closed(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        sim.cover_open = True
        result = await sell(till)
        assert any("cover open" in p for p in result.problems)
        state = await till.printing.wait_for(lambda s: s.problem is not None)
        assert state.banner == "Printer cover open — 1 receipt waiting"
        sim.cover_open = False
        [text] = await sim.wait_receipts(1)
        assert journal_seqs([text]) == [result.record.seq]


async def test_slow_printer_still_prints_once(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        sim.read_delay_s = 0.1
        result = await sell(till)
        assert result.problems == ()
        [text] = await sim.wait_receipts(1)
        assert journal_seqs([text]) == [result.record.seq]
        await till.printing.wait_idle()
        assert len(sim.receipts()) == 1


async def test_queued_receipt_survives_a_restart_and_prints_once(tmp_path: Path) -> None:
    async with PrinterSimulator(tmp_path / "printer", port=0) as sim:
        await sim.set_reachable(False)
        async with open_till(tmp_path / "device", sim.port) as till:
            result = await sell(till)
            assert result.problems
        # The kiosk is gone; the printer comes back before it restarts.
        await sim.set_reachable(True)
        assert sim.receipts() == []
        async with open_till(tmp_path / "device", sim.port) as till:
            [text] = await sim.wait_receipts(1)
            await till.printing.wait_idle()
            assert journal_seqs([text]) == [result.record.seq] and "COPY" not in text
        received = sim.bytes_received
        async with open_till(tmp_path / "device", sim.port) as till:
            await till.printing.wait_idle()
            assert await print_queue.waiting(till.conn) == []
            assert (await print_queue.get(till.conn, result.record.seq)).attempts >= 2  # type: ignore[union-attr]
        assert len(sim.receipts()) == 1 and sim.bytes_received == received


async def test_reprint_is_journaled_and_prints_a_copy(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim):
        with pytest.raises(NothingToReprint):
            await till.receipts.reprint_last(await cashier(till))
        first = await sell(till)
        last = await sell(till, "pao")
        await sim.wait_receipts(2)

        reprint = await till.receipts.reprint_last(await cashier(till))
        assert reprint.kind == "reprint"
        assert reprint.body == {
            "sale_id": last.sale_id,
            "original_seq": last.record.seq,
            "staff": {"id": "ana", "name": "Ana"},
        }
        texts = await sim.wait_receipts(3)
        copy = texts[2]
        assert copy.count("** COPY **") == 2
        assert f"Journal #{last.record.seq} sig {last.record.sig[:16]}" in copy
        assert f"journal #{reprint.seq}" in copy
        assert "Pão de queijo" in copy and first.sale_id not in copy
        records = [r async for r in journal.iterate(till.conn)]
        # Each cash sale is followed by its drawer_open record.
        kinds = ["sale", "drawer_open", "sale", "drawer_open", "reprint"]
        assert [r.kind for r in records] == kinds
        assert verify_chain(records, till.identity.public_key, till.identity.device_id) == 5
        job = await print_queue.get(till.conn, reprint.seq)
        assert job is not None and job.copy and job.sale_seq == last.record.seq


async def test_a_reprint_must_name_a_sale(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, _sim):
        with pytest.raises(Exception, match="not a sale record"):
            async with transaction(till.conn):
                await journal.append(
                    till.conn, till.identity, "reprint", {"sale_id": "x", "original_seq": 7}
                )
        assert [r async for r in journal.iterate(till.conn)] == []


async def apply_central_settings(
    till: Till, key: Ed25519PrivateKey, version: int, **settings: Any
) -> None:
    """Apply a configuration document signed by ``key`` (pinned as central's) with the till's own
    catalog and ``settings`` (the ``settings`` object's keys besides ``currency``)."""
    await outbox.set_state(till.conn, STATE_CENTRAL_KEY, public_key_bytes(key.public_key()).hex())
    items = sorted(await catalog.catalog_items(till.conn), key=lambda item: item.sku)
    canonical = [item.canonical() for item in items]
    document = {
        "format": FORMAT,
        "merchant": {"id": 1, "name": "Peña Açaí"},
        "version": version,
        "issued_at": "2026-12-07T09:00:00.000000Z",
        "catalog": {
            "currency": till.currency,
            "sha256": catalog_sha256(till.currency, canonical),
            "items": canonical,
        },
        "settings": {"currency": till.currency, **settings},
        "staff": [],
    }
    await apply_signed(
        till.conn, till.identity, encode(sign(key, document)), till.currency, {"via": "cli"}
    )


async def test_receipt_lines_set_on_central_are_printed(tmp_path: Path) -> None:
    """A configuration document's receipt header and footer (docs/PROTOCOL.md 2.6) replace the
    settings file's on the receipts printed after it, once applied."""
    async with till_and_printer(tmp_path) as (till, sim):
        receipt = {"header_lines": ["Rua Augusta 1"], "footer_lines": ["Obrigado!"]}
        await apply_central_settings(
            till, Ed25519PrivateKey.generate(), 1, receipt=receipt, payment_methods=["cash"]
        )
        result = await sell(till)
        [text] = await sim.wait_receipts(1)
        assert "Rua Augusta 1" in text and "Obrigado!" in text and "Thank you!" not in text
        assert result.receipt.header_lines == ("Rua Augusta 1",)


async def test_the_shop_language_set_on_central_prints_the_next_receipts(tmp_path: Path) -> None:
    """A document's ``settings.language`` (docs/PROTOCOL.md 2.6) is journalled as a ``config``
    record and the receipts printed after it speak it, amounts in its money format; a later
    document that leaves it out gives the till its own ``device.language`` (English) back."""
    key = Ed25519PrivateKey.generate()
    receipt = {"header_lines": [], "footer_lines": []}
    async with till_and_printer(tmp_path) as (till, sim):
        await apply_central_settings(
            till, key, 1, receipt=receipt, payment_methods=["cash"], language="es"
        )
        result = await sell(till)
        [spanish] = await sim.wait_receipts(1)
        await apply_central_settings(till, key, 2, receipt=receipt, payment_methods=["cash"])
        await sell(till)
        english = (await sim.wait_receipts(2))[1]
        changes = [r.body async for r in journal.iterate(till.conn) if r.kind == "config"]
    assert result.receipt.language == "es"
    assert "Efectivo" in spanish and "1,80 €" in spanish and "Cash" not in spanish
    assert "Cash" in english and "€1.80" in english and "Efectivo" not in english
    assert [c["value"] for c in changes if c["setting"] == "language"] == ["es", None]
