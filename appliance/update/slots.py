"""Release slots: install a verified bundle beside the running release, switch, confirm or roll
back.

Under ``update.root`` (``/opt/bitagora``)::

    releases/<version>/   one virtualenv per release, never changed once installed
    current -> releases/<version>    what the services run (ExecStart goes through it)
    previous -> releases/<version>   the release that installed ``current``: the rollback
                                     target, and the code that judges the new one
    update-state.json     {"state": "pending" | "good" | "rolled_back" | "failed", ...}

The device's data (``/var/lib/bitagora``: journal, key) is outside every slot. Links are switched
by making a new link and renaming it over the old one, so a power cut leaves the old or the new,
never neither. A switch is "pending" until ``confirm`` has seen the services come up and the new
release's ``bitagora doctor --offline`` pass its software checks; otherwise (or if a check began
and never ended, because the device restarted during it) ``current`` goes back to ``previous``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.config import Settings
from appliance.store.durable import fsync_dir, write_atomic
from appliance.store.lock import flocked
from appliance.update.bundle import WHEELS, BundleError, load_public_key, open_verified

log = logging.getLogger(__name__)

RELEASES = "releases"
CURRENT = "current"
PREVIOUS = "previous"
STATE_FILE = "update-state.json"
LOCK_FILE = ".update.lock"
# Doctor checks that a release can break. A printer that is off or a reader that is unplugged
# says nothing about the release, and must not roll it back.
SOFTWARE_CHECKS = frozenset({"config", "database", "journal", "disk"})
PIP_TIMEOUT_S = 600


class UpdateError(RuntimeError):
    """An update step that cannot go ahead; the message says why and what to do."""


class NotNow(UpdateError):
    """The install was ready to switch, but the device is not (the till became busy): nothing
    switched, try again later."""


@dataclass(frozen=True)
class UpdateState:
    state: str  # pending | good | rolled_back | failed
    version: str  # what current points to
    previous: str | None = None
    failed: str | None = None  # the release that was rolled back
    reason: str = ""
    at: str = ""
    checks_started: int = 0


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def load_state(root: Path) -> UpdateState | None:
    try:
        data: Any = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
        return UpdateState(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as err:
        raise UpdateError(f"cannot read {root / STATE_FILE}: {err}") from None


def save_state(root: Path, state: UpdateState) -> None:
    write_atomic(root / STATE_FILE, json.dumps(asdict(state), indent=2).encode("utf-8"))


def linked_version(root: Path, link: str) -> str | None:
    """The release a link points to, or None if there is no link."""
    try:
        return Path(os.readlink(root / link)).name
    except OSError:  # no link (or not a link)
        return None


def _point(root: Path, link: str, version: str) -> None:
    tmp = root / f".{link}.new"
    tmp.unlink(missing_ok=True)
    os.symlink(Path(RELEASES) / version, tmp)  # relative: the tree can be moved or mounted
    os.replace(tmp, root / link)  # rename(2) over the old link: atomic
    fsync_dir(root)


def _make_slot(slot: Path, wheels: Path, requirements: tuple[str, ...]) -> None:
    """A new virtualenv at ``slot`` with the requirements from ``wheels`` and nothing else.

    pip runs from this release's interpreter against the slot's (``--python``), so the slot
    needs no pip of its own to be made; it gets one only if the bundle carries pip's wheel.
    Like the image's first release, the slot sees the system's packages: on a Pi, Debian's
    python3-lgpio (no wheel of it exists for this Python) drives a GPIO cash drawer. Every
    requirement is still installed from the bundle (``--ignore-installed``), never taken from
    the system."""
    venv.EnvBuilder(with_pip=False, symlinks=True, system_site_packages=True).create(slot)
    command = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(slot / "bin" / "python"),
        "--disable-pip-version-check",
        "--no-input",
        "install",
        "--ignore-installed",
        "--no-index",
        "--no-cache-dir",
        "--find-links",
        str(wheels),
        *requirements,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        shutil.rmtree(slot, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise UpdateError("pip could not install the bundle: " + " / ".join(tail))


def _systemctl(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [settings.update.systemctl, *args],
        capture_output=True,
        text=True,
        timeout=settings.update.confirm_timeout_s,
        check=False,
    )


def _restart_services(settings: Settings) -> str:
    result = _systemctl(settings, "restart", *settings.update.services)
    if result.returncode != 0:
        return f"; restarting the services failed: {result.stderr.strip()}"
    return ""


def _one_at_a_time(root: Path) -> AbstractContextManager[None]:
    """Installs and confirmations take turns: each reads the state and moves the links."""
    root.mkdir(parents=True, exist_ok=True)
    busy = UpdateError("another `bitagora update` step is running on this device; wait for it")
    return flocked(root / LOCK_FILE, exclusive=True, busy=busy)


def install(settings: Settings, bundle: Path, ready: Callable[[], str | None] | None = None) -> str:
    """Verify ``bundle``, install it into a new slot, switch to it (pending) and restart the
    services; the confirmation unit then decides. Returns what was done, in words. ``ready``,
    asked once the slot is built, names a reason not to switch now (``NotNow``)."""
    with _one_at_a_time(Path(settings.update.root)):
        return _install(settings, bundle, ready)


def _install(settings: Settings, bundle: Path, ready: Callable[[], str | None] | None) -> str:
    root = Path(settings.update.root)
    if settings.data_dir.is_relative_to(root.resolve()):
        raise UpdateError(
            f"the data directory {settings.data_dir} is inside update.root {root}: the journal "
            "and the key must live outside every release"
        )
    public_key = load_public_key(Path(settings.update.public_key))
    state = load_state(root)
    if state is not None and state.state == "pending":
        raise NotNow(
            f"release {state.version} is still waiting for its confirmation: run "
            "`bitagora update confirm` (or wait for it) before installing another"
        )
    running = linked_version(root, CURRENT)
    (root / RELEASES).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".staging-") as staging:
        try:
            manifest = open_verified(bundle, public_key, Path(staging))
        except BundleError as err:
            raise UpdateError(f"bundle refused, nothing installed: {err}") from None
        if manifest.version == running:
            raise UpdateError(f"release {running} is already the one running")
        slot = root / RELEASES / manifest.version
        if slot.exists():  # a slot left by an attempt that failed or was rolled back
            shutil.rmtree(slot)
        _make_slot(slot, Path(staging) / WHEELS, manifest.requirements)
    if ready is not None and (reason := ready()):
        raise NotNow(
            f"release {manifest.version} is installed in its slot but not switched to: {reason}"
        )
    if running is not None:
        _point(root, PREVIOUS, running)
    # Pending is written before the switch: a power cut in between leaves a confirmation to do
    # (which finds current still on the old release, and passes), never an unchecked switch.
    save_state(root, UpdateState("pending", manifest.version, running, at=now_text()))
    _point(root, CURRENT, manifest.version)
    trouble = _restart_services(settings)
    started = _systemctl(settings, "start", "--no-block", settings.update.confirm_unit)
    if started.returncode != 0:
        trouble += f"; starting {settings.update.confirm_unit} failed: {started.stderr.strip()}"
    return (
        f"installed {manifest.version} (was {running or 'none'}); pending until "
        f"{settings.update.confirm_unit} confirms it{trouble}"
    )


def confirm(settings: Settings) -> tuple[bool, str]:
    """Judge a pending release: (True, words) when it is good or nothing was pending, (False,
    words) after rolling it back."""
    with _one_at_a_time(Path(settings.update.root)):
        return _confirm(settings)


def _confirm(settings: Settings) -> tuple[bool, str]:
    root = Path(settings.update.root)
    state = load_state(root)
    running = linked_version(root, CURRENT)
    if state is None or state.state != "pending":
        return True, f"nothing to confirm: release {running or 'none'} is running"
    if running != state.version:  # the power went between writing "pending" and the switch
        reason = f"the switch to {state.version} never happened"
        save_state(root, replace(state, state="failed", version=running or "none", reason=reason))
        return False, f"{reason}; release {running or 'none'} is still running"
    problem: str | None
    if state.checks_started:
        problem = (
            "its health check started before and never finished (the device restarted or the "
            "check was killed)"
        )
    else:
        save_state(root, replace(state, checks_started=1))
        problem = health_problem(settings, root)
    if problem is None:
        save_state(root, replace(state, state="good", at=now_text(), checks_started=1))
        removed = _prune(root)
        pruned = f"; removed old release {', '.join(removed)}" if removed else ""
        return True, f"release {state.version} confirmed{pruned}"
    return False, rollback(settings, state, problem)


def _prune(root: Path) -> list[str]:
    """Remove every release slot but the running one and the one to roll back to, once the
    running one is judged good: each slot is a whole virtualenv (~150 MB) on an SD card. A
    failed release's slot is kept until then, for whoever looks into why it failed."""
    keep = {linked_version(root, CURRENT), linked_version(root, PREVIOUS)}
    removed = []
    for slot in sorted((root / RELEASES).iterdir()):
        if slot.name not in keep and slot.is_dir() and not slot.is_symlink():
            shutil.rmtree(slot)
            removed.append(slot.name)
    if removed:
        log.info("removed old release slots: %s", ", ".join(removed))
    return removed


