"""Applying a setup: the one code path of first boot, ``bitagora provision`` and the kiosk's retry.

Steps, in order: system files (credentials, ``appliance.toml``, Wi-Fi, timezone, locale), the
device key and store, enrollment with central, erasing the secrets from the setup file. Every
step can run again without harm: an existing key is kept, an enrolled device is not enrolled
again, a file that already holds the right content is not rewritten. Whatever happens ends in a
status file (``status.py``) with the doctor's report, so the kiosk can show a failure in words.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import pwd
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.config import ConfigError, Settings, load_settings
from appliance.doctor import (
    Check,
    Options,
    clock_check,
    config_check,
    disk_check,
    report,
    run_checks,
    uplink_check,
)
from appliance.provision.host import CONFIG, Host, HostError
from appliance.provision.setup_file import (
    Setup,
    SetupError,
    erase_secrets,
    file_sha256,
    read_setup,
)
from appliance.provision.status import ProvisionStatus, read_status, write_status
from appliance.store import device
from appliance.store.db import open_db
from appliance.store.identity import IdentityError
from appliance.uplink.backoff import Backoff
from appliance.uplink.daemon import load_enrollment
from appliance.uplink.main import EnrollFailed, device_store, enroll_device

log = logging.getLogger(__name__)

DEFAULT_NETWORK_WAIT_S = 120.0
ALREADY_APPLIED = "already applied; nothing to do"


class StepFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class Target:
    """Where provisioning writes: the system under ``host.root``, the state in ``data_dir``,
    handed to ``owner`` (the services' user) when run as root."""

    host: Host
    data_dir: Path
    owner: str | None = "bitagora"
    # How long to keep trying central while the network comes up (Wi-Fi just written).
    network_wait_s: float = DEFAULT_NETWORK_WAIT_S
    # Whether the doctor may open the printer and the NFC reader (not while the kiosk has them).
    devices: bool = True


async def provision_file(path: Path, target: Target) -> ProvisionStatus:
    """First boot and ``bitagora provision --setup FILE``: apply the file, erase its secrets."""
    try:
        setup = read_setup(path, target.host.read_credentials())
    except SetupError as err:
        return await _finish(target, _failed(target, "setup file", str(err), str(path)))
    previous = read_status(target.data_dir)
    if previous is not None and previous.ok and previous.setup_sha256 == setup.sha256:
        return replace(previous, message=ALREADY_APPLIED)
    return await provision(setup, target, system=True)


def supersede(target: Target, path: Path) -> None:
    """Settings typed at ``bitagora provision`` win over the setup file as it is now: its secrets
    are erased all the same and its hash recorded as applied, so the next boot does not put its
    older settings back (an edit still counts)."""
    status = read_status(target.data_dir)
    if status is None or not status.ok or not path.is_file():
        return
    try:
        sha = erase_secrets(read_setup(path, target.host.read_credentials()), datetime.now(UTC))
    except SetupError:
        sha = file_sha256(path)  # a file that does not parse: nothing to apply or to erase
    write_status(target.data_dir, replace(status, setup_sha256=sha))


async def retry_enrollment(data_dir: Path) -> ProvisionStatus:
    """The kiosk's Retry: enroll again from the setup file the failed run used. The kiosk may not
    write the system or the boot partition, so the secrets are erased at the next boot's run."""
    previous = read_status(data_dir)
    if previous is None or not previous.setup:
        return _failed(
            Target(Host(), data_dir),
            "retry",
            "no setup file to retry with: run bitagora provision",
            "",
        )
    target = Target(
        Host(Path(previous.root)), data_dir, owner=None, network_wait_s=0, devices=False
    )
    # The kiosk cannot read root's credentials folder, but systemd hands it the same secrets.
    given = os.environ.get("CREDENTIALS_DIRECTORY")
    try:
        setup = read_setup(
            Path(previous.setup), target.host.read_credentials(Path(given) if given else None)
        )
    except SetupError as err:
        return await _finish(target, _failed(target, "setup file", str(err), previous.setup))
    return await provision(setup, target, system=False)


async def provision(setup: Setup, target: Target, *, system: bool) -> ProvisionStatus:
    """Apply ``setup``; ``system`` False leaves the system files and the setup file alone."""
    step = "enrollment"
    device_id = ""
    sha = ""
    try:
        if system:
            await _refuse_another_central(setup, target)
            step = "system files"
            apply_system(setup, target.host)
        step = "enrollment"
        device_id = await _enroll(setup, target)
        if system and setup.path.is_file():
            step = "erasing secrets"
            sha = erase_secrets(setup, datetime.now(UTC))
    except (SetupError, HostError, EnrollFailed, IdentityError, device.DeviceMismatch) as err:
        return await _finish(target, _failed(target, step, str(err), str(setup.path), device_id))
    except (OSError, sqlite3.Error) as err:
        log.exception("provisioning failed at %s", step)
        message = f"{type(err).__name__}: {err}"
        return await _finish(target, _failed(target, step, message, str(setup.path), device_id))
    status = ProvisionStatus(
        "ok",
        "done",
        f"provisioned for {setup.merchant_name}, enrolled with {setup.central_url}",
        _now(),
        str(setup.path),
        str(target.host.root),
        sha,
        device_id,
    )
    return await _finish(target, status)


def apply_system(setup: Setup, host: Host) -> None:
    host.write_credentials(setup.secrets)
    host.write(CONFIG, config_text(setup.config), 0o644)
    if setup.wifi is not None:
        host.write_wifi(setup.wifi)
    if setup.timezone:
        host.set_timezone(setup.timezone)
    if setup.locale:
        host.set_locale(setup.locale)


async def _refuse_another_central(setup: Setup, target: Target) -> None:
    """A device enrolled with one central is not moved to another by a changed setup file (its
    journal lives there); checked before anything is written."""
    database = Settings(data_dir=target.data_dir).database_path
    if not database.is_file():
        return
    conn = await open_db(database)
    try:
        state = await load_enrollment(conn)
    finally:
        await conn.close()
    if state is not None and state.central_url != setup.central_url:
        raise EnrollFailed(
            f"this device is enrolled with {state.central_url}, not {setup.central_url}; "
            "to move it, run bitagora factory-reset and provision it again"
        )


async def _enroll(setup: Setup, target: Target) -> str:
    """The device key and store (made once), then enrollment unless already enrolled there."""
    settings = Settings(data_dir=target.data_dir)
    async with device_store(settings) as (identity, conn):
        state = await load_enrollment(conn)
        if state is not None and state.device_id == identity.device_id:
            return state.device_id
        if not setup.enrollment_code:
            raise EnrollFailed(
                "central.enrollment_code: required: this device is not enrolled yet; ask "
                "central operations for a code and write it into the setup file"
            )
        backoff = Backoff(1, 15)
        deadline = time.monotonic() + target.network_wait_s
        while True:
            try:
                state = await enroll_device(
                    conn, identity, setup.enrollment_code, setup.central_url, 10
                )
            except EnrollFailed as err:
                delay = backoff.next_delay()
                if not err.transient or time.monotonic() + delay > deadline:
                    if err.transient:
                        raise EnrollFailed(
                            f"{err}; check the network (Wi-Fi name and passphrase, or the "
                            "cable) and that central's address is right"
                        ) from None
                    raise
                log.warning("central not reachable yet (%s); trying again in %.0f s", err, delay)
                await asyncio.sleep(delay)  # waiting for the network to come up, not a sync
                continue
            return state.device_id


def config_text(config: Mapping[str, Mapping[str, Any]]) -> str:
    """``appliance.toml`` from the setup's sections (no secrets are in them)."""
    lines = [
        "# Written by bitagora provision from bitagora-setup.toml. Secrets are in",
        "# /etc/bitagora/credentials/, never here.",
    ]
    for section in sorted(config):
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in sorted(config[section].items())]
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise ConfigError(f"cannot write {value!r} into appliance.toml")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _failed(
    target: Target, step: str, message: str, setup: str, device_id: str = ""
) -> ProvisionStatus:
    log.error("provisioning failed at %s: %s", step, message)
    return ProvisionStatus(
        "failed", step, message, _now(), setup, str(target.host.root), device_id=device_id
    )


