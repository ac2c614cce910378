"""Applying a setup: the one code path of first boot, ``bitagora provision`` and the kiosk's retry.

Steps, in order: system files (credentials, ``appliance.toml``, Wi-Fi, timezone, locale), the
device key and store, the first manager, the shop's catalog, enrollment with central, erasing the
secrets from the setup file. Every step can run again without harm: an existing key is kept, a
manager who already has that PIN is left alone, a catalog file already imported is not imported
again, an enrolled device is not enrolled again, a file that already holds the right content is
not rewritten. The manager and the catalog come before enrollment, so a till that cannot reach
central yet can still be unlocked and sell (its sales are sent once enrolled). Whatever happens
ends in a status file (``status.py``) with the doctor's report, so the kiosk can show a failure
in words: in the till's language (the setup's ``[device] language``, else the settings'), which
the status keeps as written; its step names stay English there and are translated where shown.
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
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from appliance.catalog_io import CatalogFileError, import_catalog
from appliance.config import CREDENTIAL_SETTINGS, ConfigError, Settings, load_settings
from appliance.doctor import (
    Check,
    clock_check,
    config_check,
    disk_check,
    lightning_check,
    onchain_check,
    rates_check,
    report,
    uplink_check,
)
from appliance.i18n import LANGUAGES, N_, _, use
from appliance.provision.host import CONFIG, Host, HostError
from appliance.provision.setup_file import (
    TYPED_ANSWERS,
    Manager,
    Setup,
    SetupError,
    catalog_path,
    erase_secrets,
    file_sha256,
    read_setup,
    settings_problems,
)
from appliance.provision.status import ProvisionStatus, read_status, write_status
from appliance.store import device, lock
from appliance.store import staff as staff_store
from appliance.store.db import StoreError, open_db
from appliance.store.identity import DeviceIdentity, IdentityError
from appliance.store.staff import PinTaken, Staff
from appliance.uplink.backoff import Backoff
from appliance.uplink.daemon import load_enrollment
from appliance.uplink.service import EnrollFailed, device_store, enroll_device

log = logging.getLogger(__name__)

DEFAULT_NETWORK_WAIT_S = 120.0
# A boot after a run that failed with this very file: the till waits for this run, and the
# technician screen has Retry, so the network gets a short while only (an edit gets it all).
FAILED_BEFORE_NETWORK_WAIT_S = 20.0
ALREADY_APPLIED = N_("already applied; nothing to do")
FIX_ON_THE_CARD = N_(
    "To fix it (a new enrollment code, the Wi-Fi, any setting): power the till off, put its SD "
    "card in a computer, edit {name} on the card's BOOT partition, put the card back and power "
    "the till on; it applies the file again at start."
)
FIX_THE_CATALOG = N_(
    "To fix it: power the till off, put its SD card in a computer, correct {name} on the "
    "card's BOOT partition (each problem is named above by line and column), put the card "
    "back and power the till on; it is imported again at start."
)
# The steps a status names (translated where shown: the technician screen).
STEPS = (
    N_("setup file"),
    N_("system files"),
    N_("first manager"),
    N_("catalog"),
    N_("enrollment"),
    N_("erasing secrets"),
    N_("retry"),
    N_("state folder"),
    N_("done"),
)
# The catalog record's ``by`` for a catalog the setup file named (docs/PROTOCOL.md 1.4).
PROVISION = {"via": "provision"}


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


async def provision_file(path: Path, target: Target) -> ProvisionStatus:
    """First boot and ``bitagora provision --setup FILE``: apply the file, erase its secrets."""
    _speak_settings_language(target)
    _speak_setup_file_language(path)
    try:
        sha = file_sha256(path)
    except OSError:
        sha = ""  # read_setup says why in words
    previous = read_status(target.data_dir)
    if previous is not None and sha and previous.setup_sha256 == sha:
        # Compared before validating: a file superseded by typed answers may not be valid.
        if previous.ok:
            named = named_catalog(path)
            if named is None or _sha_or_none(named) in (None, previous.catalog_sha256):
                return replace(previous, message=_(ALREADY_APPLIED))
            # Only the catalog file was edited: import it, and nothing else of the setup.
            return await _catalog_again(named, target, previous)
        wait = min(target.network_wait_s, FAILED_BEFORE_NETWORK_WAIT_S)
        target = replace(target, network_wait_s=wait)
    try:
        setup = read_setup(path, target.host.read_credentials())
    except SetupError as err:
        message = f"{err}\n{_(FIX_ON_THE_CARD).format(name=path.name)}"
        failed = _failed(target, "setup file", message, str(path), sha=sha)
        return await _finish(target, failed, run_doctor=False)
    # Nobody can log into a fresh till: the way in is the card's boot partition.
    return await provision(
        setup, target, system=True, how_to_fix=_(FIX_ON_THE_CARD).format(name=path.name)
    )


def _speak_settings_language(target: Target) -> None:
    """Say what happens in the language of the till's settings as they are (English when they
    cannot be read: the setup file may be what fixes them)."""
    try:
        use(device_settings(target).device.language)
    except (ConfigError, OSError, tomllib.TOMLDecodeError):
        return


def _speak_setup_file_language(path: Path) -> None:
    """The setup file's ``[device] language`` from here on, when it names one: its own problems
    are then told in it too."""
    try:
        device_table = tomllib.loads(path.read_text("utf-8-sig")).get("device", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return
    language = device_table.get("language") if isinstance(device_table, dict) else None
    if language in LANGUAGES:
        use(str(language))


def supersede(target: Target, path: Path) -> str:
    """Settings typed at ``bitagora provision`` win over the setup file as it is now, valid or
    not: its secrets are erased all the same (if it is TOML) and its hash recorded as applied,
    so the next boot does not put its older settings back (an edit still counts). Returns what
    happened to the file, in words."""
    status = read_status(target.data_dir)
    if status is None or not status.ok or not path.is_file():
        return ""
    # The catalog it names is superseded as well: imported only once edited.
    named = named_catalog(path)
    catalog_sha = _sha_or_none(named) if named is not None else None
    if catalog_sha is not None:
        status = replace(status, catalog_sha256=catalog_sha)
    try:
        sha = erase_secrets(path, datetime.now(UTC))
        done = f"{path}: secrets erased; applied again only once edited"
    except SetupError as err:
        sha = file_sha256(path)
        done = (
            f"{path}: its secrets could NOT be erased ({'; '.join(err.problems)}); edit or "
            "delete it. It is applied again only once edited"
        )
    write_status(target.data_dir, replace(status, setup_sha256=sha))
    return done


async def retry_enrollment(data_dir: Path) -> ProvisionStatus:
    """The kiosk's Retry: enroll again from the setup file the failed run used. The kiosk may not
    write the system or the boot partition, so the secrets are erased at the next boot's run."""
    previous = read_status(data_dir)
    if previous is None or previous.setup in ("", str(TYPED_ANSWERS)):
        return _failed(
            Target(Host(), data_dir),
            "retry",
            _(
                "no setup file to retry with: the settings were typed at bitagora provision; "
                "run sudo bitagora provision again"
            ),
            previous.setup if previous else "",
        )
    target = Target(Host(Path(previous.root)), data_dir, owner=None, network_wait_s=0)
    # The kiosk cannot read root's credentials folder, but systemd hands it the same secrets.
    given = os.environ.get("CREDENTIALS_DIRECTORY")
    try:
        setup = read_setup(
            Path(previous.setup), target.host.read_credentials(Path(given) if given else None)
        )
    except SetupError as err:
        failed = _failed(target, "setup file", str(err), previous.setup)
        return await _finish(target, failed, run_doctor=False)
    return await provision(setup, target, system=False)


