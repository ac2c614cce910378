"""Signed updates into release slots: an update that installs and is confirmed; one whose health
check fails and rolls back with the data untouched; one whose check never finished; bundles with
a bad signature or a tampered file refused before anything is installed.

The releases are tiny real wheels (tests/update_helpers.py) installed with pip --no-index into
real virtualenvs; ``systemctl`` is a script that records what it is asked."""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import signal
import subprocess
import sys
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from store_helpers import tamper_amount
from update_helpers import PACKAGE, Device, signed_bundle
from uplink_helpers import open_device_store

from appliance.update.bundle import generate_key
from appliance.update.slots import (
    CURRENT,
    LOCK_FILE,
    PREVIOUS,
    RELEASES,
    STATE_FILE,
    UpdateError,
    confirm,
    health_problem,
    install,
    linked_version,
    load_state,
)

SERVICES = "bitagora-kiosk.service bitagora-uplink.service"


@pytest.fixture
def device(tmp_path: Path) -> Device:
    return Device(tmp_path)


def test_update_installs_switches_and_is_confirmed(device: Device) -> None:
    message = install(device.settings, device.bundle("1.0"))
    assert "installed 1.0 (was none)" in message
    assert device.running() == "bitagora 1.0 tiny-dep"  # its dependency came from the bundle
    # The system's packages stay visible (Debian's lgpio for a GPIO drawer on a Pi).
    config = (device.root / RELEASES / "1.0" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in config
    pending = load_state(device.root)
    assert pending is not None and (pending.state, pending.previous) == ("pending", None)
    assert device.systemctl_calls() == [
        f"restart {SERVICES}",
        "start --no-block bitagora-update-confirm.service",
    ]
    assert confirm(device.settings) == (True, "release 1.0 confirmed")

    message = install(device.settings, device.bundle("2.0"))
    assert "installed 2.0 (was 1.0)" in message
    assert os.readlink(device.root / CURRENT) == f"{RELEASES}/2.0"
    assert linked_version(device.root, PREVIOUS) == "1.0"
    assert device.running() == "bitagora 2.0 tiny-dep"
    good, said = confirm(device.settings)
    assert good and said == "release 2.0 confirmed"
    state = load_state(device.root)
    assert state is not None and (state.state, state.version) == ("good", "2.0")
    # The previous slot stays, whole, to roll back to by hand.
    assert (device.root / RELEASES / "1.0" / "bin" / "bitagora").exists()
    assert confirm(device.settings) == (True, "nothing to confirm: release 2.0 is running")
    with pytest.raises(UpdateError, match="release 2.0 is already the one running"):
        install(device.settings, device.bundle("2.0", "broken"))

    # A third release: once it is judged good, only it and the one to roll back to stay.
    install(device.settings, device.bundle("3.0"))
    assert confirm(device.settings) == (True, "release 3.0 confirmed; removed old release 1.0")
    assert sorted(p.name for p in (device.root / RELEASES).iterdir()) == ["2.0", "3.0"]
    assert device.running() == "bitagora 3.0 tiny-dep"


async def test_failed_health_check_rolls_back_with_the_data_untouched(device: Device) -> None:
    async with open_device_store(device.data_dir) as store:
        await store.write(5)
    data_before = device.data_files()
    await asyncio.to_thread(device.installed_and_confirmed, "1.0")
    await asyncio.to_thread(install, device.settings, device.bundle("2.0", "broken"))
    assert device.running() == "bitagora 2.0 tiny-dep"

    good, message = await asyncio.to_thread(confirm, device.settings)

    assert not good
    assert message == (
        "release 2.0 failed (doctor failed database: no such table: journal); rolled back to 1.0"
    )
    assert device.running() == "bitagora 1.0 tiny-dep"
    state = load_state(device.root)
    assert state is not None
    assert (state.state, state.version, state.failed) == ("rolled_back", "1.0", "2.0")
    assert device.systemctl_calls()[-1] == f"restart {SERVICES}"  # the old release restarted
    assert device.data_files() == data_before
    async with open_device_store(device.data_dir) as store:
        assert len(await store.all_records()) == 5


def test_services_that_never_come_up_roll_back(device: Device) -> None:
    device.installed_and_confirmed("1.0")
    fast = replace(device.settings.update, confirm_timeout_s=5)
    settings = replace(device.settings, update=fast)
    install(settings, device.bundle("2.0"))
    device.services_down.touch()  # the new release's kiosk keeps crashing and restarting

    good, message = confirm(settings)

    assert not good
    assert message.startswith(
        "release 2.0 failed (the services did not come up within 5 s"
        " (bitagora-kiosk.service activating, bitagora-uplink.service active))"
    )
    assert device.running() == "bitagora 1.0 tiny-dep"


def test_a_kiosk_that_keeps_restarting_rolls_back(device: Device) -> None:
    device.installed_and_confirmed("1.0")
    install(device.settings, device.bundle("2.0"))
    # Restart=always: the crashing kiosk shows "active" between restarts, and its doctor
    # --offline never starts the screen; only systemd's restart count gives it away.
    device.kiosk_crashing.write_text("0")

    good, message = confirm(device.settings)

    assert not good
    assert message.startswith(
        "release 2.0 failed (bitagora-kiosk.service was restarted 1 time(s) after it came up)"
    )
    assert device.running() == "bitagora 1.0 tiny-dep"
    assert device.systemctl_calls()[-1] == f"restart {SERVICES}"


def test_a_check_that_never_finished_rolls_back(device: Device) -> None:
    device.installed_and_confirmed("1.0")
    install(device.settings, device.bundle("2.0", "hang"))
    hanging = device.root.parent / "doctor-hanging"
    os.mkfifo(hanging)
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "BITAGORA_UPDATE_ROOT": str(device.root),
        "BITAGORA_UPDATE_PUBLIC_KEY": device.settings.update.public_key,
        "BITAGORA_UPDATE_SYSTEMCTL": str(device.systemctl),
        "BITAGORA_UPDATE_HEALTH_USER": "",
        "BITAGORA_UPDATE_SETTLE_S": "0.3",
        "BITAGORA_TEST_HANGING_FIFO": str(hanging),
    }
    command = [sys.executable, "-m", "appliance.cli", "update", "confirm"]
    command += ["--data-dir", str(device.data_dir)]
    # The device loses power while the new release's doctor hangs.
    checking = subprocess.Popen(command, env=env, start_new_session=True)
    try:
        # The hanging doctor says so through the FIFO: the check has begun by then.
        told = os.open(hanging, os.O_RDONLY | os.O_NONBLOCK)
        try:
            ready, _, _ = select.select([told], [], [], 30)
            assert ready and os.read(told, 16) == b"hanging", "the doctor never started"
        finally:
            os.close(told)
        assert json.loads((device.root / STATE_FILE).read_text())["checks_started"] == 1
        with pytest.raises(UpdateError, match="another `bitagora update` step is running"):
            install(device.settings, device.bundle("3.0"))
    finally:
        os.killpg(checking.pid, signal.SIGKILL)
        checking.wait(10)

    after_boot = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert after_boot.returncode == 1
    assert "its health check started before and never finished" in after_boot.stderr
    assert "rolled back to 1.0" in after_boot.stderr
    assert device.running() == "bitagora 1.0 tiny-dep"
    status = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "update", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "current: 1.0\n" in status.stdout
    assert "last update: rolled_back 1.0 (failed: 2.0) at " in status.stdout
    assert status.stdout.rstrip().endswith(
        "never finished (the device restarted or the check was killed)"
    )


