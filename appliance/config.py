"""Settings: a TOML file plus ``BITAGORA_*`` environment overrides, validated at start.

Where the file comes from, first match wins: ``--config``, ``BITAGORA_CONFIG``,
``<data_dir>/appliance.toml``, ``/etc/bitagora/appliance.toml``; without any, the defaults below.
An environment variable ``BITAGORA_<SECTION>_<KEY>`` overrides ``[section] key`` (for example
``BITAGORA_PRINTER_PORT=9101``). ``BITAGORA_DATA_DIR`` (or ``--data-dir``) sets where all device
state lives. A wrong value stops the start with a message that names the key.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from appliance.core.money import CURRENCY_EXPONENTS

SYSTEM_CONFIG = Path("/etc/bitagora/appliance.toml")
DEFAULT_DATA_DIR = Path("/var/lib/bitagora")


class ConfigError(ValueError):
    """A settings value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DeviceSettings:
    merchant_name: str = "BitAgora Demo Shop"
    header_lines: tuple[str, ...] = ()
    footer_lines: tuple[str, ...] = ("Thank you!",)
    currency: str = "EUR"

    def check(self) -> None:
        if self.currency not in CURRENCY_EXPONENTS:
            raise ConfigError(f"device.currency: unsupported currency {self.currency!r}")


@dataclass(frozen=True)
class PrinterSettings:
    kind: str = "network"
    host: str = "127.0.0.1"
    port: int = 9100
    paper_mm: int = 80
    profile: str = ""
    timeout_s: int = 5

    def check(self) -> None:
        if self.kind != "network":
            raise ConfigError(f"printer.kind: {self.kind!r} is not supported (use 'network')")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"printer.port: {self.port} is not a TCP port")
        if self.paper_mm not in (58, 80):
            raise ConfigError(f"printer.paper_mm: must be 58 or 80, got {self.paper_mm}")

    @property
    def width_chars(self) -> int:
        return 48 if self.paper_mm == 80 else 32


@dataclass(frozen=True)
class DrawerSettings:
    kind: str = "printer"
    pin: int = 0
    on_ms: int = 100
    off_ms: int = 100

    def check(self) -> None:
        if self.kind not in ("printer", "none"):
            raise ConfigError(f"drawer.kind: {self.kind!r} is not supported (printer or none)")
        if self.pin not in (0, 1):
            raise ConfigError(f"drawer.pin: must be 0 or 1, got {self.pin}")
        for name in ("on_ms", "off_ms"):
            value = getattr(self, name)
            if not 2 <= value <= 510:
                raise ConfigError(f"drawer.{name}: must be 2..510 ms, got {value}")


@dataclass(frozen=True)
class UplinkSettings:
    central_url: str = "http://127.0.0.1:8600"
    batch_size: int = 200
    heartbeat_s: int = 30
    backoff_min_s: int = 1
    backoff_max_s: int = 60
    timeout_s: int = 10

    def check(self) -> None:
        if not self.central_url.startswith(("http://", "https://")):
            raise ConfigError(f"uplink.central_url: {self.central_url!r} is not an http(s) URL")
        if not 1 <= self.batch_size <= 500:
            raise ConfigError(f"uplink.batch_size: must be 1..500, got {self.batch_size}")
        if self.backoff_min_s < 0 or self.backoff_max_s < self.backoff_min_s:
            raise ConfigError("uplink.backoff_max_s: must be at least uplink.backoff_min_s")
        if self.heartbeat_s < 1:
            raise ConfigError(f"uplink.heartbeat_s: must be at least 1, got {self.heartbeat_s}")


PN532_BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1288000)


@dataclass(frozen=True)
class NfcSettings:
    kind: str = "none"
    port: str = "/dev/ttyS0"
    baudrate: int = 115200
    timeout_s: float = 1.0

    def check(self) -> None:
        if self.kind not in ("none", "pn532"):
            raise ConfigError(f"nfc.kind: {self.kind!r} is not supported (pn532 or none)")
        if self.kind == "pn532" and not self.port:
            raise ConfigError("nfc.port: a serial device is needed, e.g. /dev/ttyS0")
        if self.baudrate not in PN532_BAUDRATES:
            raise ConfigError(f"nfc.baudrate: the PN532 cannot talk at {self.baudrate} baud")
        if not 0.05 <= self.timeout_s <= 30:
            raise ConfigError(f"nfc.timeout_s: must be 0.05..30 s, got {self.timeout_s}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    device: DeviceSettings = field(default_factory=DeviceSettings)
    printer: PrinterSettings = field(default_factory=PrinterSettings)
    drawer: DrawerSettings = field(default_factory=DrawerSettings)
    uplink: UplinkSettings = field(default_factory=UplinkSettings)
    nfc: NfcSettings = field(default_factory=NfcSettings)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "appliance.sqlite3"


SECTIONS: dict[str, type] = {
    "device": DeviceSettings,
    "printer": PrinterSettings,
    "drawer": DrawerSettings,
    "uplink": UplinkSettings,
    "nfc": NfcSettings,
}


def _coerce(key: str, kind: Any, value: Any, from_env: bool) -> Any:
    """Turn a TOML or environment value into the field's type, or name the key in an error."""
    if kind is int:
        if from_env:
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if kind is float:
        if from_env:
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    if kind == tuple[str, ...]:
        if from_env:
            return tuple(part for part in value.split("|") if part)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{key}: expected a list of strings")
        return tuple(value)
    raise ConfigError(f"{key}: unsupported setting type")  # pragma: no cover - programming error


def _section(name: str, cls: type, table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known
    if unknown:
        raise ConfigError(f"{name}.{sorted(unknown)[0]}: unknown setting")
    values: dict[str, Any] = {}
    for key in known:
        env_name = f"BITAGORA_{name}_{key}".upper()
        if env_name in env:
            values[key] = _coerce(f"{name}.{key} ({env_name})", hints[key], env[env_name], True)
        elif key in table:
            values[key] = _coerce(f"{name}.{key}", hints[key], table[key], False)
    section = cls(**values)
    section.check()
    return section


def config_path(explicit: Path | None, data_dir: Path, env: Mapping[str, str]) -> Path | None:
    for candidate in (explicit, Path(env["BITAGORA_CONFIG"]) if "BITAGORA_CONFIG" in env else None):
        if candidate is not None:
            if not candidate.is_file():
                raise ConfigError(f"config file {candidate} does not exist")
            return candidate
    for candidate in (data_dir / "appliance.toml", SYSTEM_CONFIG):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    data_dir: Path | None = None, config: Path | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    env = os.environ if env is None else env
    resolved_dir = data_dir or Path(env.get("BITAGORA_DATA_DIR", DEFAULT_DATA_DIR))
    path = config_path(config, resolved_dir, env)
    document: dict[str, Any] = {}
    if path is not None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from None
    unknown = set(document) - set(SECTIONS)
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown section in {path}")
    sections = {
        name: _section(name, cls, document.get(name, {}), env) for name, cls in SECTIONS.items()
    }
    return Settings(data_dir=resolved_dir.resolve(), **sections)
