"""``bitagora-setup.toml``: what a technician writes on the SD card's boot partition.

The file names the shop, central and its one-time enrollment code, the Wi-Fi, the timezone and
locale, the first manager (``[manager]``: name and PIN), the shop's catalog (``[catalog] file``: a
CSV file next to this one, docs/CATALOG.md), and any ``appliance.toml`` section (printer, drawer,
Lightning, on-chain, card…) with the same keys. Secrets (the enrollment code, the Wi-Fi
passphrase, the manager's PIN and ``CREDENTIAL_SETTINGS``) never reach ``appliance.toml``; once
applied they are erased from this file (``erase_secrets``), the rest kept as written. Every
problem is reported at once, each naming its key, in the UI language (provisioning speaks the
setup's ``[device] language``); the settings' own checks (appliance/config.py) stay English.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from appliance.config import (
    CREDENTIAL_SETTINGS,
    SECTIONS,
    ConfigError,
    did_you_mean,
    settings_from_document,
)
from appliance.core.catalog import fold
from appliance.i18n import LANGUAGES, N_, _

SETUP_FILE_NAME = "bitagora-setup.toml"
# Raspberry Pi OS bookworm mounts the FAT boot partition here.
BOOT_SETUP_FILE = Path("/boot/firmware") / SETUP_FILE_NAME
# The path of a setup typed at ``bitagora provision``: there is no file to read again.
TYPED_ANSWERS = Path("(answers typed at bitagora provision)")

SETUP_ONLY = {
    "central": ("url", "enrollment_code"),
    "wifi": ("ssid", "passphrase", "country"),
    "system": ("timezone", "locale"),
    "manager": ("name", "pin", "id", "language"),
    "catalog": ("file",),
}
# Erased from the file once applied: "section.key".
SECRETS = frozenset(
    {"central.enrollment_code", "wifi.passphrase", "manager.pin", *CREDENTIAL_SETTINGS}
)
PIN_DIGITS = range(4, 9)  # as bitagora staff add takes them

_CODE = re.compile(r"^[A-Za-z0-9]{12}$")
_LOCALE = re.compile(r"^[a-z]{2,3}_[A-Z]{2}\.UTF-8$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_HEX_PSK = re.compile(r"^[0-9a-fA-F]{64}$")


class SetupError(ValueError):
    """The setup file cannot be used; one line per problem, each naming its key."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path.name}: {problem}" for problem in problems))


@dataclass(frozen=True)
class Wifi:
    ssid: str
    passphrase: str  # "" once erased from the file: the network was written already
    country: str


@dataclass(frozen=True)
class Manager:
    """The first manager: added to the staff with this PIN (``pin`` "" once erased from the
    file: the manager was added then, and is left as the till has them)."""

    id: str
    name: str
    pin: str = field(repr=False)
    language: str | None = None  # their own screen language; None: the shop's


@dataclass(frozen=True)
class Setup:
    path: Path
    sha256: str
    merchant_name: str
    central_url: str
    enrollment_code: str  # "" once erased
    wifi: Wifi | None
    timezone: str
    locale: str
    config: dict[str, dict[str, Any]] = field(repr=False)  # appliance.toml, secrets left out
    secrets: dict[str, str] = field(repr=False)  # CREDENTIAL_SETTINGS given in the file
    manager: Manager | None = None
    catalog: Path | None = None  # the catalog file, found next to the setup file


