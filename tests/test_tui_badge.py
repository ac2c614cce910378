"""Staff badges: bound in the store, checked by the till, and a tap on the (simulated) PN532
unlocking the kiosk through the real Textual app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.widgets import Static
from tui_helpers import kiosk

from appliance import bootstrap
from appliance.config import load_settings
from appliance.drivers import pn532_frames as pf
from appliance.drivers.nfc import Pn532Reader
from appliance.services.till import AuthError, Till
from appliance.store import staff as staff_store
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.sell import SellScreen
from bitagora_devtools.script import wait_until
from bitagora_devtools.seed import DEMO_BADGES, seed_demo
from bitagora_devtools.sim.nfc import Pn532Simulator, SimCard
from bitagora_devtools.sim.printer import PrinterSimulator

pytestmark = pytest.mark.timeout(60)

ANA_BADGE = dict(DEMO_BADGES)["ana"]
IN_LIST = pf.IN_LIST_PASSIVE_TARGET


@asynccontextmanager
async def till_with_reader(tmp_path: Path) -> AsyncIterator[tuple[Till, Pn532Simulator]]:
    """A till whose settings name a PN532 on the simulator's pty, as a kiosk's would."""
    async with (
        PrinterSimulator(tmp_path / "printer", port=0) as printer,
        Pn532Simulator(link=tmp_path / "ttyNFC") as reader,
    ):
        env = {
            "BITAGORA_PRINTER_PORT": str(printer.port),
            "BITAGORA_NFC_KIND": "pn532",
            "BITAGORA_NFC_PORT": reader.path,
            "BITAGORA_NFC_TIMEOUT_S": "0.5",
        }
        till = await bootstrap.open_till(load_settings(tmp_path / "device", env=env))
        try:
            await seed_demo(till.conn, till.currency)
            yield till, reader
        finally:
            await till.close()


async def test_badges_bind_and_look_up(tmp_path: Path) -> None:
    async with till_with_reader(tmp_path) as (till, _reader):
        assert isinstance(till.devices.nfc, Pn532Reader)
        conn = till.conn
        assert (await till.access.unlock_badge(ANA_BADGE)).name == "Ana"
        # as printed on a card or typed by a technician: separators and case do not matter
        spaced = ":".join(ANA_BADGE[i : i + 2] for i in range(0, 14, 2)).lower()
        assert (await till.access.unlock_badge(spaced)).id == "ana"
        assert await staff_store.bind_badge(conn, "marco", "de:ad:be:ef") == "DEADBEEF"
        assert await staff_store.bind_badge(conn, "marco", "DEADBEEF") == "DEADBEEF"  # again: no-op
        assert (await till.access.unlock_badge("DEADBEEF")).name == "Marco"
        with pytest.raises(staff_store.BadgeError, match="already bound to marco"):
            await staff_store.bind_badge(conn, "ana", "DEADBEEF")
        with pytest.raises(staff_store.BadgeError, match="not a card UID"):
            await staff_store.bind_badge(conn, "ana", "12345")
        with pytest.raises(staff_store.BadgeError, match="no staff member"):
            await staff_store.bind_badge(conn, "nobody", "CAFEBABE")
        assert await staff_store.unbind_badge(conn, "DEADBEEF")
        assert not await staff_store.unbind_badge(conn, "DEADBEEF")
        for unknown in ("DEADBEEF", "not hex at all", ""):
            with pytest.raises(AuthError):
                await till.access.unlock_badge(unknown)


async def test_staff_rewritten_keeps_their_badges(tmp_path: Path) -> None:
    async with till_with_reader(tmp_path) as (till, _reader):
        await staff_store.add_staff(till.conn, "ana", "Ana M.", "cashier", "4321")  # new PIN
        assert (await till.access.unlock_badge(ANA_BADGE)).name == "Ana M."


async def test_badge_tap_unlocks_the_kiosk(tmp_path: Path) -> None:
    async with till_with_reader(tmp_path) as (till, reader), kiosk(till, pin=None) as (app, pilot):
        lock = app.screen
        assert isinstance(lock, LockScreen)
        prompt = str(lock.query_one("#lock-prompt", Static).content)
        assert prompt == "Enter your PIN or tap your badge"

        reader.place_card(SimCard.ntag215("04000000000001"))  # a card nobody owns
        await wait_until(pilot, lambda: lock.pad.message != "", "the unknown badge")
        assert lock.pad.message == "Unknown badge, use your PIN"
        assert app.screen is lock

        reader.place_card(SimCard.ntag215(ANA_BADGE))
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SellScreen) and app.screen.is_mounted,
            "the sell screen",
        )
        assert app.sell.staff is not None and app.sell.staff.name == "Ana"

        # a tap while selling does nothing; after Lock, Marco's badge takes over
        reader.place_card(SimCard.ntag215(dict(DEMO_BADGES)["marco"]))
        await wait_until(pilot, lambda: reader.commands.count(IN_LIST) > 3, "more polls")
        assert app.screen is app.sell and app.sell.staff.name == "Ana"
        reader.remove_card()
        polls = reader.commands.count(IN_LIST)
        await wait_until(pilot, lambda: reader.commands.count(IN_LIST) > polls + 1, "a poll")
        app.lock()
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
            "the lock screen",
        )
        reader.place_card(SimCard.ntag215(dict(DEMO_BADGES)["marco"]))
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SellScreen) and app.screen.is_mounted,
            "the sell screen",
        )
        assert app.sell.staff.name == "Marco"


async def test_kiosk_keeps_working_when_the_reader_is_unplugged(tmp_path: Path) -> None:
    async with till_with_reader(tmp_path) as (till, reader), kiosk(till, pin=None) as (app, pilot):
        await reader.wait_for(lambda: reader.commands.count(IN_LIST) > 0, "a poll")
        reader.unplug()
        # the PIN still works while the reader is gone ...
        await pilot.press("1", "2", "3", "4", "enter")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SellScreen) and app.screen.is_mounted,
            "the sell screen",
        )
        app.lock()
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
            "the lock screen",
        )
        # ... and badges work again once it is back
        reader.replug()
        reader.place_card(SimCard.ntag215(ANA_BADGE))
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, SellScreen) and app.screen.is_mounted,
            "the sell screen",
        )
        assert app.sell.staff is not None and app.sell.staff.name == "Ana"


async def test_no_reader_configured(tmp_path: Path) -> None:
    async with PrinterSimulator(tmp_path / "printer", port=0) as printer:
        env = {"BITAGORA_PRINTER_PORT": str(printer.port)}
        till = await bootstrap.open_till(load_settings(tmp_path / "device", env=env))
        try:
            await seed_demo(till.conn, till.currency)
            assert till.devices.nfc is None and not till.capabilities.nfc
            async with kiosk(till, pin=None) as (app, _pilot):
                lock = app.screen
                assert isinstance(lock, LockScreen)
                assert str(lock.query_one("#lock-prompt", Static).content) == "Enter your PIN"
        finally:
            await till.close()
