"""`bitagora doctor` against the device simulators: ESC/POS printer over TCP, drawer kick through
it, PN532 on a pty."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from lightning_helpers import ln_sim
from print_helpers import open_till

from appliance.config import Settings, load_settings
from appliance.doctor import Check, Options, lightning_check, run_checks
from appliance.drivers.ndef import uri_record
from appliance.store import drawer as drawer_store
from appliance.store.db import open_db
from bitagora_devtools.sim.lightning import LightningSim
from bitagora_devtools.sim.nfc import Pn532Simulator, SimCard
from bitagora_devtools.sim.printer import PrinterSimulator

pytestmark = pytest.mark.timeout(60)
__all__ = ["ln_sim"]  # a fixture, used by name

MANAGER_PIN = "9999"  # Marco, seeded as a manager
CARD_UID = "04A1B2C3D4E5F6"


@dataclass
class Bench:
    """A seeded device and its simulated devices."""

    data_dir: Path
    printer: PrinterSimulator
    nfc: Pn532Simulator

    def settings(self) -> Settings:
        return load_settings(
            self.data_dir,
            env={
                "BITAGORA_PRINTER_PORT": str(self.printer.port),
                "BITAGORA_PRINTER_TIMEOUT_S": "2",
                "BITAGORA_NFC_KIND": "pn532",
                "BITAGORA_NFC_PORT": self.nfc.path,
            },
        )

    async def check(self, **options: object) -> dict[str, Check]:
        chosen = Options(offline=True, **options)  # type: ignore[arg-type]
        return {c.name: c for c in await run_checks(self.settings, chosen)}


@asynccontextmanager
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    async with (
        PrinterSimulator(tmp_path / "printer", port=0) as printer,
        Pn532Simulator(link=tmp_path / "ttyNFC") as nfc,
    ):
        async with open_till(tmp_path / "device", printer.port):
            pass  # creates the device and seeds catalog and staff
        yield Bench(tmp_path / "device", printer, nfc)


async def test_every_device_answers(tmp_path: Path) -> None:
    async with bench(tmp_path) as b:
        b.nfc.place_card(SimCard.ntag215(CARD_UID, [uri_record("https://example.com/staff")]))
        checks = await b.check(drawer_pin=MANAGER_PIN)

        printer = checks["printer"]
        assert printer.status == "OK" and "test page printed" in printer.detail
        [page] = await b.printer.wait_receipts(1)
        assert "ñ" in page and "ç" in page  # the accent sample came through the code page
        drawer = checks["drawer"]
        assert drawer.status == "OK" and "pulsed (journal #1)" in drawer.detail
        assert len(await b.printer.wait_drawer_kicks(1)) == 1
        nfc = checks["nfc"]
        assert nfc.status == "OK" and nfc.detail.startswith("PN532 firmware 1.6")
        assert f"card {CARD_UID}, NDEF https://example.com/staff" in nfc.detail

    conn = await open_db(tmp_path / "device" / "appliance.sqlite3")
    try:
        [opening] = await drawer_store.openings(conn)
    finally:
        await conn.close()
    assert opening.body["reason"] == "test"
    assert opening.body["approved_by"] == {"id": "marco", "name": "Marco"}


async def test_device_trouble_is_a_fail_line_each(tmp_path: Path) -> None:
    async with bench(tmp_path) as b:
        b.printer.paper_out = True
        b.nfc.unplug()
        checks = await b.check(drawer_pin="1234")  # a cashier's PIN

        assert checks["printer"].status == "FAIL"
        assert "out of paper" in checks["printer"].detail
        assert checks["printer"].action == "load a new roll"
        assert checks["drawer"].status == "FAIL" and "cashier" in checks["drawer"].detail
        assert checks["nfc"].status == "FAIL" and b.nfc.path in checks["nfc"].detail
        assert "HSU" in checks["nfc"].action
        assert b.printer.receipts() == [] and b.printer.drawer_kicks() == []


async def test_without_a_pin_the_drawer_is_left_alone(tmp_path: Path) -> None:
    async with bench(tmp_path) as b:
        checks = await b.check(print_test_page=False)
        assert checks["drawer"].status == "SKIP"
        assert checks["printer"].status == "OK" and checks["printer"].detail.endswith("paper ok")
        assert checks["nfc"].detail.endswith("no card on the reader")
        assert b.printer.receipts() == [] and b.printer.drawer_kicks() == []


async def test_lightning_node_over_its_socket(
    ln_sim: tuple[LightningSim, Path],  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    _sim, socket_path = ln_sim
    env = {"BITAGORA_LIGHTNING_KIND": "socket", "BITAGORA_LIGHTNING_SOCKET_PATH": str(socket_path)}
    check = await lightning_check(load_settings(tmp_path, env=env))
    assert check.status == "OK" and "block 800000" in check.detail

    env["BITAGORA_LIGHTNING_SOCKET_PATH"] = str(tmp_path / "no-such-socket")
    check = await lightning_check(load_settings(tmp_path, env=env))
    assert check.status == "FAIL" and "lightningd is running" in check.action
