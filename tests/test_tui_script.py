"""Scripted sales through the real kiosk app (what ``bitagora demo --headless`` runs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual.app import App
from tui_helpers import till_with_printer

from appliance.store import journal, sales
from bitagora_devtools.script import ScriptError, run_scripted_sales, wait_until

pytestmark = pytest.mark.timeout(90)


async def test_scripted_sales_commit_print_and_open_the_drawer(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        results = await run_scripted_sales(till, 2)
        assert [r.record.seq for r in results] == [1, 3]  # each followed by its drawer_open
        assert all(r.problems == () for r in results)
        assert all(r.change.minor >= 0 and r.total.minor > 0 for r in results)
        receipts = await sim.wait_receipts(2)
        for result, receipt in zip(results, receipts, strict=True):
            assert result.sale_id in receipt and result.total.format() in receipt
        assert len(await sim.wait_drawer_kicks(2)) == 2
        assert await sales.sale_count(till.conn) == 2
        records = await journal.read_range(till.conn, 1, 10)
        assert [(r.kind, r.body["sale_id"]) for r in records] == [
            (kind, r.sale_id) for r in results for kind in ("sale", "drawer_open")
        ]
        # Sale 2 (index 1): two products tapped, one more scanned.
        assert sum(line.quantity for line in results[1].receipt.lines) == 3


async def test_scripted_sales_fail_clearly(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        with pytest.raises(ScriptError, match="could not unlock: Wrong PIN"):
            await run_scripted_sales(till, 1, pin="0000")
        assert await sales.sale_count(till.conn) == 0


class Failing(App[None]):
    """An app whose one key binding fails, as a bug in a screen would."""

    BINDINGS = [("f", "fail", "fail")]

    def action_fail(self) -> None:
        raise RuntimeError("a bug in the app")


async def test_waiting_ends_at_once_when_the_app_fails() -> None:
    app = Failing()
    with pytest.raises(RuntimeError, match="a bug in the app") as raised:
        async with app.run_test() as pilot:
            await pilot.press("f")
            async with asyncio.timeout(10):  # far below wait_until's own bound
                await wait_until(pilot, lambda: False, "what never comes", timeout=60)
    # run_test raises the app's own exception; the wait's says which wait it ended.
    assert isinstance(raised.value.__context__, ScriptError)
    assert "stopped (exit 1) waiting for what never comes" in str(raised.value.__context__)
