"""systemd/: the kiosk, uplink, first-boot and update confirmation units, the system user and
the state directories.

``systemd-analyze verify`` checks the units against a throw-away root that holds systemd's own
units and stubs of ``/opt/bitagora/{current,previous}/bin/bitagora`` (verify insists the
ExecStart= binary exists), and any warning fails the test as an error does.
``systemd-analyze security --offline=yes`` scores each unit's hardening; a unit that scores
above its recorded ceiling fails, so a relaxed setting has to be argued for here, in the open.
``systemd-sysusers`` and ``systemd-tmpfiles`` apply the shipped files to a throw-away root.
Finally the whole appliance (kiosk, uplink, central) runs under the kernel's W^X rule, which is
what ``MemoryDenyWriteExecute=yes`` asks for.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from demo_helpers import DemoRuns

SYSTEMD = Path(__file__).resolve().parent.parent / "systemd"
CENTRAL_UNITS = SYSTEMD.parent / "deploy" / "central"  # central's host, never the device's image
SERVICES = ("bitagora-uplink.service", "bitagora-kiosk.service")
CONFIRM = "bitagora-update-confirm.service"
APPLY = "bitagora-update-apply.service"
UNITS = (*SERVICES, "bitagora-firstboot.service", CONFIRM, APPLY)
# Units that start a service, verified with it.
TRIGGERS = ("bitagora-update-apply.path", "bitagora-update-apply.timer")
# The services run the current release; the confirmation runs the one that installed it.
EXECUTABLE = "/opt/bitagora/current/bin/bitagora"
JUDGE = "/opt/bitagora/previous/bin/bitagora"
HOST_UNITS = Path("/usr/lib/systemd/system")

# Overall exposure from `systemd-analyze security` (0 = locked down, 10 = unprotected). Lower a
# ceiling when a unit gets tighter; raising one needs a reason in the unit file's comments.
# The uplink's remaining points: network access (it is its job), the host's root directory.
# The kiosk's also: real devices (DevicePolicy=closed + a DeviceAllow= list instead of
# PrivateDevices=), other users' ids (no PrivateUsers=, so device group permissions hold)
# and netlink (libusb). First boot's: it runs as root (it writes /etc and the boot partition)
# with the capabilities to hand the state to the bitagora user and to set the Wi-Fi country.
# The confirmation runs as root (it switches the release link and restarts the services) and may
# change to the bitagora user for the new release's doctor; it has no network at all.
EXPOSURE_CEILING = {
    "bitagora-uplink.service": 1.1,
    "bitagora-kiosk.service": 1.5,
    "bitagora-firstboot.service": 2.3,
    "bitagora-update-confirm.service": 1.3,
    "bitagora-update-apply.service": 1.3,
}

OVERALL = re.compile(r"Overall exposure level for (?P<unit>\S+): (?P<level>\d+\.\d+)")


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


def unit_settings(name: str, folder: Path = SYSTEMD) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in (folder / name).read_text().splitlines():
        if line.strip() and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.fixture
def unit_root(tmp_path: Path) -> Path:
    """A root with systemd's units, ours in /etc/systemd/system and a stub bitagora."""
    root = tmp_path / "root"
    shutil.copytree(HOST_UNITS, root / HOST_UNITS.relative_to("/"), symlinks=True)
    installed = root / "etc/systemd/system"
    installed.mkdir(parents=True)
    for name in (*UNITS, *TRIGGERS):
        shutil.copy(SYSTEMD / name, installed / name)
    for executable in (EXECUTABLE, JUDGE):
        stub = root / executable.lstrip("/")
        stub.parent.mkdir(parents=True)
        stub.write_text("#!/bin/sh\nexit 0\n")
        stub.chmod(0o755)
    return root


def test_units_verify_without_a_warning(unit_root: Path) -> None:
    result = analyze("verify", "--man=no", f"--root={unit_root}", *UNITS, *TRIGGERS)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


def test_verify_catches_what_it_should(unit_root: Path) -> None:
    # The check above is only worth something if verify looks at our files: a misspelt key
    # shows up as a warning and a missing binary as an error.
    unit = unit_root / "etc/systemd/system" / UNITS[0]
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    result = analyze("verify", "--man=no", f"--root={unit_root}", UNITS[0])
    assert "Unknown key 'NoNewPrivilege'" in result.stderr
    (unit_root / EXECUTABLE.lstrip("/")).unlink()
    result = analyze("verify", "--man=no", f"--root={unit_root}", UNITS[0])
    assert result.returncode != 0 and "is not executable" in result.stderr