async def provision(
    setup: Setup, target: Target, *, system: bool, how_to_fix: str = ""
) -> ProvisionStatus:
    """Apply ``setup``; ``system`` False leaves the system files and the setup file alone.
    ``how_to_fix`` ends the message of a failure."""
    step = "enrollment"
    device_id = ""
    sha = ""
    previous = read_status(target.data_dir)
    catalog_sha = previous.catalog_sha256 if previous is not None else ""
    try:
        if system:
            await _refuse_another_central(setup, target)
            step = "system files"
            apply_system(setup, target.host)
        step = "enrollment"
        with lock.hold(target.data_dir):  # never in the middle of a restore
            async with device_store(Settings(data_dir=target.data_dir)) as (identity, conn):
                if setup.manager is not None:
                    step = "first manager"
                    await add_manager(conn, setup.manager)
                if setup.catalog is not None:
                    step = "catalog"
                    catalog_sha = await import_named_catalog(
                        conn, identity, setup.catalog, target, catalog_sha
                    )
                step = "enrollment"
                device_id = await _enroll(setup, target, identity, conn)
        if system and setup.path.is_file():
            step = "erasing secrets"
            sha = erase_secrets(setup.path, datetime.now(UTC))
    except (
        ValueError,  # SetupError, ConfigError, a TOML error: each says what, in words
        HostError,
        EnrollFailed,
        IdentityError,
        device.DeviceMismatch,
        StoreError,
        lock.StoreBusy,
    ) as err:
        if how_to_fix and step == "catalog" and setup.catalog is not None:
            how_to_fix = _(FIX_THE_CATALOG).format(name=setup.catalog.name)
        message = "\n".join(filter(None, (str(err), how_to_fix)))
        failed = _failed(target, step, message, str(setup.path), device_id, setup.sha256)
        return await _finish(target, replace(failed, catalog_sha256=catalog_sha))
    except (OSError, sqlite3.Error) as err:
        log.exception("provisioning failed at %s", step)
        message = "\n".join(filter(None, (f"{type(err).__name__}: {err}", how_to_fix)))
        failed = _failed(target, step, message, str(setup.path), device_id, setup.sha256)
        return await _finish(target, replace(failed, catalog_sha256=catalog_sha))
    status = ProvisionStatus(
        "ok",
        "done",
        _("provisioned for {shop}, enrolled with {central}").format(
            shop=setup.merchant_name, central=setup.central_url
        ),
        _now(),
        str(setup.path),
        str(target.host.root),
        sha,
        device_id,
        catalog_sha256=catalog_sha,
    )
    return await _finish(target, status)


