"""Remote actions end to end over real HTTP (docs/PROTOCOL.md 2.7): ops queue them on the device
page of a live central (PostgreSQL), the uplink daemon of a real device store fetches,
verifies and stores them, runs the doctor (a real ``bitagora doctor`` child process) and reads
the kiosk's rotated log, and posts the results back; the device page shows them and the audit
log holds each request and result. And what the device refuses: an action forged, meant for
another device, expired, or replayed."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from central_helpers import log_in, post_form
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from uplink_helpers import CentralDb, Device, open_device_store, running, uplink_for, wait_until

from appliance.logs import KIOSK_LOG_BACKUPS, kiosk_log
from appliance.store import remote_actions as store
from appliance.store.config_documents import STATE_CENTRAL_KEY
from appliance.store.outbox import set_state
from appliance.uplink.actions import ActionRunner
from appliance.uplink.client import CentralClient
from bitagora_protocol.journal import public_key_bytes
from bitagora_protocol.remote_action import RemoteAction, sign
from central.serve import start_server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def ops(central_server: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        login = await log_in(client, central_server.ops_user, central_server.ops_password)
        assert login.status_code == 303
        yield client


async def request_action(ops: httpx.AsyncClient, device_id: str, **fields: str) -> str:
    """Click one of the device page's action buttons; the page it leads back to."""
    page = f"/devices/{device_id}"
    done = await post_form(ops, page, f"{page}/actions", **fields)
    assert done.status_code == 303
    return (await ops.get(done.headers["location"])).text


def write_rotated_log(data_dir: Path) -> list[str]:
    """A kiosk log rotated once: 30 lines in kiosk.log.1, then 20 in kiosk.log."""
    path = kiosk_log(data_dir)
    path.parent.mkdir(parents=True)
    older = [f"2026-12-07 10:00:{i:02} INFO appliance.sale older line {i}" for i in range(30)]
    newer = [f"2026-12-07 11:00:{i:02} INFO appliance.sale newer line {i}" for i in range(20)]
    path.with_name("kiosk.log.1").write_text("\n".join(older) + "\n", encoding="utf-8")
    path.write_text("\n".join(newer) + "\n", encoding="utf-8")
    return older + newer


async def test_doctor_and_log_lines_go_to_central_and_back(
    central_server: Any,
    ops: httpx.AsyncClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path / "device") as device:
        device_id = device.identity.device_id
        await device.enroll(central_server.base_url, await db.make_code())
        lines = write_rotated_log(device.data_dir)
        monkeypatch.setenv("BITAGORA_DATA_DIR", str(device.data_dir))  # as `bitagora uplink` sets

        html = await request_action(ops, device_id, kind="doctor")
        assert "Action queued" in html and "Run doctor" in html
        html = await request_action(ops, device_id, kind="logs", lines="25")
        assert "Upload log lines (25 lines)" in html

        async with uplink_for(device, central_server.base_url, heartbeat_s=1) as (uplink, _):
            async with running(uplink):

                async def finished() -> bool:
                    states = await db.fetch(
                        "SELECT state FROM remote_actions WHERE device_id = $1", device_id
                    )
                    return sorted(r["state"] for r in states) == ["done", "done"]

                await wait_until(finished, 90, "both results at central")

        rows = {
            r["kind"]: r
            for r in await db.fetch(
                "SELECT kind, result, delivered_at FROM remote_actions WHERE device_id = $1",
                device_id,
            )
        }
        doctor = json.loads(rows["doctor"]["result"])
        names = [check["name"] for check in doctor["doctor"]["checks"]]
        assert {"config", "database", "journal", "disk"} <= set(names)
        assert doctor["ok"] is doctor["doctor"]["ok"]
        logs = json.loads(rows["logs"]["result"])
        assert logs["lines"] == lines[-25:]  # 20 from kiosk.log, 5 from before its rotation
        assert all(r["delivered_at"] is not None for r in rows.values())

        html = (await ops.get(f"/devices/{device_id}")).text
        assert "Doctor report" in html and "&#34;database&#34;" in html
        assert "newer line 19" in html and "older line 25" in html and "older line 24" not in html
        audit = await db.fetch(
            "SELECT actor, action, detail FROM audit_log WHERE device_id = $1 ORDER BY id",
            device_id,
        )
        assert [(a["actor"], a["action"]) for a in audit] == [
            (central_server.ops_user, "remote_action.doctor"),
            (central_server.ops_user, "remote_action.logs"),
            *sorted(
                [(f"device:{device_id}", "remote_action.result")] * 2,
            ),
        ]
        assert {a["detail"] for a in audit[2:]} == {"doctor done", "logs done"}
        # Reported: the device keeps no unreported result.
        assert await store.unreported(device.conn) == []


