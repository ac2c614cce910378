"""Staged updates from central (central/rollouts.py, central/update_api.py, appliance/uplink/
updates.py): real signed bundles, real PostgreSQL, a real device store and uplink, a real
headless Chromium for the ops pages."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from browser_helpers import chromium_page
from central_helpers import csrf_of, log_in, post_form
from conftest import OPS_PASSWORD, SimDevice
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from playwright.async_api import expect
from update_helpers import PACKAGE, make_wheel, release_wheels, signed_bundle
from uplink_helpers import Device, open_device_store

from appliance.config import UpdateSettings
from appliance.update.bundle import build, generate_key, load_public_key
from appliance.update.slots import UpdateState, save_state
from appliance.update.staged import STAGED_BUNDLE, STAGED_OFFER, updates_dir
from appliance.uplink.client import CentralClient
from appliance.uplink.daemon import Uplink
from central import alerts, rollouts
from central.app import create_app
from central.enroll import create_code
from central.serve import start_server
from central.tenancy import as_user
from central.users import add_user

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class Releases:
    """A release-signing key pair and bundles signed with it."""

    folder: Path
    private: Path
    public: Path

    @property
    def key(self) -> Ed25519PublicKey:
        return load_public_key(self.public)

    def bundle(self, version: str, mode: str = "healthy") -> Path:
        return signed_bundle(self.folder, self.private, version, mode)

    def large_bundle(self, version: str, padding_bytes: int) -> Path:
        """A bundle with one more wheel of random (incompressible) bytes: central serves it in
        several slices."""
        wheels = release_wheels(self.folder / f"large-{version}", version)
        noise = base64.b64encode(secrets.token_bytes(padding_bytes)).decode()
        make_wheel(wheels, "padding", "1.0", {"padding.py": f"NOISE = {noise!r}\n"})
        out = self.folder / f"large-{version}.bundle"
        build(wheels, self.private, out, PACKAGE)
        return out


@pytest.fixture
def releases(tmp_path: Path) -> Releases:
    folder = tmp_path / "releases"
    folder.mkdir()
    private = folder / "release.pem"
    return Releases(folder, private, generate_key(private))


@dataclass
class Central:
    base_url: str
    database_url: str


@pytest.fixture
async def central(central_db_url: str, releases: Releases) -> AsyncIterator[Central]:
    """Central with the release key configured, as BITAGORA_CENTRAL_UPDATE_KEY does."""
    app = create_app(
        central_db_url,
        secrets.token_urlsafe(16),
        ops_password=OPS_PASSWORD,
        update_key=releases.key,
    )
    running = await start_server(app, "127.0.0.1", 0)
    try:
        yield Central(running.base_url, central_db_url)
    finally:
        await running.stop()


@pytest.fixture
async def conn(central: Central) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(central.database_url)
    try:
        yield connection
    finally:
        await connection.close()


async def _enrolled(central: Central, conn: asyncpg.Connection, count: int) -> list[SimDevice]:
    devices = [SimDevice() for _ in range(count)]
    async with httpx.AsyncClient(base_url=central.base_url, timeout=10) as http:
        for device in devices:
            code = await create_code(conn, "Rollout Shop")
            assert (await device.enroll(http, code)).status_code == 201
    return devices


async def _offer(http: httpx.AsyncClient, device: SimDevice) -> httpx.Response:
    path = "/api/v1/update"
    return await http.get(path, headers=device.signed(path, b"", method="GET"))


async def _report(
    http: httpx.AsyncClient, device: SimDevice, outcome: str, version: str, failed: str | None
) -> httpx.Response:
    report = {
        "outcome": outcome,
        "version": version,
        "failed": failed,
        "reason": "" if outcome == "installed" else "doctor failed database: no such table",
        "at": f"2026-12-07T12:00:{secrets.randbelow(60):02d}Z",
    }
    return await device.post(http, "/api/v1/update/report", report)


async def _start(
    conn: asyncpg.Connection, bundle_id: int, cohorts: list[int], error_pct: int
) -> tuple[int, int]:
    """A rollout of ``bundle_id`` to the whole fleet, any time, by ops at NOW."""
    return await rollouts.create(
        conn,
        bundle_id=bundle_id,
        merchant_id=None,
        cohorts=cohorts,
        success_pct=100,
        error_pct=error_pct,
        window=None,
        after_z=False,
        by="ops",
        now=NOW,
    )


async def test_cohorts_are_a_hash_rank_advance_on_success_and_stop_on_errors(
    central: Central, conn: asyncpg.Connection, releases: Releases
) -> None:
    devices = await _enrolled(central, conn, 10)
    data = releases.large_bundle("2.0", 2 * rollouts.SLICE_BYTES).read_bytes()
    assert len(data) > 2 * rollouts.SLICE_BYTES
    bundle_id, version = await rollouts.store_bundle(conn, data, releases.key, "ops", NOW)
    assert version == "2.0"
    rollout_id, count = await _start(conn, bundle_id, [20, 50, 100], error_pct=30)
    assert count == 10
    # Cohorts by rank in md5(rollout ‖ device): 2, then 3 more, then the last 5.
    order = sorted(
        (d.device_id for d in devices),
        key=lambda d: (hashlib.md5(f"{rollout_id}:{d}".encode()).hexdigest(), d),
    )
    cohort_of = {
        r["device_id"]: r["cohort"]
        for r in await conn.fetch(
            "SELECT device_id, cohort FROM rollout_devices WHERE rollout_id = $1", rollout_id
        )
    }
    assert [cohort_of[d] for d in order] == [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
    by_id = {d.device_id: d for d in devices}
    first, second = order[:2], order[2:5]

    async with httpx.AsyncClient(base_url=central.base_url, timeout=10) as http:
        # One of the first cohort runs 2.0 already (a USB stick): not offered, counted in.
        assert (await by_id[first[1]].heartbeat(http, version="2.0")).status_code == 200
        offered = {d: (await _offer(http, by_id[d])).status_code for d in order}
        assert offered == {d: 200 if d == first[0] else 204 for d in order}
        answer = await _offer(http, by_id[first[0]])
        assert answer.json() == {
            "rollout": rollout_id,
            "version": "2.0",
            "sha256": hashlib.sha256(data).hexdigest(),
            "size": len(data),
            "window": None,
            "after_z": False,
        }
        path = "/api/v1/update"
        unchanged = await http.get(
            path,
            headers={
                **by_id[first[0]].signed(path, b"", method="GET"),
                "If-None-Match": answer.headers["etag"],
            },
        )
        assert unchanged.status_code == 304
        path = "/api/v1/update/bundle"
        body = await http.get(path, headers=by_id[first[0]].signed(path, b"", method="GET"))
        assert body.status_code == 200 and body.content == data

        # The whole first cohort runs 2.0: the second is offered.
        assert await conn.fetchval("SELECT cohort FROM rollouts WHERE id = $1", rollout_id) == 0
        answer = await _report(http, by_id[first[0]], "installed", "2.0", None)
        assert answer.json() == {"rollout": rollout_id}
        assert await conn.fetchval("SELECT cohort FROM rollouts WHERE id = $1", rollout_id) == 1
        for device_id in second:
            assert (await _offer(http, by_id[device_id])).status_code == 200

        # 1 of 5 offered rolled back (20 %, not over 30 %): it goes on; 2 of 5 stop it.
        await _report(http, by_id[second[0]], "rolled_back", "1.0", "2.0")
        state = await conn.fetchval("SELECT state FROM rollouts WHERE id = $1", rollout_id)
        assert state == "running"
        await _report(http, by_id[second[1]], "failed", "1.0", "2.0")
        row = await conn.fetchrow(
            "SELECT state, state_reason FROM rollouts WHERE id = $1", rollout_id
        )
        assert row["state"] == "stopped"
        assert row["state_reason"] == (
            "stopped by itself: 2 of 5 devices offered the update failed or rolled back "
            "(more than 30 %)"
        )
        assert [(await _offer(http, by_id[d])).status_code for d in order] == [204] * 10

    # Each device that failed has its "update" alert, with the reason it reported.
    alert = await conn.fetchrow(
        "SELECT kind, detail FROM alerts WHERE device_id = $1 AND resolved_at IS NULL",
        second[0],
    )
    assert alert["kind"] == "update"
    assert alert["detail"] == "update to 2.0 rolled back: doctor failed database: no such table"
    assert await alerts.evaluate(conn, NOW) == (0, 0)  # held by the fleet pass too


async def test_a_bundle_is_kept_only_when_the_release_key_signed_it(
    central: Central, conn: asyncpg.Connection, releases: Releases, tmp_path: Path
) -> None:
    stranger = Releases(tmp_path / "other", tmp_path / "other" / "k.pem", Path())
    stranger.folder.mkdir()
    stranger.public = generate_key(stranger.private)
    forged = stranger.bundle("2.0").read_bytes()
    with pytest.raises(rollouts.RolloutError, match="does not verify with the pinned release"):
        await rollouts.store_bundle(conn, forged, releases.key, "ops", NOW)
    with pytest.raises(rollouts.RolloutError, match="central has no release key configured"):
        await rollouts.store_bundle(conn, forged, None, "ops", NOW)
    genuine = releases.bundle("2.0").read_bytes()
    await rollouts.store_bundle(conn, genuine, releases.key, "ops", NOW)
    with pytest.raises(rollouts.RolloutError, match="uploaded already"):
        await rollouts.store_bundle(conn, genuine, releases.key, "ops", NOW)
    assert await conn.fetchval("SELECT count(*) FROM update_bundles") == 1


def _device_uplink(device: Device, central_url: str, releases: Releases, http: httpx.AsyncClient):
    settings = device.settings(central_url=central_url)
    settings = replace(
        settings,
        update=UpdateSettings(
            public_key=str(releases.public), root=str(device.data_dir / "opt-bitagora")
        ),
    )
    (device.data_dir / "opt-bitagora").mkdir(exist_ok=True)
    return Uplink(
        settings, device.conn, device.identity, CentralClient(central_url, device.identity, http)
    )


async def test_a_device_takes_the_offer_stages_the_checked_bundle_and_reports_its_rollback(
    central: Central, conn: asyncpg.Connection, releases: Releases, tmp_path: Path
) -> None:
    """The device's real store and uplink: offered, downloaded, verified with the pinned key,
    staged; then the slots' state after a rollback is reported once, and the rollout (no error
    allowed) stops by itself."""
    data = releases.bundle("2.0").read_bytes()
    bundle_id, _ = await rollouts.store_bundle(conn, data, releases.key, "ops", NOW)
    async with (
        open_device_store(tmp_path / "device") as device,
        httpx.AsyncClient(timeout=10) as http,
    ):
        await device.enroll(central.base_url, await create_code(conn, "Rollout Shop"))
        rollout_id, _ = await _start(conn, bundle_id, [100], error_pct=0)
        uplink = _device_uplink(device, central.base_url, releases, http)
        assert await uplink.update_once() == "2.0"
        staged = updates_dir(uplink.settings)
        assert (staged / STAGED_BUNDLE).read_bytes() == data
        assert '"version": "2.0"' in (staged / STAGED_OFFER).read_text()
        assert await uplink.update_once() is None  # the same offer (304): nothing again

        root = Path(uplink.settings.update.root)
        save_state(
            root,
            UpdateState("rolled_back", "1.0", "1.0", failed="2.0", reason="doctor failed", at="t1"),
        )
        assert await uplink.update_once() is None
        assert not await uplink.updates.report_once()  # reported once only
        row = await conn.fetchrow(
            "SELECT outcome, version, reason FROM rollout_devices WHERE device_id = $1",
            device.identity.device_id,
        )
        assert dict(row) == {"outcome": "rolled_back", "version": "1.0", "reason": "doctor failed"}
        assert await conn.fetchval("SELECT state FROM rollouts WHERE id = $1", rollout_id) == (
            "stopped"
        )

        # Installed from a USB stick later: reported all the same, outside any rollout, and
        # the device's update problem is over.
        save_state(root, UpdateState("good", "2.1", "1.0", at="t2"))
        assert await uplink.updates.report_once()
        report = await conn.fetchrow(
            "SELECT rollout_id, outcome, version FROM update_reports ORDER BY id DESC LIMIT 1"
        )
        assert dict(report) == {"rollout_id": None, "outcome": "installed", "version": "2.1"}
        assert (
            await conn.fetchval(
                "SELECT update_problem FROM devices WHERE device_id = $1",
                device.identity.device_id,
            )
            is None
        )


async def test_a_bundle_that_differs_from_the_offer_is_refused_and_reported(
    central: Central, conn: asyncpg.Connection, releases: Releases, tmp_path: Path
) -> None:
    """A device whose pinned key is not the one central checked with refuses the bundle,
    stages nothing and reports it failed."""
    data = releases.bundle("2.0").read_bytes()
    bundle_id, _ = await rollouts.store_bundle(conn, data, releases.key, "ops", NOW)
    other = tmp_path / "other.pem"
    async with (
        open_device_store(tmp_path / "device") as device,
        httpx.AsyncClient(timeout=10) as http,
    ):
        await device.enroll(central.base_url, await create_code(conn, "Rollout Shop"))
        await _start(conn, bundle_id, [100], error_pct=50)
        uplink = _device_uplink(
            device, central.base_url, replace(releases, public=generate_key(other)), http
        )
        assert await uplink.update_once() is None
        assert not (updates_dir(uplink.settings) / STAGED_BUNDLE).exists()
        row = await conn.fetchrow(
            "SELECT outcome, reason FROM rollout_devices WHERE device_id = $1",
            device.identity.device_id,
        )
        assert row["outcome"] == "failed"
        assert "does not verify with the pinned release key" in row["reason"]


async def test_ops_roll_out_to_two_of_three_devices_and_a_rollback_stops_it_in_chromium(
    central: Central, conn: asyncpg.Connection, releases: Releases, tmp_path: Path
) -> None:
    """Ops upload a bundle and start a rollout (67 % → 100 %) at the browser; the two devices of
    the first cohort are offered it, one reports a rollback, and the page shows the rollout
    stopped by itself with the third device never offered it. One device is a real store and
    uplink, the others speak the same API."""
    bundle = releases.bundle("2.0")
    sims = await _enrolled(central, conn, 2)
    async with (
        open_device_store(tmp_path / "device") as device,
        httpx.AsyncClient(timeout=10) as http,
        httpx.AsyncClient(base_url=central.base_url, timeout=10) as sim_http,
    ):
        await device.enroll(central.base_url, await create_code(conn, "Rollout Shop"))
        uplink = _device_uplink(device, central.base_url, releases, http)
        async with chromium_page(central.base_url) as page:
            await page.goto("/login")
            await page.get_by_label(re.compile("Username|Email")).fill("admin")
            await page.get_by_label("Password").fill(OPS_PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await page.goto("/rollouts")
            await page.get_by_label(re.compile("Signed bundle")).set_input_files(str(bundle))
            await page.get_by_role("button", name="Upload and check").click()
            await expect(page.get_by_role("status")).to_contain_text("Bundle 2.0 checked")
            await page.get_by_label(re.compile("Cohorts")).fill("67, 100")
            await page.get_by_label(re.compile("Next cohort")).fill("100")
            await page.get_by_label(re.compile("Stop by itself")).fill("10")
            await page.get_by_role("button", name="Start the rollout").click()
            await expect(page).to_have_url(re.compile(r"/rollouts/\d+$"))
            await expect(page.locator("#rollout-state")).to_have_text("running")
            rollout_id = int(page.url.rsplit("/", 1)[1])

            cohort_of = {
                r["device_id"]: r["cohort"]
                for r in await conn.fetch(
                    "SELECT device_id, cohort FROM rollout_devices WHERE rollout_id = $1",
                    rollout_id,
                )
            }
            assert sorted(cohort_of.values()) == [0, 0, 1]
            (third,) = [d for d, c in cohort_of.items() if c == 1]
            first = [d for d, c in cohort_of.items() if c == 0]
            # Every device asks; those of the first cohort are offered 2.0.
            real_id = device.identity.device_id
            staged = await uplink.update_once()
            assert staged == ("2.0" if real_id in first else None)
            for sim in sims:
                expected = 200 if sim.device_id in first else 204
                assert (await _offer(sim_http, sim)).status_code == expected
            # The first of the cohort installs it, the other rolls it back.
            installs, rolls_back = first
            for device_id, outcome in ((installs, "good"), (rolls_back, "rolled_back")):
                if device_id == real_id:
                    state = UpdateState(
                        outcome,
                        "2.0" if outcome == "good" else "1.0",
                        "1.0",
                        failed=None if outcome == "good" else "2.0",
                        reason="" if outcome == "good" else "doctor failed database",
                        at="t1",
                    )
                    save_state(Path(uplink.settings.update.root), state)
                    assert await uplink.updates.report_once()
                else:
                    sim = next(s for s in sims if s.device_id == device_id)
                    if outcome == "good":
                        answer = await _report(sim_http, sim, "installed", "2.0", None)
                    else:
                        answer = await _report(sim_http, sim, "rolled_back", "1.0", "2.0")
                    assert answer.status_code == 200

            await page.reload()
            await expect(page.locator("#rollout-state")).to_contain_text(
                "stopped by itself: 1 of 2 devices offered the update failed or rolled back"
            )
            await expect(page.locator(f'tr[data-device="{third}"] .offered')).to_have_text(
                "not offered"
            )
            await expect(page.locator(f'tr[data-device="{rolls_back}"] .outcome')).to_have_text(
                "rolled back"
            )
            await expect(page.locator(f'tr[data-device="{installs}"] .outcome')).to_have_text(
                "installed"
            )
            await expect(page.get_by_role("button", name="Pause")).to_have_count(0)

    assert (await _offer_status(central, sims, third)) in (204, None)
    actions = [r["action"] for r in await conn.fetch("SELECT action FROM audit_log ORDER BY id")]
    assert actions[-2:] == ["update.bundle_upload", "update.rollout_start"]


async def _offer_status(central: Central, sims: list[SimDevice], device_id: str) -> int | None:
    """What the third device is offered after the stop (None: it is the real device)."""
    sim = next((s for s in sims if s.device_id == device_id), None)
    if sim is None:
        return None
    async with httpx.AsyncClient(base_url=central.base_url, timeout=10) as http:
        return (await _offer(http, sim)).status_code


async def test_only_ops_reach_the_rollout_pages_and_each_change_is_audited(
    central: Central, conn: asyncpg.Connection, releases: Releases
) -> None:
    """A merchant's owner is refused the pages and the forms; ops pause, resume and stop a
    rollout (the state machine refuses the rest), each step in the audit log with its reason."""
    await _enrolled(central, conn, 1)
    data = releases.bundle("2.0").read_bytes()
    bundle_id, _ = await rollouts.store_bundle(conn, data, releases.key, "ops", NOW)
    await add_user(conn, "owner@rollout.example", "a-long-owner-password", "owner", "Rollout Shop")
    async with httpx.AsyncClient(base_url=central.base_url, timeout=10) as owner:
        assert (await log_in(owner, "owner@rollout.example", "a-long-owner-password")).status_code
        assert (await owner.get("/rollouts")).status_code == 403
        token = csrf_of((await owner.get("/merchant")).text)
        refused = await owner.post("/rollouts", data={"bundle": str(bundle_id), "csrf": token})
        assert refused.status_code == 403
    assert await conn.fetchval("SELECT count(*) FROM rollouts") == 0

    async with httpx.AsyncClient(base_url=central.base_url, timeout=10) as ops:
        assert (await log_in(ops, "admin", OPS_PASSWORD)).status_code == 303
        started = await post_form(
            ops,
            "/rollouts",
            "/rollouts",
            bundle=str(bundle_id),
            merchant="",
            cohorts="50, 100",
            success_pct="90",
            error_pct="10",
            window_start="02:00",
            window_end="05:00",
        )
        assert started.status_code == 303
        page = started.headers["location"]
        for action, state in (("pause", "paused"), ("resume", "running"), ("stop", "stopped")):
            token = csrf_of((await ops.get(page)).text)
            answer = await ops.post(
                f"{page}/state",
                data={"action": action, "reason": f"{action} for the test", "csrf": token},
            )
            assert answer.status_code == 303
            shown = re.sub(r"<[^>]+>", "", (await ops.get(page)).text)
            assert f"{state}: {action} for the test" in shown
        token = csrf_of((await ops.get(page)).text)
        again = await ops.post(f"{page}/state", data={"action": "resume", "csrf": token})
        assert again.status_code == 400
        assert "cannot resume from its present state" in again.text
        wrong = await post_form(
            ops,
            "/rollouts",
            "/rollouts",
            bundle=str(bundle_id),
            cohorts="50, 20",
            success_pct="90",
            error_pct="10",
        )
        assert "1 to 10 rising percentages, the last 100" in wrong.text
    audit = await conn.fetch("SELECT action, reason FROM audit_log ORDER BY id")
    assert [(r["action"], r["reason"]) for r in audit][-4:] == [
        ("update.rollout_start", ""),
        ("update.rollout_pause", "pause for the test"),
        ("update.rollout_resume", "resume for the test"),
        ("update.rollout_stop", "stop for the test"),
    ]
    window = await conn.fetchrow("SELECT window_start, window_end FROM rollouts")
    assert (str(window["window_start"]), str(window["window_end"])) == ("02:00:00", "05:00:00")


async def test_a_merchants_users_see_only_their_devices_progress_and_change_nothing(
    central: Central, conn: asyncpg.Connection, releases: Releases
) -> None:
    """Row Level Security as the pages run (bitagora_web with the user's claims)."""
    devices = await _enrolled(central, conn, 2)
    other = SimDevice()
    async with httpx.AsyncClient(base_url=central.base_url, timeout=10) as http:
        assert (await other.enroll(http, await create_code(conn, "Other Shop"))).status_code == 201
    data = releases.bundle("2.0").read_bytes()
    bundle_id, _ = await rollouts.store_bundle(conn, data, releases.key, "ops", NOW)
    rollout_id, count = await _start(conn, bundle_id, [100], error_pct=0)
    assert count == 3
    merchant = await conn.fetchval("SELECT id FROM merchants WHERE name = 'Rollout Shop'")
    claims = {"sub": "u", "app_metadata": {"bitagora_role": "owner", "merchant_id": merchant}}
    pool = await asyncpg.create_pool(central.database_url, min_size=1, max_size=1)
    try:
        async with as_user(pool, claims) as web:
            seen = {r["device_id"] for r in await rollouts.devices_of(web, rollout_id)}
            assert seen == {d.device_id for d in devices}
            assert await web.fetchval("SELECT count(*) FROM update_bundles") == 0
            # A fleet-wide rollout is not the merchant's row to change: nothing to stop.
            with pytest.raises(rollouts.RolloutError, match="cannot stop"):
                await rollouts.change_state(web, rollout_id, "stop", "", NOW)
    finally:
        await pool.close()
    assert await conn.fetchval("SELECT state FROM rollouts") == "running"