def apply_system(setup: Setup, host: Host) -> None:
    merged = merged_config(host.config_path, setup.config)
    # A value kept from the file may not suit the setup's (or be wrong already): refused here,
    # before anything is written, rather than found by the kiosk at its start.
    secrets = {**host.read_credentials(), **setup.secrets}
    if problems := settings_problems(merged, secrets, str(host.config_path)):
        raise ConfigError(
            "\n".join(problems)
            + "\n"
            + _(
                "correct or remove these in {path} (kept from before), or set them in the setup"
            ).format(path=host.config_path)
        )
    config = config_text(merged)
    host.write_credentials(setup.secrets)
    host.write(CONFIG, config, 0o644)
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
            _(
                "this device is enrolled with {enrolled}, not {wanted}; to move it, run "
                "bitagora factory-reset and provision it again"
            ).format(enrolled=state.central_url, wanted=setup.central_url)
        )


async def add_manager(conn: aiosqlite.Connection, manager: Manager) -> None:
    """The setup's first manager, so a fresh till can be unlocked: added, or given the name,
    PIN and own language the file says (a forgotten manager PIN is reset this way). A PIN
    erased from the file by an earlier run leaves the manager as the till has them."""
    if not manager.pin:
        if any(staff.id == manager.id for staff, _ in await staff_store.all_staff(conn)):
            return
        raise ValueError(
            "manager.pin: "
            + _(
                "required: the PIN (4 to 8 digits) {name} unlocks the till with; this till has "
                "no staff member {id} yet"
            ).format(name=manager.name, id=repr(manager.id))
        )
    wanted = Staff(manager.id, manager.name, "manager", language=manager.language)
    if await staff_store.staff_by_pin(conn, manager.pin) == wanted:
        return  # already so: nothing is written
    try:
        await staff_store.add_staff(
            conn, manager.id, manager.name, "manager", manager.pin, manager.language
        )
    except PinTaken as err:
        raise ValueError(f"manager.pin: {err}") from None
    log.warning("first manager added", extra={"staff": manager.id})


