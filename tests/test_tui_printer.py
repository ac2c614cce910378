"""The kiosk shows printer trouble and waiting receipts in a banner, and staff reprint the last
receipt (a COPY, journaled) from the sell screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from print_helpers import sell, till_and_printer
from textual.widgets import Static
from tui_helpers import kiosk

from appliance.store import journal
from bitagora_devtools.script import tap, wait_until

pytestmark = pytest.mark.timeout(60)


def banner(app: object) -> Static:
    return app.sell.query_one("#printer-banner", Static)  # type: ignore[attr-defined, no-any-return]


async def test_banner_shows_paper_out_and_waiting_receipts(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim), kiosk(till) as (app, pilot):
        assert not banner(app).display
        sim.paper_out = True
        await sell(till)
        await sell(till, "water")
        expected = "Printer out of paper — 2 receipts waiting"
        await wait_until(pilot, lambda: str(banner(app).content) == expected, "the banner")
        assert banner(app).display and app.sell.has_class("-printer-problem")

        sim.paper_out = False
        await sim.wait_receipts(2)
        await wait_until(pilot, lambda: not banner(app).display, "the banner to go")
        assert not app.sell.has_class("-printer-problem")


async def test_reprint_button_prints_a_journaled_copy(tmp_path: Path) -> None:
    async with till_and_printer(tmp_path) as (till, sim), kiosk(till) as (app, pilot):
        await tap(pilot, "#reprint")
        await wait_until(pilot, lambda: "No receipt to reprint" in app.sell.notice, "the notice")

        sale = await sell(till)
        await sim.wait_receipts(1)
        await tap(pilot, "#reprint")
        await wait_until(pilot, lambda: "sent to the printer" in app.sell.notice, "the notice")
        texts = await sim.wait_receipts(2)
        assert "** COPY **" in texts[1] and f"Journal #{sale.record.seq} " in texts[1]
        reprint = await journal.get(till.conn, sale.record.seq + 2)  # after its drawer_open
        assert reprint is not None and reprint.kind == "reprint"
        assert reprint.body["original_seq"] == sale.record.seq
        assert reprint.body["staff"] == {"id": "ana", "name": "Ana"}
