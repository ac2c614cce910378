"""Scripted sales through the real kiosk app (what ``bitagora demo --headless`` runs)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual import on
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Static
from tui_helpers import till_with_printer

from appliance.store import journal, sales
from appliance.tui import app as tui_app
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from bitagora_devtools.script import ScriptError, run_scripted_sales, tap, wait_until

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


SCREENS = Path(tui_app.__file__).parent / "screens"
SLOW_BUILD_S = 0.3  # how long a loaded CPU (or a Pi) takes to build a screen, here on purpose


class Slow:
    """A screen built late, as on a loaded machine: pushed (so the active screen) and mounted
    at once, its widgets mounted only ``SLOW_BUILD_S`` later (through Textual's hook for lazy
    mounting, as ``textual.lazy.Lazy`` does), so a pause of the pilot does not cover them."""

    async def mount_composed_widgets(self, widgets: list[Widget]) -> None:
        screen: Screen[Any] = self  # type: ignore[assignment]
        screen.set_timer(SLOW_BUILD_S, lambda: screen.mount_all(widgets))


class SlowLock(Slow, LockScreen):
    CSS_PATH = SCREENS / "lock.tcss"  # a CSS path is relative to the class's module


class SlowSaleDone(Slow, SaleDoneScreen):
    CSS_PATH = SCREENS / "sale_done.tcss"  # a CSS path is relative to the class's module


async def test_scripted_sales_wait_for_screens_built_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bitagora demo --headless` under CPU load failed with "NoMatches: '#next-customer' on
    SaleDoneScreen": the driver tapped as soon as the screen was pushed, before it had its
    buttons. The lock screen and the sale-done screen are built late here (the pay screen
    reads its own widgets when mounted, so it cannot be); the driver must wait for them
    (issue 15 item 18)."""
    monkeypatch.setattr(tui_app, "LockScreen", SlowLock)
    monkeypatch.setattr(tui_app, "SaleDoneScreen", SlowSaleDone)
    async with till_with_printer(tmp_path) as (till, _sim):
        results = await run_scripted_sales(till, 2)
        assert [r.record.seq for r in results] == [1, 3]
        assert await sales.sale_count(till.conn) == 2


class LateButton(Screen[None]):
    """A button that comes after the screen, and enabled later still."""

    def compose(self) -> ComposeResult:
        yield Static("wait")

    def add_button(self) -> None:
        self.mount(Button("Go", id="go", disabled=True))

    def enable(self) -> None:
        self.query_one("#go", Button).disabled = False


class Tapped(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.taps = 0
        self.screen_late = LateButton()

    def on_mount(self) -> None:
        self.push_screen(self.screen_late)

    @on(Button.Pressed, "#go")
    def _go(self) -> None:
        self.taps += 1


async def test_a_tap_waits_for_its_button_to_come_and_be_enabled() -> None:
    app = Tapped()
    async with app.run_test() as pilot:
        tapping = asyncio.create_task(tap(pilot, "#go"))
        await pilot.pause()
        assert not tapping.done()  # no button yet: waiting, not failing
        app.screen_late.add_button()
        await pilot.pause()
        assert not tapping.done()  # disabled: still waiting
        app.screen_late.enable()
        await asyncio.wait_for(tapping, 10)
        await wait_until(pilot, lambda: app.taps == 1, "the tap")


async def test_a_tap_on_what_never_comes_says_why() -> None:
    app = Tapped()
    async with app.run_test() as pilot:
        app.screen_late.add_button()
        with pytest.raises(
            ScriptError, match=r"waiting for '#go' to be tappable \(Button\(id='go'.* is disabled\)"
        ):
            await tap(pilot, "#go", timeout=0.5)
        with pytest.raises(ScriptError, match=r"'#nothing' is not on"):
            await tap(pilot, "#nothing", timeout=0.5)


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