def rollback(settings: Settings, state: UpdateState, reason: str) -> str:
    root = Path(settings.update.root)
    previous = state.previous
    if previous is None or not (root / RELEASES / previous).is_dir():
        save_state(root, replace(state, state="failed", reason=reason, at=now_text()))
        return f"release {state.version} failed ({reason}) and there is no previous release"
    _point(root, CURRENT, previous)
    save_state(
        root,
        UpdateState(
            "rolled_back", previous, previous, failed=state.version, reason=reason, at=now_text()
        ),
    )
    log.error("release %s rolled back to %s: %s", state.version, previous, reason)
    trouble = _restart_services(settings)
    return f"release {state.version} failed ({reason}); rolled back to {previous}{trouble}"


def _service_states(settings: Settings) -> dict[str, tuple[str, int]]:
    """Each service's systemd ActiveState and NRestarts (how often systemd restarted it)."""
    states = {}
    for unit in settings.update.services:
        shown = _systemctl(settings, "show", "-p", "NRestarts", "-p", "ActiveState", unit)
        props = dict(line.partition("=")[::2] for line in shown.stdout.splitlines())
        restarts = props.get("NRestarts", "")
        states[unit] = (
            props.get("ActiveState") or "unknown",
            int(restarts) if restarts.isdigit() else 0,
        )
    return states