@pytest.mark.parametrize("name", UNITS)
def test_exposure_stays_under_the_recorded_ceiling(name: str) -> None:
    ceiling = EXPOSURE_CEILING[name]
    result = analyze(
        "security", "--offline=yes", f"--threshold={ceiling * 10:.0f}", str(SYSTEMD / name)
    )
    found = OVERALL.search(result.stdout)
    assert found is not None, result.stdout + result.stderr
    assert found["unit"] == name
    assert float(found["level"]) <= ceiling, result.stdout
    # --threshold counts tenths: the exit status says the same thing as the figure.
    assert result.returncode == 0, result.stdout + result.stderr


def test_uplink_is_a_notify_service_with_a_watchdog() -> None:
    uplink = unit_settings("bitagora-uplink.service")
    assert uplink["Type"] == ["notify"]
    # appliance/uplink/service.py pings every WATCHDOG_USEC / 2 from the event loop.
    assert uplink["WatchdogSec"] == ["60"]
    assert uplink["Restart"] == ["on-failure"]
    assert uplink["PrivateDevices"] == ["yes"]
    assert {"StartLimitIntervalSec", "StartLimitBurst"} <= set(uplink)


def test_confirmation_runs_once_after_the_services_and_only_with_a_judge() -> None:
    confirm = unit_settings(CONFIRM)
    assert confirm["Type"] == ["oneshot"]
    assert set(confirm["After"][0].split()) == set(SERVICES)
    assert confirm["ConditionPathExists"] == [JUDGE]
    # It writes the release links and the new release's doctor the store; nothing else.
    assert confirm["ReadWritePaths"] == ["/opt/bitagora /var/lib/bitagora"]
    assert confirm["PrivateNetwork"] == ["yes"]
    assert confirm["WantedBy"] == ["multi-user.target"]


def test_a_staged_update_is_installed_when_staged_and_retried_while_it_waits() -> None:
    apply = unit_settings(APPLY)
    assert apply["Type"] == ["oneshot"]
    # It writes the release slots only; the data directory (the uplink's) is read, not written.
    assert apply["ReadWritePaths"] == ["/opt/bitagora"]
    assert apply["ReadOnlyPaths"] == ["/var/lib/bitagora"]
    assert apply["PrivateNetwork"] == ["yes"]
    path = unit_settings("bitagora-update-apply.path")
    assert path["PathChanged"] == ["/var/lib/bitagora/updates/staged.json"]
    assert path["Unit"] == [APPLY]
    assert "OnUnitInactiveSec" in unit_settings("bitagora-update-apply.timer")


def test_kiosk_owns_tty1_and_nothing_else_of_dev() -> None:
    kiosk = unit_settings("bitagora-kiosk.service")
    assert kiosk["TTYPath"] == ["/dev/tty1"]
    assert kiosk["StandardInput"] == ["tty"] and kiosk["StandardOutput"] == ["tty"]
    # Textual draws on stderr: anywhere but the console, tty1 stays blank.
    assert kiosk["StandardError"] == ["tty"]
    assert kiosk["Conflicts"] == ["getty@tty1.service"]
    assert kiosk["DevicePolicy"] == ["closed"]
    assert "char-tty rw" in kiosk["DeviceAllow"]


def test_firstboot_runs_once_per_boot_before_the_till_without_holding_it_back() -> None:
    firstboot = unit_settings("bitagora-firstboot.service")
    assert firstboot["Type"] == ["oneshot"]
    assert firstboot["ConditionPathExists"] == ["/boot/firmware/bitagora-setup.toml"]
    assert firstboot["Before"] == ["bitagora-kiosk.service bitagora-uplink.service"]
    assert "--from-boot" in firstboot["ExecStart"][0]
    # The kiosk must start after a failed provisioning too, to show the technician why.
    for name in ("bitagora-kiosk.service", "bitagora-uplink.service"):
        settings = unit_settings(name)
        assert not any(
            "firstboot" in v for k in ("Requires", "BindsTo") for v in settings.get(k, [])
        )


