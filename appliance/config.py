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


PRINTER_KINDS = ("network", "usb", "serial", "file")
SERIAL_BAUDRATES = (2400, 4800, 9600, 19200, 38400, 57600, 115200)
SERIAL_FLOW = ("dsrdtr", "rtscts", "xonxoff", "none")


def parse_usb_id(key: str, value: str) -> int:
    """A USB id or endpoint written in hex ("04b8" or "0x04b8"); ConfigError names the key."""
    text = value.strip().lower().removeprefix("0x")
    try:
        number = int(text, 16)
    except ValueError:
        raise ConfigError(f"{key}: {value!r} is not a hex number (e.g. '04b8')") from None
    if not 0 <= number <= 0xFFFF:
        raise ConfigError(f"{key}: {value!r} is out of range (0000..ffff)")
    return number


@dataclass(frozen=True)
class PrinterSettings:
    """Which receipt printer, and how it is attached.

    ``kind`` picks the backend: ``network`` (raw TCP, ``host``/``port``), ``usb`` (python-escpos
    Usb through libusb, ``usb_vendor_id``/``usb_product_id`` in hex), ``serial`` (``serial_port``,
    ``serial_baudrate``, ``serial_flow``) or ``file`` (a device node such as ``/dev/usb/lp0``,
    ``file_path``; it cannot be asked for its status).
    """

    kind: str = "network"
    host: str = "127.0.0.1"
    port: int = 9100
    usb_vendor_id: str = ""
    usb_product_id: str = ""
    usb_in_ep: str = "0x82"
    usb_out_ep: str = "0x01"
    serial_port: str = ""
    serial_baudrate: int = 9600
    serial_flow: str = "dsrdtr"
    file_path: str = ""
    paper_mm: int = 80
    profile: str = ""
    timeout_s: int = 5
    retry_min_ms: int = 500
    retry_max_ms: int = 5000

    def check(self) -> None:
        if self.kind not in PRINTER_KINDS:
            raise ConfigError(
                f"printer.kind: {self.kind!r} is not supported (use {', '.join(PRINTER_KINDS)})"
            )
        if self.kind == "network":
            if not self.host.strip():
                raise ConfigError("printer.host: required when printer.kind is 'network'")
            if not 1 <= self.port <= 65535:
                raise ConfigError(f"printer.port: {self.port} is not a TCP port")
        elif self.kind == "usb":
            for key in ("usb_vendor_id", "usb_product_id"):
                if not getattr(self, key).strip():
                    raise ConfigError(
                        f"printer.{key}: required when printer.kind is 'usb' (hex, e.g. '04b8'; "
                        "`lsusb` shows vendor:product)"
                    )
            for key in ("usb_vendor_id", "usb_product_id", "usb_in_ep", "usb_out_ep"):
                parse_usb_id(f"printer.{key}", getattr(self, key))
        elif self.kind == "serial":
            if not self.serial_port.strip():
                raise ConfigError(
                    "printer.serial_port: required when printer.kind is 'serial' "
                    "(e.g. '/dev/ttyUSB0')"
                )
            if self.serial_baudrate not in SERIAL_BAUDRATES:
                raise ConfigError(
                    f"printer.serial_baudrate: {self.serial_baudrate} is not one of "
                    f"{', '.join(map(str, SERIAL_BAUDRATES))}"
                )
            if self.serial_flow not in SERIAL_FLOW:
                raise ConfigError(
                    f"printer.serial_flow: {self.serial_flow!r} is not one of "
                    f"{', '.join(SERIAL_FLOW)}"
                )
        elif not self.file_path.strip():
            raise ConfigError(
                "printer.file_path: required when printer.kind is 'file' (e.g. '/dev/usb/lp0')"
            )
        if self.paper_mm not in (58, 80):
            raise ConfigError(f"printer.paper_mm: must be 58 or 80, got {self.paper_mm}")
        if not 1 <= self.timeout_s <= 60:
            raise ConfigError(f"printer.timeout_s: must be 1..60, got {self.timeout_s}")
        if self.retry_min_ms < 10:
            raise ConfigError(f"printer.retry_min_ms: must be at least 10, got {self.retry_min_ms}")
        if self.retry_max_ms < self.retry_min_ms:
            raise ConfigError("printer.retry_max_ms: must be at least printer.retry_min_ms")

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


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    device: DeviceSettings = field(default_factory=DeviceSettings)
    printer: PrinterSettings = field(default_factory=PrinterSettings)
    drawer: DrawerSettings = field(default_factory=DrawerSettings)
    uplink: UplinkSettings = field(default_factory=UplinkSettings)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "appliance.sqlite3"


SECTIONS: dict[str, type] = {
    "device": DeviceSettings,
    "printer": PrinterSettings,
    "drawer": DrawerSettings,
    "uplink": UplinkSettings,
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