def _services_problem(settings: Settings) -> str | None:
    """None once every service is active and then stays active, not restarted by systemd, for
    ``update.settle_s`` (a kiosk with Restart=always that crashes at start is "active" between
    its restarts); otherwise what went wrong, in words."""
    update = settings.update
    deadline = time.monotonic() + update.confirm_timeout_s
    while True:
        first = _service_states(settings)
        if all(state == "active" for state, _ in first.values()):
            break
        if time.monotonic() > deadline:
            states = ", ".join(f"{unit} {state}" for unit, (state, _) in first.items())
            return f"the services did not come up within {update.confirm_timeout_s} s ({states})"
        time.sleep(1)  # polling an outside state with a deadline
    settled = time.monotonic() + update.settle_s
    while True:
        for unit, (state, restarts) in _service_states(settings).items():
            if restarts != first[unit][1]:
                return f"{unit} was restarted {restarts - first[unit][1]} time(s) after it came up"
            if state != "active":
                return f"{unit} went {state} after it came up"
        if time.monotonic() >= settled:
            return None
        time.sleep(min(1.0, update.settle_s / 5))  # polling an outside state until it settles


def health_problem(settings: Settings, root: Path) -> str | None:
    """None if the services came up and stayed up, and the new release's doctor passes its
    software checks; otherwise what went wrong, in words."""
    update = settings.update
    problem = _services_problem(settings)
    if problem:
        return problem
    command = [
        str(root / CURRENT / "bin" / "bitagora"),
        "doctor",
        "--offline",
        "--no-print",
        "--json",
        "--data-dir",
        str(settings.data_dir),
    ]
    if update.health_user and os.geteuid() == 0:
        user = update.health_user
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", *command]
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=update.confirm_timeout_s,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"the new release's doctor did not run: {err}"
    try:
        checks = json.loads(result.stdout)["checks"]
        failed = [
            f"{c['name']}: {c['detail']}"
            for c in checks
            if c["status"] == "FAIL" and c["name"] in SOFTWARE_CHECKS
        ]
    except (ValueError, KeyError, TypeError):
        tail = " / ".join(result.stderr.strip().splitlines()[-3:])
        return f"the new release's doctor gave no report (exit {result.returncode}): {tail}"
    return "doctor failed " + "; ".join(failed) if failed else None