async def test_health_check_reads_this_appliance_s_own_doctor(device: Device) -> None:
    """The contract with the real ``bitagora doctor --json``: its software checks decide, its
    device checks (no printer here) do not."""
    (device.root / RELEASES).mkdir(parents=True)
    (device.root / RELEASES / "this").symlink_to(sys.prefix)  # the venv running these tests
    (device.root / CURRENT).symlink_to(f"{RELEASES}/this")
    async with open_device_store(device.data_dir) as store:
        await store.write(3)
    assert await asyncio.to_thread(health_problem, device.settings, device.root) is None
    tamper_amount(device.data_dir / "appliance.sqlite3", 2)
    problem = await asyncio.to_thread(health_problem, device.settings, device.root)
    assert problem is not None and problem.startswith("doctor failed journal: seq 2: ")


def _rewrite(bundle: Path, out: Path, change: dict[str, bytes]) -> Path:
    """Copy a bundle member by member, replacing or adding the members in ``change``."""
    with tarfile.open(bundle) as source, tarfile.open(out, "w") as target:
        for member in source.getmembers():
            data = change.pop(member.name, None)
            if data is None:
                handle = source.extractfile(member)
                assert handle is not None
                data = handle.read()
            member.size = len(data)
            target.addfile(member, io.BytesIO(data))
        for name, data in change.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out


