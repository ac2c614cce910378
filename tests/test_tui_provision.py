"""The kiosk's technician screen: a failed provisioning shows at start, in words, with the
doctor's report, and Retry enrolls against a real central once the code is right."""

from __future__ import annotations

from pathlib import Path

from provision_helpers import CATALOG, checked, device_root, shop_setup
from textual.widgets import Static
from tui_helpers import till_with_printer
from uplink_helpers import CentralDb

from appliance import bootstrap
from appliance.config import load_settings
from appliance.core.provisioning import ProvisionStatus
from appliance.i18n import use
from appliance.provision.status import read_status
from appliance.store.identity import load_identity
from appliance.tui.app import KioskApp
from appliance.tui.scan import StepClock
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.technician import TechnicianScreen
from bitagora_devtools.script import SIZE, one_sale, unlock, wait_until
from bitagora_devtools.sim.printer import PrinterSimulator


def shown(app: KioskApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_a_refused_code_shows_the_technician_screen_and_retry_enrolls(
    central_server, tmp_path: Path
) -> None:
    device = device_root(tmp_path)
    device.write_setup(central_server.base_url, "ABCD-EFGH-JKMN")  # unknown to central
    assert await device.provision() == 1
    status = read_status(device.data_dir)
    assert status is not None

    async with till_with_printer(tmp_path) as (till, _printer):
        assert till.settings.data_dir == device.data_dir.resolve()
        app = KioskApp(till, clock=StepClock(), provisioning=status)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, TechnicianScreen) and app.screen.is_mounted,
                "the technician screen",
            )
            message = shown(app, "#tech-message")
            assert "enrollment failed" in message
            assert "central refused the enrollment code: it is unknown" in message
            assert "uplink" in shown(app, "#tech-doctor")

            # Retrying with the same wrong code fails again, and says so again.
            screen = app.screen
            assert isinstance(screen, TechnicianScreen)
            await pilot.click("#tech-retry")
            await wait_until(
                pilot,
                lambda: screen.status is not status and not screen.busy,
                "the second answer",
            )
            assert "central refused the enrollment code" in shown(app, "#tech-message")
            # The kiosk holds the printer and the reader: a retry's report leaves them alone.
            report = shown(app, "#tech-doctor")
            assert {"uplink", "devices"} <= checked(report)
            assert not {"printer", "drawer", "nfc", "touch"} & checked(report)

            # The technician gets a good code from central ops and writes it into the file.
            code = await central_server.make_code("Café Lisboa")
            device.setup.write_text(device.setup.read_text().replace("ABCD-EFGH-JKMN", code))
            await pilot.click("#tech-retry")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                "the lock screen",
                timeout=30,
            )

    device_id = load_identity(device.data_dir).device_id
    db = CentralDb(central_server.database_url)
    assert [r["device_id"] for r in await db.fetch("SELECT device_id FROM devices")] == [device_id]
    retried = read_status(device.data_dir)
    assert retried is not None and retried.ok and retried.device_id == device_id
    # The kiosk may not write the boot partition: the next boot's run erases the code.
    assert retried.setup_sha256 == ""
    assert await device.provision() == 0
    assert code not in device.setup.read_text()
    assert [r["device_id"] for r in await db.fetch("SELECT device_id FROM devices")] == [device_id]


async def test_a_provisioned_kiosk_starts_at_the_lock_screen(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _printer):
        app = KioskApp(till, clock=StepClock(), provisioning=None)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                "the lock screen",
            )
            assert not any(isinstance(s, TechnicianScreen) for s in app.screen_stack)


async def test_a_shop_provisioned_from_its_card_unlocks_with_its_manager_and_sells_its_products(
    central_server, tmp_path: Path
) -> None:
    # The technician's card: the shop, its first manager and its own catalog, no demo anything.
    async with PrinterSimulator(tmp_path / "printer", port=0) as printer:
        device = device_root(tmp_path)
        more = f'\n[printer]\nkind = "network"\nhost = "127.0.0.1"\nport = {printer.port}\n'
        device.write_setup(
            central_server.base_url,
            await central_server.make_code("Mercearia Rosa"),
            shop_setup(more),
        )
        (device.setup.parent / "catalog.csv").write_text(CATALOG, encoding="utf-8")
        assert await device.provision() == 0
        status = read_status(device.data_dir)
        assert status is not None and status.ok

        # The kiosk as its unit starts it: the settings provisioning wrote, nothing seeded.
        settings = load_settings(device.data_dir, device.config, env={})
        till = await bootstrap.open_till(settings)
        try:
            app = KioskApp(till, clock=StepClock(), provisioning=status)
            async with app.run_test(size=SIZE) as pilot:
                await unlock(pilot, "2580")
                await wait_until(pilot, lambda: app.sell.catalog_loaded, "the catalog")
                assert app.screen is app.sell
                sale = await one_sale(pilot, app, 0)
        finally:
            await till.close()

    body = sale.record.body
    assert body["staff"] == {"id": "marta", "name": "Marta Silva"}
    (line,) = body["lines"]
    prices = {"pao": 195, "leite": 89, "vinho": 650}  # CATALOG's, in cents
    assert line["sku"] in prices and line["quantity"] == 1
    assert sale.total.minor == line["unit_price"] == prices[line["sku"]]


async def test_the_technician_screen_names_the_step_in_the_tills_language(tmp_path: Path) -> None:
    status = ProvisionStatus(
        "failed", "enrollment", "…", "2026-12-07T09:00:00Z", "/boot/firmware/x.toml", "/"
    )
    env = {"BITAGORA_DEVICE_LANGUAGE": "es"}
    async with till_with_printer(tmp_path, env) as (till, _printer):
        app = KioskApp(till, clock=StepClock(), provisioning=status)
        try:
            async with app.run_test(size=SIZE) as pilot:
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, TechnicianScreen) and app.screen.is_mounted,
                    "the technician screen",
                )
                assert shown(app, "#tech-message").startswith("alta falló (2026-12-07T09:00:00Z):")
        finally:
            use("en")  # the process's language, as the other tests expect it