async def _finish(target: Target, status: ProvisionStatus) -> ProvisionStatus:
    """Add the doctor's report, write the status, hand the state to the services' user."""
    status = replace(status, doctor=await _doctor(target))
    write_status(target.data_dir, status)
    _hand_over(target)
    return status


def device_settings(target: Target) -> Settings:
    """The settings the services will see: the written file and, as their credentials, the
    secrets (the files are named like systemd's LoadCredential= names them)."""
    config = target.host.config_path
    env = {"CREDENTIALS_DIRECTORY": str(target.host.credentials_dir), **os.environ}
    return load_settings(target.data_dir, config if config.is_file() else None, env)


async def _doctor(target: Target) -> str:
    load = functools.partial(device_settings, target)
    try:
        if target.devices:
            checks = await run_checks(load, Options(print_test_page=False))
        else:
            checks = await _network_checks(load)
    except Exception as err:  # the report is extra information; its failure must not hide ours
        log.exception("doctor failed")
        return f"doctor could not run: {err}"
    return report(checks, as_json=False)


async def _network_checks(load: Callable[[], Settings]) -> list[Check]:
    """The doctor's checks that touch no device: what a retry from the kiosk can run."""
    config, settings = config_check(load)
    if settings is None:
        return [config]
    uplink, skew = await uplink_check(settings, offline=False)
    return [config, uplink, clock_check(time.time(), skew), disk_check(settings)]


def _hand_over(target: Target) -> None:
    """First boot runs as root; the kiosk and uplink run as ``owner`` and must own the state."""
    if not target.owner or os.geteuid() != 0:
        return
    try:
        user = pwd.getpwnam(target.owner)
    except KeyError:
        raise HostError(
            f"user {target.owner!r} does not exist: install systemd/bitagora.sysusers first"
        ) from None
    for folder, _dirs, files in os.walk(target.data_dir):
        os.chown(folder, user.pw_uid, user.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), user.pw_uid, user.pw_gid)
