"""A device's lifecycle from ops' pages over real HTTP against the live central: label and
location (searchable), a move to another merchant, revocation (the device's next request is
refused 403 `revoked` with the reason), decommissioning (hidden from the fleet page, journal
kept), and an enrollment code made in the browser that enrolls a device."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from central_helpers import log_in, post_form

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def ops(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        login = await log_in(client, central_server.ops_user, central_server.ops_password)
        assert login.status_code == 303
        yield client


async def _enrolled(
    ops: httpx.AsyncClient, central_server: CentralTestServer, device: SimDevice, merchant: str
) -> str:
    assert (await device.enroll(ops, await central_server.make_code(merchant))).status_code == 201
    return f"/devices/{device.device_id}"


async def _act(ops: httpx.AsyncClient, page: str, action: str, **fields: str) -> str:
    """Post one of the device page's forms; the page it leads back to."""
    done = await post_form(ops, page, f"{page}/{action}", **fields)
    assert done.status_code == 303
    return (await ops.get(done.headers["location"])).text


async def test_label_and_location_are_searchable_and_recorded(
    ops: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    device = make_device()
    page = await _enrolled(ops, central_server, device, "Shop A")
    html = await _act(ops, page, "label", label="Till <1>", location="Lisboa, Rua Augusta")
    assert "Label and location saved." in html and "Till &lt;1&gt;" in html
    assert "label &#39;Till &lt;1&gt;&#39;" in html  # the action, recorded and escaped
    for words in ("till <1", "RUA AUGUSTA"):
        found = await ops.get("/", params={"q": words})
        assert "1 device match" in found.text and device.device_id in found.text
    assert "Nothing was changed" in await _act(
        ops, page, "label", label="Till <1>", location="Lisboa, Rua Augusta"
    )


async def test_move_from_the_page_is_the_cli_move(
    ops: httpx.AsyncClient,
    central_server: CentralTestServer,
    db: asyncpg.Connection,
    make_device: Callable[[], SimDevice],
) -> None:
    device = make_device()
    await central_server.make_code("Shop B")
    page = await _enrolled(ops, central_server, device, "Shop A")
    html = await _act(ops, page, "move", merchant="Shop B")
    assert "Device moved" in html and "from &#39;Shop A&#39; to &#39;Shop B&#39;" in html
    moved = await db.fetchrow(
        "SELECT m.name, mv.moved_by FROM device_moves mv JOIN merchants m"
        " ON m.id = mv.to_merchant_id WHERE mv.device_id = $1",
        device.device_id,
    )
    assert (moved["name"], moved["moved_by"]) == ("Shop B", central_server.ops_user)
    recorded = await db.fetch(  # once, by move_device, as from the command line
        "SELECT action, actor, detail FROM audit_log WHERE device_id = $1", device.device_id
    )
    assert [tuple(r) for r in recorded] == [
        ("device.move", central_server.ops_user, "from 'Shop A' to 'Shop B'")
    ]
    assert "Nothing was changed: no such merchant" in await _act(
        ops, page, "move", merchant="Shop B"
    )


async def test_a_revoked_device_is_refused_with_the_reason(
    ops: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    device, other = make_device(), make_device()
    page = await _enrolled(ops, central_server, device, "Shop A")
    await _enrolled(ops, central_server, other, "Shop A")
    assert (await device.heartbeat(ops)).status_code == 200
    assert "Nothing was changed: say why." in await _act(ops, page, "revoke", reason="")
    assert (await device.heartbeat(ops)).status_code == 200
    html = await _act(ops, page, "revoke", reason="stolen from the shop")
    assert "Device revoked" in html and "stolen from the shop" in html
    refused = await device.heartbeat(ops)
    assert refused.status_code == 403
    assert refused.json() == {"error": "revoked", "reason": "stolen from the shop"}
    device.sale(100)
    assert (await device.push(ops)).json()["error"] == "revoked"
    assert (await other.heartbeat(ops)).status_code == 200  # only that key
    # Enrolling the revoked key again lifts nothing, and leaves the code for another device.
    code = await central_server.make_code("Shop A")
    again = await device.enroll(ops, code)
    assert again.status_code == 403 and again.json()["error"] == "revoked"
    assert (await make_device().enroll(ops, code)).status_code == 201
    assert ">revoked</span>" in (await ops.get("/")).text


async def test_decommissioned_devices_leave_the_fleet_page_but_keep_their_journal(
    ops: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    device = make_device()
    page = await _enrolled(ops, central_server, device, "Shop A")
    device.sale(100)
    assert (await device.push(ops)).json() == {"held_seq": 1}
    html = await _act(ops, page, "decommission", reason="replaced by a new till")
    assert "Device decommissioned" in html and "decommissioned: replaced by a new till" in html
    assert (await device.heartbeat(ops)).json()["error"] == "revoked"
    assert device.device_id not in (await ops.get("/")).text
    assert device.device_id in (await ops.get("/", params={"decommissioned": "1"})).text
    journal = await ops.get(f"{page}/journal.jsonl")
    assert journal.status_code == 200 and len(journal.text.splitlines()) == 2  # header + record


async def test_an_enrollment_code_made_in_the_browser_enrolls_a_device(
    ops: httpx.AsyncClient,
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
) -> None:
    await central_server.make_code("Café <Porto>")
    form = (await ops.get("/enrollment-codes")).text
    merchant = re.search(r'<option value="(\d+)">Café &lt;Porto&gt;</option>', form)
    assert merchant
    made = await post_form(
        ops, "/enrollment-codes", "/enrollment-codes", merchant=merchant.group(1), ttl_hours="4"
    )
    assert made.status_code == 200 and "Enrollment code for Café &lt;Porto&gt;" in made.text
    code = re.search(r'<code class="code">([A-Z0-9-]+)</code>', made.text)
    assert code
    assert code.group(1) not in (await ops.get("/enrollment-codes")).text  # shown once
    device = make_device()
    enrolled = await device.enroll(ops, code.group(1))
    assert enrolled.status_code == 201 and enrolled.json()["merchant"] == "Café <Porto>"
    bad = await post_form(
        ops, "/enrollment-codes", "/enrollment-codes", merchant="x", ttl_hours="9"
    )
    assert bad.status_code == 400 and "Choose a merchant" in bad.text