@pytest.mark.parametrize("name", UNITS)
def test_exec_start_is_a_command_the_cli_accepts(name: str) -> None:
    (command,) = unit_settings(name)["ExecStart"]
    argv = shlex.split(command)
    assert argv[0] == (JUDGE if name == CONFIRM else EXECUTABLE)
    assert argv[argv.index("--data-dir") + 1] == "/var/lib/bitagora"
    if name not in (CONFIRM, APPLY):
        assert unit_settings(name)["StateDirectory"] == ["bitagora"]
    result = subprocess.run(
        [sys.executable, "-m", "appliance.cli", *argv[1:], "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def entries(path: Path) -> dict[str, list[str]]:
    """/etc/passwd or /etc/group: the fields of each line, by name."""
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines()}


def test_sysusers_and_tmpfiles_make_the_user_and_the_directories(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/sysusers.d").mkdir(parents=True)
    (root / "etc/tmpfiles.d").mkdir(parents=True)
    shutil.copy(SYSTEMD / "bitagora.sysusers", root / "etc/sysusers.d/bitagora.conf")
    shutil.copy(SYSTEMD / "bitagora.tmpfiles", root / "etc/tmpfiles.d/bitagora.conf")
    for tool in (["systemd-sysusers"], ["systemd-tmpfiles", "--create"]):
        result = subprocess.run(
            [*tool, f"--root={root}"], capture_output=True, text=True, timeout=60, check=False
        )
        assert result.returncode == 0, result.stderr

    users, groups = entries(root / "etc/passwd"), entries(root / "etc/group")
    user = users["bitagora"]
    assert user[5] == "/var/lib/bitagora" and user[6] == "/usr/sbin/nologin"
    assert groups["bitagora"][2] == user[3]  # its own group: the one 99-bitagora.rules names
    for group in ("dialout", "gpio", "lp"):
        assert "bitagora" in groups[group][3].split(","), group

    expected = {
        "var/lib/bitagora": (0o700, int(user[2])),
        "var/lib/bitagora/identity": (0o700, int(user[2])),
        "var/lib/bitagora/logs": (0o700, int(user[2])),
        "etc/bitagora": (0o755, 0),
        "etc/bitagora/credentials": (0o700, 0),
    }
    for path, (mode, owner) in expected.items():
        status = (root / path).stat()
        assert status.st_mode & 0o7777 == mode, path
        if os.geteuid() == 0:  # only root can hand a directory to another user
            assert status.st_uid == owner, path


@pytest.mark.long
@pytest.mark.timeout(180)  # the first test of a process to ask for demo_runs waits for both
def test_the_appliance_runs_without_writable_executable_memory(demo_runs: DemoRuns) -> None:
    """MemoryDenyWriteExecute=yes: no W+X mappings. cffi callbacks or a JIT would need them;
    the kernel's MDWE rule (the same refusal, inherited by every child) proves we use none:
    the first of the process's headless demo runs (tests/demo_helpers.py) runs under it, with
    the kiosk app, the uplink and central, and signs and verifies."""
    first = demo_runs.first
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "demo OK" in first.stdout


def test_the_central_backup_timer_verifies_and_runs_a_backup_the_cli_accepts(
    unit_root: Path,
) -> None:
    """The example under deploy/central/ for central's host (docs/OPERATIONS.md, "Backups of
    central's database"): not in systemd/, whose units all go on the device's image."""
    units = ("central-backup.service", "central-backup.timer")
    for name in units:
        shutil.copy(CENTRAL_UNITS / name, unit_root / "etc/systemd/system" / name)
    result = analyze("verify", "--man=no", f"--root={unit_root}", *units)
    assert (result.returncode, result.stderr) == (0, "")
    assert unit_settings("central-backup.timer", CENTRAL_UNITS)["OnCalendar"] == ["00/4:15"]
    (command,) = unit_settings("central-backup.service", CENTRAL_UNITS)["ExecStart"]
    argv = shlex.split(command)
    assert argv[:3] == [EXECUTABLE, "central", "backup"]
    from appliance.cli import build_parser

    args = build_parser(argv[1:]).parse_args(argv[1:])
    assert args.func.__name__ == "cmd_backup"
    assert (args.keep, args.keep_days) == (180, 30.0)
