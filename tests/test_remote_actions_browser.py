"""A remote test print from the device page, in a real headless Chromium: ops click "Test
print", the uplink daemon of a real till fetches the signed action from the live central, the
kiosk (the real app, headless) prints the test page between sales on the ESC/POS printer
simulator, and the result shows on the device page."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_helpers import chromium_page
from playwright.async_api import expect
from tui_helpers import kiosk, till_with_printer
from uplink_helpers import CentralDb, running, wait_until

from appliance.config import UplinkSettings
from appliance.store.db import open_db
from appliance.uplink.client import CentralClient
from appliance.uplink.daemon import Uplink, save_enrollment

pytestmark = pytest.mark.timeout(150)


async def test_ops_click_test_print_and_the_printer_prints_it(
    central_server: Any, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with till_with_printer(tmp_path) as (till, sim), httpx.AsyncClient(timeout=10) as http:
        client = CentralClient(central_server.base_url, till.identity, http)
        enrollment = await client.enroll(await db.make_code("Remote Shop"))
        await save_enrollment(till.conn, enrollment, central_server.base_url)
        device_id = till.identity.device_id
        # The uplink is its own process on the device: its own connection to the store.
        settings = dataclasses.replace(
            till.settings, uplink=UplinkSettings(central_url=central_server.base_url, heartbeat_s=1)
        )
        conn = await open_db(settings.database_path)
        try:
            uplink = Uplink(settings, conn, till.identity, client, poll_interval_s=0.1)
            async with running(uplink), kiosk(till, remote_poll_s=0.2):
                async with chromium_page(central_server.base_url) as page:
                    await page.goto("/login")
                    await page.get_by_label(re.compile("Username|Email")).fill(
                        central_server.ops_user
                    )
                    await page.get_by_label("Password").fill(central_server.ops_password)
                    await page.get_by_role("button", name="Log in").click()
                    await page.goto(f"/devices/{device_id}")
                    await page.get_by_role("button", name="Test print").click()
                    await expect(page.get_by_role("status")).to_contain_text("Action queued")

                    async def printed() -> bool:
                        return len(sim.receipts()) == 1

                    await wait_until(printed, 60, "the test page at the printer")
                    assert "TEST PAGE" in sim.receipts()[0]

                    async def reported() -> bool:
                        state = await db.fetchval(
                            "SELECT state FROM remote_actions WHERE device_id = $1", device_id
                        )
                        return bool(state == "done")

                    await wait_until(reported, 30, "the result at central")
                    await page.reload()
                    row = page.get_by_role("row").filter(has_text="Test print")
                    await expect(row).to_contain_text("done")
                    await expect(row).to_contain_text('"printed": true')
                    await expect(row).to_contain_text(central_server.ops_user)
        finally:
            await conn.close()
    audit = await db.fetch(
        "SELECT actor, action FROM audit_log WHERE device_id = $1 ORDER BY id", device_id
    )
    assert [(a["actor"], a["action"]) for a in audit] == [
        (central_server.ops_user, "remote_action.test_print"),
        (f"device:{device_id}", "remote_action.result"),
    ]