async def import_named_catalog(
    conn: aiosqlite.Connection,
    identity: DeviceIdentity,
    path: Path,
    target: Target,
    imported_sha: str,
) -> str:
    """Import the catalog file the setup names, unless it is the one provisioning imported
    last (so a catalog imported by hand since is not put back by a reboot). Returns the SHA-256
    of the file now imported. ``ValueError`` names every bad row, by line and column."""
    try:
        sha = file_sha256(path)
    except OSError as err:
        raise ValueError(f"catalog.file: {path} cannot be read: {err.strerror}") from None
    if sha == imported_sha:
        return sha
    currency = device_settings(target).device.currency
    try:
        imported = await import_catalog(conn, identity, currency, path, PROVISION)
    except CatalogFileError as err:
        raise ValueError(f"{path.name}: {err}") from None
    log.warning("catalog imported: %s", imported.summary())
    return sha


def named_catalog(setup: Path) -> Path | None:
    """The catalog file a setup file names, read leniently (None for a file that is not TOML
    or names none): to notice an edited catalog next to an unchanged setup file."""
    try:
        document = tomllib.loads(setup.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    section = document.get("catalog")
    name = section.get("file") if isinstance(section, Mapping) else None
    if not isinstance(name, str) or not name.strip():
        return None
    return catalog_path(setup, name.strip())


def _sha_or_none(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None  # taken off the card since: the catalog stays as imported


async def _catalog_again(path: Path, target: Target, previous: ProvisionStatus) -> ProvisionStatus:
    """The setup file is unchanged and applied, its catalog file edited: import the catalog
    alone (settings typed at ``bitagora provision`` since still win over the setup file's)."""
    settings = Settings(data_dir=target.data_dir)
    try:
        with lock.hold(target.data_dir):
            async with device_store(settings) as (identity, conn):
                sha = await import_named_catalog(
                    conn, identity, path, target, previous.catalog_sha256
                )
    except (
        ValueError,
        IdentityError,
        device.DeviceMismatch,
        StoreError,
        lock.StoreBusy,
        OSError,
        sqlite3.Error,
    ) as err:
        problem = str(err)
        if isinstance(err, OSError | sqlite3.Error):
            log.exception("provisioning failed at catalog")
            problem = f"{type(err).__name__}: {err}"
        fix = FIX_THE_CATALOG.format(name=path.name)
        failed = _failed(
            target, "catalog", f"{problem}\n{fix}", previous.setup, sha=previous.setup_sha256
        )
        failed = replace(
            failed, device_id=previous.device_id, catalog_sha256=previous.catalog_sha256
        )
        return await _finish(target, failed)
    # The doctor's report of the run that applied the setup stays: nothing else changed.
    status = replace(
        previous, message=f"catalog {path.name} imported again", at=_now(), catalog_sha256=sha
    )
    return await _finish(target, status, run_doctor=False)


async def _enroll(
    setup: Setup, target: Target, identity: DeviceIdentity, conn: aiosqlite.Connection
) -> str:
    """Enrollment with central, unless already enrolled there."""
    state = await load_enrollment(conn)
    if state is not None and state.device_id == identity.device_id:
        return state.device_id
    if not setup.enrollment_code:
        raise EnrollFailed(
            "central.enrollment_code: required: this device is not enrolled yet; ask "
            "central operations for a code and write it into the setup file"
        )
    backoff = Backoff(1, 15)
    started = time.monotonic()
    deadline = started + target.network_wait_s
    while True:
        try:
            state = await enroll_device(
                conn, identity, setup.enrollment_code, setup.central_url, 10
            )
        except EnrollFailed as err:
            delay = backoff.next_delay()
            if not err.transient or time.monotonic() + delay > deadline:
                if err.transient:
                    tries = backoff.failures
                    waited = time.monotonic() - started
                    raise EnrollFailed(
                        f"{err} ({tries} {'try' if tries == 1 else 'tries'} in {waited:.0f} s)"
                        "; check the network (Wi-Fi name and passphrase, or the cable) and "
                        "that central's address is right"
                    ) from None
                raise
            # Said once: the network coming up takes a while, and a line per retry would
            # scroll the technician's screen for minutes.
            level = logging.WARNING if backoff.failures == 1 else logging.DEBUG
            log.log(
                level,
                "central not reachable yet (%s); trying again for up to %.0f s",
                err,
                deadline - time.monotonic(),
            )
            await asyncio.sleep(delay)  # waiting for the network to come up, not a sync
            continue
        return state.device_id


def merged_config(
    current: Path, setup: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``appliance.toml`` as it is, with the setup's keys written over it: a setup names only
    what it changes (typed answers, a short setup file), so a key it does not name keeps its
    value. Secrets found in it are left out: they live in the credentials."""
    try:
        document = tomllib.loads(current.read_text(encoding="utf-8"))
    except FileNotFoundError:
        document = {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        log.warning("%s cannot be read (%s): written from the setup alone", current, err)
        document = {}
    merged = {name: dict(table) for name, table in document.items() if isinstance(table, Mapping)}
    for setting in CREDENTIAL_SETTINGS:
        section, key = setting.split(".")
        merged.get(section, {}).pop(key, None)
    for name, table in setup.items():
        merged.setdefault(name, {}).update(table)
    return merged


def config_text(config: Mapping[str, Mapping[str, Any]]) -> str:
    """``appliance.toml`` from the setup's sections (no secrets are in them)."""
    lines = [
        "# Written by bitagora provision: the keys of bitagora-setup.toml (or of its",
        "# questions) over the settings here before. Secrets are in /etc/bitagora/credentials/.",
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
    target: Target, step: str, message: str, setup: str, device_id: str = "", sha: str = ""
) -> ProvisionStatus:
    """``sha``: the setup file this failed with (the next boot, finding it unchanged, does not
    hold the till back as long)."""
    log.error("provisioning failed at %s: %s", step, message)
    return ProvisionStatus(
        "failed", step, message, _now(), setup, str(target.host.root), sha, device_id
    )


async def _finish(
    target: Target, status: ProvisionStatus, run_doctor: bool = True
) -> ProvisionStatus:
    """Add the doctor's report, write the status, hand the state to the services' user.

    ``run_doctor=False`` when the setup file itself was refused: nothing of it was applied, so
    the doctor would check the settings from before (and a data folder not made yet), leads
    that point away from the one thing to fix."""
    if run_doctor:
        status = replace(status, doctor=await _doctor(target))
    write_status(target.data_dir, status)
    try:
        _hand_over(target)
    except (HostError, OSError) as err:
        problem = f"{target.data_dir} could not be handed to the user {target.owner}: {err}"
        log.error("provisioning failed: %s", problem)
        if status.ok:
            status = replace(status, state="failed", step="state folder", message=problem)
        else:
            status = replace(status, message=f"{status.message}\n{problem}")
        write_status(target.data_dir, status)
    return status


def device_settings(target: Target) -> Settings:
    """The settings the services will see: the written file and, as their credentials, the
    secrets (the files are named like systemd's LoadCredential= names them)."""
    config = target.host.config_path
    env = {"CREDENTIALS_DIRECTORY": str(target.host.credentials_dir), **os.environ}
    return load_settings(target.data_dir, config if config.is_file() else None, env)


async def _doctor(target: Target) -> str:
    try:
        checks = await _network_checks(functools.partial(device_settings, target))
    except Exception as err:  # the report is extra information; its failure must not hide ours
        log.exception("doctor failed")
        return f"doctor could not run: {err}"
    return report(checks, as_json=False)


async def _network_checks(load: Callable[[], Settings]) -> list[Check]:
    """The doctor's checks that open no device: first boot runs with PrivateDevices=yes, and
    by hand or from the kiosk's Retry the kiosk holds the printer and the reader's serial line
    (a second user would break both)."""
    config, settings = config_check(load)
    if settings is None:
        return [config]
    uplink, skew = await uplink_check(settings, offline=False)
    return [
        config,
        DEVICES_NOT_CHECKED,
        await lightning_check(settings),
        await rates_check(settings, offline=False),
        await onchain_check(settings, offline=False),
        uplink,
        clock_check(time.time(), skew),
        disk_check(settings),
    ]


DEVICES_NOT_CHECKED = Check(
    "devices",
    "SKIP",
    "printer, drawer, NFC reader, touchscreen: not checked while provisioning",
    "bitagora doctor as the kiosk's user checks them (docs/TECHNICIAN.md, Check a device)",
)


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
    # The owner could plant links in the folder: walk it by descriptors, never through a link
    # (fwalk does not follow them), and change no link's target.
    for _folder, _dirs, files, folder_fd in os.fwalk(target.data_dir):
        os.chown(folder_fd, user.pw_uid, user.pw_gid)
        for name in files:
            try:
                os.chown(name, user.pw_uid, user.pw_gid, dir_fd=folder_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone since the folder was listed: nothing to hand over