def test_bad_signature_or_tampered_file_is_refused_before_anything_is_installed(
    device: Device, tmp_path: Path
) -> None:
    genuine = device.bundle("1.0")
    with tarfile.open(genuine) as tar:
        handle = tar.extractfile("manifest.json")
        assert handle is not None
        manifest = json.loads(handle.read())
    wheel = next(name for name in manifest["files"] if "bitagora_tiny" in name)

    other_key = tmp_path / "not-the-release-key.pem"
    generate_key(other_key)
    (tmp_path / "other").mkdir()
    cases = {
        "signature does not verify": signed_bundle(tmp_path / "other", other_key, "1.0"),
        "does not match its hash in the signed manifest": _rewrite(
            genuine, tmp_path / "tampered.bundle", {wheel: b"PK\x03\x04 a different wheel"}
        ),
        "differ from its signed manifest": _rewrite(
            genuine, tmp_path / "extra.bundle", {"wheels/evil-1.0-py3-none-any.whl": b"PK"}
        ),
        "signature does not verify with the pinned release key": _rewrite(
            genuine,
            tmp_path / "relabelled.bundle",
            {"manifest.json": json.dumps({**manifest, "version": "9.9"}).encode()},
        ),
    }
    for reason, bundle in cases.items():
        with pytest.raises(UpdateError, match=f"bundle refused, nothing installed: .*{reason}"):
            install(device.settings, bundle)
        assert list((device.root / RELEASES).iterdir()) == []
        assert not (device.root / CURRENT).exists() and load_state(device.root) is None
        assert device.systemctl_calls() == []
        left = sorted(p.name for p in device.root.iterdir())
        assert left == [LOCK_FILE, RELEASES]  # no staging folder left


def test_data_inside_the_release_root_is_refused(device: Device) -> None:
    settings = replace(device.settings, data_dir=device.root / "data")
    with pytest.raises(UpdateError, match="must live outside every release"):
        install(settings, device.bundle("1.0"))
    assert not (device.root / RELEASES).exists()


def test_cli_builds_a_bundle_a_device_without_the_pinned_key_refuses(tmp_path: Path) -> None:
    def bitagora(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "appliance.cli", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, **env},
        )

    key = tmp_path / "release.pem"
    made = bitagora("update", "keygen", "--out", str(key))
    assert made.returncode == 0 and (key.stat().st_mode & 0o777) == 0o600
    assert bitagora("update", "keygen", "--out", str(key)).returncode == 1  # never overwritten
    bundle = signed_bundle(tmp_path, key, "3.1")
    wheels = tmp_path / "wheels-3.1-healthy"
    built = bitagora(
        "update", "build", "--wheels", str(wheels), "--key", str(key), "--package", PACKAGE,
        "--out", str(tmp_path / "cli.bundle"),
    )  # fmt: skip
    assert built.returncode == 0 and f"{PACKAGE} 3.1, 2 wheels" in built.stdout
    refused = bitagora(
        "update", "install", str(bundle), "--data-dir", str(tmp_path / "data"),
        BITAGORA_UPDATE_ROOT=str(tmp_path / "opt"),
        BITAGORA_UPDATE_PUBLIC_KEY=str(tmp_path / "missing.pub"),
    )  # fmt: skip
    assert refused.returncode == 1
    assert "no release-signing key is pinned at" in refused.stderr