def read_setup(path: Path, known_secrets: Mapping[str, str] | None = None) -> Setup:
    """Parse and check the setup file; SetupError lists every problem. ``known_secrets``: the
    credentials already on the device, which stand in for those erased from the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SetupError(path, [_("not found at {path}").format(path=path)]) from None
    except OSError as err:
        raise SetupError(path, [_(CANNOT_BE_READ).format(error=err.strerror)]) from None
    text = _decode(path, raw)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SetupError(path, [_(NOT_TOML).format(error=err)]) from None
    # Checked before anything is written: a secret the scan could not erase would otherwise
    # surface only after the system was written and the device enrolled.
    unerasable = _erased(text, document, "")[1]
    try:
        setup = parse_setup(path, document, hashlib.sha256(raw).hexdigest(), known_secrets)
    except SetupError as err:
        raise SetupError(path, [*err.problems, *unerasable]) from None
    if unerasable:
        raise SetupError(path, unerasable)
    return setup


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")  # Notepad starts its UTF-8 with a byte order mark
    except UnicodeDecodeError:
        raise SetupError(path, [_("is not UTF-8 text (save it as UTF-8)")]) from None


CANNOT_BE_READ = N_("cannot be read: {error}")
NOT_TOML = N_("is not valid TOML: {error}")


def parse_setup(
    path: Path,
    document: Mapping[str, Any],
    sha256: str = "",
    known_secrets: Mapping[str, str] | None = None,
) -> Setup:
    problems: list[str] = []
    known = set(SETUP_ONLY) | set(SECTIONS)
    for name, value in document.items():
        if name not in known:
            problems.append(
                f"[{name}]: "
                + _("unknown section{suggestion} (known: {known})").format(
                    suggestion=did_you_mean(name, known), known=", ".join(sorted(known))
                )
            )
        elif not isinstance(value, Mapping):
            problems.append(
                f"{name}: " + _("must be a [{name}] section, not a single value").format(name=name)
            )
    if problems:
        raise SetupError(path, problems)

    def text(section: str, key: str) -> str:
        value = document.get(section, {}).get(key, "")
        if not isinstance(value, str):
            shown = _("a secret") if f"{section}.{key}" in SECRETS else repr(value)
            problems.append(
                f"{section}.{key}: " + _("must be text in quotes, got {value}").format(value=shown)
            )
            return ""
        return value.strip()

    for section, keys in SETUP_ONLY.items():
        for key in set(document.get(section, {})) - set(keys):
            problems.append(
                f"{section}.{key}: "
                + _("unknown setting{suggestion} (known: {known})").format(
                    suggestion=did_you_mean(key, keys), known=", ".join(keys)
                )
            )

    merchant = text("device", "merchant_name")
    if not merchant:
        problems.append("device.merchant_name: " + _("required: the shop's name, as on receipts"))
    url = text("central", "url")
    url_ok = _check_url(url, problems)
    code = text("central", "enrollment_code")
    if code and not _CODE.match(code.replace("-", "").replace(" ", "")):
        problems.append(
            "central.enrollment_code: "
            + _(
                "not a code from central operations (twelve letters and digits, like "
                "ABCD-EFGH-JKMN)"
            )
        )
    wifi = _wifi(document, text, problems)
    timezone = text("system", "timezone")
    if timezone and not _known_timezone(timezone):
        problems.append(
            "system.timezone: "
            + _(
                "{zone} is not a known timezone (a name like Europe/Lisbon or America/New_York)"
            ).format(zone=repr(timezone))
        )
    locale = text("system", "locale")
    if locale and not _LOCALE.match(locale):
        problems.append(
            "system.locale: "
            + _("{locale} is not a UTF-8 locale like pt_PT.UTF-8").format(locale=repr(locale))
        )
    manager = _manager(document, text, problems)
    catalog = _catalog(path, document, text, problems)

    config: dict[str, dict[str, Any]] = {
        name: dict(document[name]) for name in SECTIONS if name in document
    }
    secrets: dict[str, str] = {}
    for setting in sorted(CREDENTIAL_SETTINGS):
        section, key = setting.split(".")
        if key in config.get(section, {}):
            value = config[section].pop(key)
            if isinstance(value, str) and value.strip():
                secrets[setting] = value.strip()
    if url_ok:
        config.setdefault("uplink", {})["central_url"] = url.rstrip("/")
    if merchant:
        config.setdefault("device", {})["merchant_name"] = merchant
    problems.extend(settings_problems(config, {**(known_secrets or {}), **secrets}))
    if problems:
        raise SetupError(path, problems)
    return Setup(
        path,
        sha256,
        merchant,
        url.rstrip("/"),
        code,
        wifi,
        timezone,
        locale,
        config,
        secrets,
        manager,
        catalog,
    )


def _check_url(url: str, problems: list[str]) -> bool:
    if not url:
        problems.append(
            "central.url: " + _("required: central's address, like https://central.example.com")
        )
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append(
            "central.url: "
            + _(
                "{url} is not a web address; write it in full, like https://central.example.com"
            ).format(url=repr(url))
        )
        return False
    return True


def _wifi(document: Mapping[str, Any], text: Any, problems: list[str]) -> Wifi | None:
    if "wifi" not in document:
        return None
    ssid, passphrase, country = (
        text("wifi", "ssid"),
        text("wifi", "passphrase"),
        text("wifi", "country"),
    )
    if not ssid:
        problems.append(
            "wifi.ssid: "
            + _("required in [wifi]: the network's name (leave out [wifi] for a cable)")
        )
    elif len(ssid.encode("utf-8")) > 32:
        problems.append(
            "wifi.ssid: "
            + _("{name} is longer than a Wi-Fi name can be (32 bytes)").format(name=repr(ssid))
        )
    if passphrase and not (8 <= len(passphrase) <= 63 or _HEX_PSK.match(passphrase)):
        problems.append("wifi.passphrase: " + _("a WPA passphrase has 8 to 63 characters"))
    country = country.upper()  # "pt" is as clear as "PT"
    if not country:
        problems.append(
            "wifi.country: "
            + _(
                "required in [wifi]: the two-letter country code (PT, DE, US…); the radio stays "
                "off without it"
            )
        )
    elif not _COUNTRY.match(country):
        problems.append(
            "wifi.country: "
            + _("{code} is not a two-letter country code (PT, DE, US…)").format(code=repr(country))
        )
    return Wifi(ssid, passphrase, country)


def _manager(document: Mapping[str, Any], text: Any, problems: list[str]) -> Manager | None:
    """``[manager]``: the first manager, so a fresh till can be unlocked. The PIN may be missing
    only once erased (``apply`` then finds the manager on the till, or says it is required)."""
    if "manager" not in document:
        return None
    name, pin, staff_id = text("manager", "name"), text("manager", "pin"), text("manager", "id")
    language = text("manager", "language")
    if not name:
        problems.append("manager.name: " + _("required in [manager]: the first manager's name"))
    if pin and (not pin.isdigit() or len(pin) not in PIN_DIGITS):
        problems.append("manager.pin: " + _('a PIN is 4 to 8 digits, in quotes (pin = "4321")'))
    if staff_id and not _STAFF_ID.match(staff_id):
        problems.append(
            "manager.id: "
            + _("{id} is not a short id: letters, digits, - and _, at most 32").format(
                id=repr(staff_id)
            )
        )
    if language and language not in LANGUAGES:
        problems.append(
            f"manager.language: {language!r} is not one of {', '.join(LANGUAGES)}"
            f"{did_you_mean(language, LANGUAGES)} (leave it out for the shop's language)"
        )
    return Manager(staff_id or staff_id_for(name), name, pin, language or None)


_STAFF_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def staff_id_for(name: str) -> str:
    """The short id a manager named only by name gets: the first word of the name, folded to
    plain lower-case letters and digits ("Marta Silva" → ``marta``), else ``manager``."""
    words = [re.sub(r"[^a-z0-9]", "", word) for word in fold(name).split()]
    return next((word[:32] for word in words if word), "manager")


def _catalog(
    path: Path, document: Mapping[str, Any], text: Any, problems: list[str]
) -> Path | None:
    """``[catalog] file``: the shop's catalog CSV, named relative to the setup file's folder
    (the boot partition), checked to be there now; its rows are checked when it is imported."""
    if "catalog" not in document:
        return None
    name = text("catalog", "file")
    if not name:
        problems.append(
            "catalog.file: "
            + _(
                "required in [catalog]: the catalog CSV's name, next to this file "
                '(file = "catalog.csv"; docs/CATALOG.md)'
            )
        )
        return None
    found = catalog_path(path, name)
    if not found.is_file():
        problems.append(
            f"catalog.file: {name!r}: "
            + _("no such file next to {setup} (looked for {found})").format(
                setup=path.name, found=found
            )
        )
    return found


def catalog_path(setup: Path, name: str) -> Path:
    """Where ``[catalog] file = name`` of the setup file ``setup`` points."""
    return setup.parent / name  # an absolute name stands for itself


def _known_timezone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def settings_problems(
    config: Mapping[str, Mapping[str, Any]],
    secrets: Mapping[str, str],
    source: str = SETUP_FILE_NAME,
) -> list[str]:
    """Each appliance.toml section checked as the kiosk will check it (secrets included)."""
    problems: list[str] = []
    for name in config:
        section: dict[str, Any] = {name: dict(config[name])}
        for setting, value in secrets.items():
            owner, key = setting.split(".")
            if owner == name:
                section[name][key] = value
        try:
            settings_from_document(section, Path("."), env={}, source=source)
        except ConfigError as err:
            problems.append(str(err))
    return problems


# -- erasing the secrets once applied --------------------------------------------------------


_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]\s*(#.*)?$")
_ASSIGNMENT = re.compile(r"^\s*([A-Za-z0-9_-]+)\s*=")


def erase_secrets(path: Path, now: datetime) -> str:
    """Rewrite the file without its secrets (each line commented out as erased) and with a
    first comment saying when it was applied; atomically, so a power cut leaves the old or the
    new file. Returns the new content's SHA-256. SetupError if the file is not TOML or holds a
    secret the line scan cannot take out (then the file is left as it was)."""
    try:
        text = _decode(path, path.read_bytes())
        document = tomllib.loads(text)
    except OSError as err:
        raise SetupError(path, [_(CANNOT_BE_READ).format(error=err.strerror)]) from None
    except tomllib.TOMLDecodeError as err:
        raise SetupError(path, [_(NOT_TOML).format(error=err)]) from None
    erased, problems = _erased(text, document, now.strftime("%Y-%m-%d %H:%M UTC"))
    if problems:
        raise SetupError(path, problems)
    data = erased.encode("utf-8")
    write_atomically(path, data, mode=None)
    return hashlib.sha256(data).hexdigest()


def _erased(text: str, document: Mapping[str, Any], stamp: str) -> tuple[str, list[str]]:
    """``text`` with each secret's line commented out, everything else byte for byte; and the
    secrets of ``document`` this cannot take out, one problem each."""
    section = ""
    kept: list[str] = []
    cleanly: set[str] = set()
    for line in text.splitlines():
        if line.startswith(_STAMP):
            continue  # the stamp of an earlier run
        if header := _HEADER.match(line):
            section = header[1]
        elif (assignment := _ASSIGNMENT.match(line)) and f"{section}.{assignment[1]}" in SECRETS:
            if assignment[1] in _toml_or_empty(line):  # the value ends on this line
                cleanly.add(f"{section}.{assignment[1]}")
            line = f"# {assignment[1]} = (erased after provisioning on {stamp})"
        kept.append(line)
    erased = "\n".join([f"{_STAMP} on {stamp}; secrets erased.", *kept]) + "\n"
    present = {name for name in SECRETS if _holds(document, name)}
    problems = [
        f"{name}: cannot be erased from this file once applied as written; put it on a line "
        f'of its own under [{name.split(".")[0]}], as {name.split(".")[1]} = "…" (not a '
        "multi-line string, an inline table, a dotted or a quoted key)"
        for name in sorted(present - cleanly)
    ]
    if not problems and _toml_or_empty(erased) != _without(document, present):
        problems = [
            "the secrets cannot be erased line by line: write each secret on its own "
            'key = "value" line under its [section] header, and no other line like it'
        ]
    return erased, problems


_STAMP = "# Applied by bitagora provision"


def _toml_or_empty(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _holds(document: Mapping[str, Any], setting: str) -> bool:
    section, key = setting.split(".")
    table = document.get(section)
    return isinstance(table, Mapping) and key in table


def _without(document: Mapping[str, Any], settings: set[str]) -> dict[str, Any]:
    left = {
        name: dict(table) if isinstance(table, Mapping) else table
        for name, table in document.items()
    }
    for setting in settings:
        section, key = setting.split(".")
        del left[section][key]
    return left


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_atomically(path: Path, data: bytes, mode: int | None) -> None:
    """Write a temporary file next to ``path``, flush it to disk, rename it over ``path``.
    ``mode`` None keeps the old file's (a FAT boot partition has none to keep). Root writes into
    folders another user owns (the state folder): the temporary file is made new, never opened
    through a link planted under its name, and its mode set through the descriptor."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.unlink(missing_ok=True)  # a leftover of a power cut, or a planted link (not followed)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(tmp, flags, 0o600 if mode is None else mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)  # whatever the umask
            elif path.exists():
                try:
                    os.fchmod(handle.fileno(), path.stat().st_mode & 0o777)
                except OSError:
                    pass  # FAT: permissions come from the mount options
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    except OSError:
        pass  # some file systems (FAT among them on older kernels) refuse fsync on a folder
    finally:
        os.close(directory)