async def test_a_result_posted_twice_is_taken_once(
    central_server: Any, ops: httpx.AsyncClient, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with (
        open_device_store(tmp_path / "device") as device,
        httpx.AsyncClient(timeout=10) as http,
    ):
        device_id = device.identity.device_id
        await device.enroll(central_server.base_url, await db.make_code())
        await request_action(ops, device_id, kind="test_print")
        client = CentralClient(central_server.base_url, device.identity, http)
        (signed,) = await client.fetch_actions()
        action_id = signed["action"]["id"]
        assert await client.post_action_result(action_id, "done", {"printed": True}) == "done"
        again = await client.post_action_result(action_id, "failed", {"error": "late copy"})
        assert again == "done"  # the first result stands
        assert await client.fetch_actions() == []  # finished: not served again
        results = await db.fetch(
            "SELECT detail FROM audit_log WHERE action = 'remote_action.result'"
        )
        assert [r["detail"] for r in results] == ["test_print done"]
        unknown = await http.get(central_server.base_url + "/api/v1/actions")
        assert unknown.status_code == 401  # unsigned


async def test_an_action_not_fetched_in_time_expires(
    central_server: Any, ops: httpx.AsyncClient, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path / "device") as device:
        device_id = device.identity.device_id
        await device.enroll(central_server.base_url, await db.make_code())
        await request_action(ops, device_id, kind="restart")
        await db.fetch(  # as if asked 16 minutes ago
            "UPDATE remote_actions SET requested_at = requested_at - $1::interval,"
            " expires_at = expires_at - $1::interval",
            timedelta(minutes=16),
        )
        html = (await ops.get(f"/devices/{device_id}")).text
        assert "not delivered before it expired" in html
        async with httpx.AsyncClient(timeout=10) as http:
            client = CentralClient(central_server.base_url, device.identity, http)
            assert await client.fetch_actions() == []
        expired = await db.fetch(
            "SELECT actor, detail FROM audit_log WHERE action = 'remote_action.expired'"
        )
        assert [(e["actor"], e["detail"]) for e in expired] == [
            ("central", "restart expired: not delivered before it expired")
        ]


class ScriptedActions:
    """A server that answers ``GET /api/v1/actions`` with whatever the test puts in
    ``actions`` and takes results (a stand-in for a central that is not ours)."""

    def __init__(self) -> None:
        self.actions: list[Any] = []
        self.results: list[tuple[int, dict[str, Any]]] = []

    def app(self) -> Starlette:
        async def actions(request: Request) -> Response:
            return JSONResponse({"actions": self.actions, "server_time": int(time.time())})

        async def result(request: Request) -> Response:
            body = json.loads(await request.body())
            self.results.append((int(request.path_params["action_id"]), body))
            return JSONResponse({"state": body["state"]})

        return Starlette(
            routes=[
                Route("/api/v1/actions", actions, methods=["GET"]),
                Route("/api/v1/actions/{action_id}/result", result, methods=["POST"]),
            ]
        )


async def pinned(device: Device, key: Ed25519PrivateKey) -> None:
    await set_state(device.conn, STATE_CENTRAL_KEY, public_key_bytes(key.public_key()).hex())


def logs_action(action_id: int, device_id: str, expires_in_s: int = 600) -> RemoteAction:
    now = int(time.time())
    return RemoteAction(action_id, device_id, "logs", {"lines": 3}, now, now + expires_in_s)


async def test_the_device_refuses_forged_misaddressed_expired_and_replayed_actions(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    central_key, forger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    scripted = ScriptedActions()
    server = await start_server(scripted.app(), "127.0.0.1", 0)
    try:
        async with (
            open_device_store(tmp_path / "device") as device,
            httpx.AsyncClient(timeout=10) as http,
        ):
            await pinned(device, central_key)
            write_rotated_log(device.data_dir)
            me = device.identity.device_id
            tampered = sign(central_key, logs_action(5, me))
            tampered["action"]["parameters"]["lines"] = 1000
            scripted.actions = [
                sign(forger, logs_action(1, me)),  # not central's key
                sign(central_key, logs_action(2, "dev-00000000000000000000")),  # another device
                sign(central_key, logs_action(3, me, expires_in_s=-1)),  # expired
                tampered,  # central's signature over other bytes
                sign(central_key, logs_action(4, me)),  # the one good action
            ]
            client = CentralClient(server.base_url, device.identity, http)
            runner = ActionRunner(device.settings(), device.conn, device.identity, client)
            caplog.set_level("ERROR", "appliance.uplink.actions")

            assert await runner.fetch_once() == [4]
            refusals = [r.getMessage() for r in caplog.records]
            assert len(refusals) == 4
            assert "not central's pinned key" in refusals[0]
            assert "is for dev-00000000000000000000" in refusals[1]
            assert "expired" in refusals[2]
            assert "sha256 is not the action's SHA-256" in refusals[3]
            for refused in (1, 2, 3, 5):
                assert await store.get(device.conn, refused) is None  # never stored, never run

            await runner.run_own()
            assert await runner.report_once() == 1
            assert [(i, body["state"]) for i, body in scripted.results] == [(4, "done")]
            assert scripted.results[0][1]["result"]["lines"][-1].endswith("newer line 19")

            # The same signed action served again (a replay) is known: not run a second time.
            assert await runner.fetch_once() == []
            await runner.run_own()
            assert await runner.report_once() == 0
            assert len(scripted.results) == 1
    finally:
        await server.stop()


def test_kiosk_log_lines_reach_into_every_rotated_file(tmp_path: Path) -> None:
    from appliance.logs import last_lines

    path = kiosk_log(tmp_path)
    path.parent.mkdir()
    for index in range(KIOSK_LOG_BACKUPS, 0, -1):
        path.with_name(f"kiosk.log.{index}").write_text(f"file {index}\n", encoding="utf-8")
    path.write_text("current " + "x" * 900 + "\n", encoding="utf-8")
    lines = last_lines(path, 1000)
    assert [line[:7] for line in lines] == ["file 4", "file 3", "file 2", "file 1", "current"]
    assert len(lines[-1]) == 500  # a line is cut, never the upload's size unbounded
    assert last_lines(tmp_path / "nothing.log", 10) == []


def merchant_claims(merchant_id: int) -> dict[str, Any]:
    return {"sub": "u", "app_metadata": {"bitagora_role": "owner", "merchant_id": merchant_id}}


async def test_only_ops_queue_actions_and_a_merchant_sees_only_its_devices(
    central_server: Any, ops: httpx.AsyncClient, make_device: Any
) -> None:
    from central.tenancy import as_user

    shop_a, shop_b = make_device(), make_device()
    for device, merchant in ((shop_a, "Shop A"), (shop_b, "Shop B")):
        enrolled = await device.enroll(ops, await central_server.make_code(merchant))
        assert enrolled.status_code == 201
    page = f"/devices/{shop_a.device_id}"
    forged = await ops.post(f"{page}/actions", data={"kind": "restart"})  # no CSRF token
    assert forged.status_code == 403
    assert "Nothing was queued" in await request_action(ops, shop_a.device_id, kind="reboot")
    for lines in ("0", "1001", "²", "many"):
        html = await request_action(ops, shop_a.device_id, kind="logs", lines=lines)
        assert "Nothing was queued: unknown action or bad parameters." in html
    assert "Action queued" in await request_action(ops, shop_a.device_id, kind="restart")

    db = CentralDb(central_server.database_url)
    assert await db.fetchval("SELECT count(*) FROM remote_actions") == 1
    ids = {r["name"]: r["id"] for r in await db.fetch("SELECT name, id FROM merchants")}
    pool = await asyncpg.create_pool(central_server.database_url, min_size=1, max_size=1)
    try:
        for merchant, seen in (("Shop A", 1), ("Shop B", 0)):
            async with as_user(pool, merchant_claims(ids[merchant])) as conn:
                assert await conn.fetchval("SELECT count(*) FROM remote_actions") == seen
        with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the row policy: ops only
            async with as_user(pool, merchant_claims(ids["Shop A"])) as conn:
                await conn.execute(
                    "INSERT INTO remote_actions (merchant_id, device_id, kind, requested_by,"
                    " requested_at, expires_at) VALUES ($1, $2, 'restart', 'x', now(), now())",
                    ids["Shop A"],
                    shop_a.device_id,
                )
    finally:
        await pool.close()

    revoked = await post_form(ops, page, f"{page}/revoke", reason="stolen")
    assert revoked.status_code == 303
    html = await request_action(ops, shop_a.device_id, kind="test_print")
    assert "Nothing was queued: the device is revoked." in html
    assert await db.fetchval("SELECT count(*) FROM remote_actions") == 1
