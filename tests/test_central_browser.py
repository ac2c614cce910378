"""Central's pages in a real headless Chromium (tests/browser_helpers.py): what a person at a
browser does, through the login form, cookies and redirects the browser itself handles."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest
from browser_helpers import chromium_page
from playwright.async_api import expect

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(90)


async def test_ops_log_in_see_a_device_and_its_sales_then_log_out(
    central_server: CentralTestServer, make_device: Callable[[], SimDevice]
) -> None:
    shop = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        code = await central_server.make_code("Café <Zürich>")
        assert (await shop.enroll(client, code)).status_code == 201
        shop.sale(1250)
        assert (await shop.push(client)).status_code == 200

    async with chromium_page(central_server.base_url) as page:
        await page.goto("/")
        await expect(page).to_have_url(re.compile(r"/login$"))  # followed by the browser

        await page.get_by_label(re.compile("Username|Email")).fill(central_server.ops_user)
        await page.get_by_label("Password").fill("not-the-password")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_contain_text("Wrong username or password")

        await page.get_by_label("Password").fill(central_server.ops_password)
        await page.get_by_role("button", name="Log in").click()
        await expect(page).to_have_url(re.compile(r"/$"))
        row = page.get_by_role("row").filter(has_text=shop.device_id)
        await expect(row).to_contain_text("Café <Zürich>")  # shown as text, not markup
        await expect(row).to_contain_text("€12.50")

        await page.get_by_role("button", name=re.compile("Log out", re.I)).click()
        await expect(page).to_have_url(re.compile(r"/login$"))
        await page.goto("/")
        await expect(page).to_have_url(re.compile(r"/login$"))
