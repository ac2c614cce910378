"""The remote actions the kiosk runs (services/remote_actions.py, tui/remote.py), on a real till
over a real store with the ESC/POS printer simulator (the drawer kicks through it): a drawer
test opens the drawer only on a manager's PIN and is refused without one; none is taken while
a sale is in progress; a restart ends the kiosk and is reported done by the next one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tui_helpers import kiosk, send_keys, till_with_printer
from uplink_helpers import wait_until as wait_for

from appliance import bootstrap
from appliance.services.till import Till
from appliance.store import journal
from appliance.store import remote_actions as store
from appliance.tui.screens.drawer_test import DrawerTestScreen
from bitagora_devtools.script import tap, tap_product, wait_for_screen, wait_until
from bitagora_protocol.remote_action import RemoteAction

pytestmark = pytest.mark.timeout(90)


async def queue(till: Till, action_id: int, kind: str) -> None:
    """An action as the uplink stores it once verified (tests/test_remote_actions.py checks
    the verification)."""
    now = int(time.time())
    action = RemoteAction(action_id, till.identity.device_id, kind, {}, now, now + 900)
    assert await store.receive(till.conn, action, json.dumps({"action": action.to_dict()}))


async def state_of(till: Till, action_id: int, state: str) -> bool:
    return (await store.get(till.conn, action_id) or {}).get("state") == state


async def drawer_openings(till: Till) -> list[dict[str, object]]:
    return [r.body async for r in journal.iterate(till.conn) if r.kind == "drawer_open"]


async def test_a_drawer_test_without_approval_is_refused_and_opens_nothing(
    tmp_path: Path,
) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        async with kiosk(till, remote_poll_s=0.1) as (app, pilot):
            await queue(till, 7, "drawer_test")
            await wait_for_screen(pilot, DrawerTestScreen, "the drawer test's PIN pad")
            await tap(pilot, "#approval-cancel")
            await wait_until(pilot, lambda: app.screen is app.sell, "back to selling")
            await wait_for(lambda: state_of(till, 7, "failed"), what="the refusal recorded")
        assert (await store.get(till.conn, 7) or {})["result"] == {
            "refused": "refused at the till: no manager approved it"
        }
        assert sim.drawer_kicks() == [] and await drawer_openings(till) == []


async def test_a_drawer_test_opens_on_a_managers_pin_and_is_journalled(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        async with kiosk(till, remote_poll_s=0.1) as (app, pilot):
            await queue(till, 8, "drawer_test")
            await wait_for_screen(pilot, DrawerTestScreen, "the drawer test's PIN pad")
            send_keys(pilot, [*"1234", "enter"])  # the cashier's own PIN: not a manager's
            await wait_until(
                pilot,
                lambda: "manager" in str(app.screen.query_one("#pin-message").render()),
                "the refusal of a cashier's PIN",
            )
            assert sim.drawer_kicks() == []
            send_keys(pilot, [*"9999", "enter"])  # Marco, a manager
            await wait_until(pilot, lambda: app.screen is app.sell, "back to selling")
        assert len(await sim.wait_drawer_kicks(1)) == 1
        (opening,) = await drawer_openings(till)
        assert opening["reason"] == "test" and opening["approved_by"] == {
            "id": "marco",
            "name": "Marco",
        }
        row = await store.get(till.conn, 8)
        assert row is not None and row["state"] == "done"
        assert row["result"]["opened"] is True and row["result"]["approved_by"] == "Marco"


async def test_a_drawer_test_approved_after_its_expiry_opens_nothing(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        async with kiosk(till, remote_poll_s=0.1) as (app, pilot):
            await queue(till, 11, "drawer_test")
            await wait_for_screen(pilot, DrawerTestScreen, "the drawer test's PIN pad")
            till.remote.clock = lambda: time.time() + 901  # nobody came for a quarter of an hour
            send_keys(pilot, [*"9999", "enter"])
            await wait_until(
                pilot,
                lambda: "expired" in str(app.screen.query_one("#pin-message").render()),
                "the expiry shown",
            )
            await tap(pilot, "#approval-cancel")
            await wait_until(pilot, lambda: app.screen is app.sell, "back to selling")
        row = await store.get(till.conn, 11)
        assert row == {
            "kind": "drawer_test",
            "state": "failed",
            "result": {"error": "expired before a manager approved it"},
        }
        assert sim.drawer_kicks() == [] and await drawer_openings(till) == []


async def test_no_action_is_taken_during_a_sale(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        async with kiosk(till, remote_poll_s=0.1) as (app, pilot):
            espresso = next(p for p in await till.sales.products() if p.sku == "espresso")
            await tap_product(pilot, app.sell, espresso)
            await queue(till, 9, "test_print")
            for _ in range(3):  # what the poll's timer calls: a cart is open, nothing is taken
                app.remote._tick()
                await pilot.pause()
            assert (await store.get(till.conn, 9) or {})["state"] == "queued"
            app.sell.next_customer()  # the cart emptied: the test page prints now
            await wait_until(pilot, lambda: len(sim.receipts()) == 1, "the test page")
        assert "TEST PAGE" in sim.receipts()[0]


async def test_a_restart_ends_the_kiosk_and_the_next_one_reports_it_done(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _):
        async with kiosk(till, remote_poll_s=0.1) as (app, pilot):
            await queue(till, 10, "restart")
            await wait_until(pilot, lambda: app.return_code is not None, "the kiosk's exit")
        assert (await store.get(till.conn, 10) or {})["state"] == "running"
        await till.close()
        # systemd starts the kiosk again (Restart=always): the new one reports the restart done.
        again = await bootstrap.open_till(till.settings)
        try:
            async with kiosk(again, pin=None, remote_poll_s=0.1):
                await wait_for(lambda: state_of(again, 10, "done"), what="the restart reported")
        finally:
            await again.close()
