"""Settings: a TOML file plus ``BITAGORA_*`` environment overrides, validated at start.

Where the file comes from, first match wins: ``--config``, ``BITAGORA_CONFIG``,
``<data_dir>/appliance.toml``, ``/etc/bitagora/appliance.toml``; without any, the defaults below.
An environment variable ``BITAGORA_<SECTION>_<KEY>`` overrides ``[section] key`` (for example
``BITAGORA_PRINTER_PORT=9101``). ``BITAGORA_DATA_DIR`` (or ``--data-dir``) sets where all device
state lives. A wrong value stops the start with a message that names the key.

A secret setting (``CREDENTIAL_SETTINGS``: the Lightning rune, the bitcoind password, the Stripe
API key, the Mercado Pago access token, the TronGrid API key) may also come as
a systemd credential named like the setting
(``LoadCredential=lightning.rune:/etc/bitagora/credentials/lightning.rune`` in the unit): a
non-empty ``$CREDENTIALS_DIRECTORY/lightning.rune`` wins over the file, the environment variable
over both. A blank credential counts as none, so a unit can give ``SetCredential=ID:\\n`` as the
fallback that keeps a missing credential file from stopping the start.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from babel import Locale, UnknownLocaleError

from appliance.core.report import DENOMINATIONS
from appliance.i18n import LANGUAGES, money_locale
from bitagora_protocol.config_document import MAX_CASH_ROUNDING

SYSTEM_CONFIG = Path("/etc/bitagora/appliance.toml")
CREDENTIAL_SETTINGS = frozenset(
    {
        "lightning.rune",
        "onchain.bitcoind_password",
        "card.api_key",
        "mercadopago.access_token",
        "tron.api_key",
    }
)
DEFAULT_DATA_DIR = Path("/var/lib/bitagora")


class ConfigError(ValueError):
    """A settings value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class DeviceSettings:
    merchant_name: str = "BitAgora Demo Shop"
    header_lines: tuple[str, ...] = ()
    footer_lines: tuple[str, ...] = ("Thank you!",)
    currency: str = "EUR"
    # The shop's language: the screens' (until a staff member with their own logs in) and
    # always the receipts' and reports' (appliance/i18n.py).
    language: str = "en"
    # The locale that writes amounts and numbers, e.g. "es_EC"; blank: from the language and
    # the currency (i18n.money_locale: es + MXN → es_MX).
    locale: str = ""
    # Cash rounding: the cash amount due is rounded to this many minor units (5: to 0.05) where
    # the smallest coins are not used; 1: none (core/tender.py). Central's shop settings win.
    cash_rounding: int = 1

    @property
    def money_locale(self) -> str:
        return money_locale(self.language, self.currency, self.locale)

    def check(self) -> None:
        if self.language not in LANGUAGES:
            raise ConfigError(
                f"device.language: {self.language!r} is not one of {', '.join(LANGUAGES)}"
                f"{did_you_mean(self.language, LANGUAGES)}"
            )
        if self.locale:
            try:
                Locale.parse(self.locale)
            except (ValueError, UnknownLocaleError):
                raise ConfigError(f"device.locale: unknown locale {self.locale!r}") from None
        if not 1 <= self.cash_rounding <= MAX_CASH_ROUNDING:
            raise ConfigError(
                f"device.cash_rounding: {self.cash_rounding} must be 1..{MAX_CASH_ROUNDING}"
                " minor units (5: cash rounded to 0.05; 1: no rounding)"
            )
        # A till counts its drawer at the Z, so its currency is one whose notes and coins it knows.
        if self.currency not in DENOMINATIONS:
            raise ConfigError(
                f"device.currency: unsupported currency {self.currency!r}"
                f" (one of {', '.join(sorted(DENOMINATIONS))})"
            )


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


DRAWER_KINDS = ("printer", "gpio", "none")
# gpiozero's pin factories by entry-point name; "" lets gpiozero choose (GPIOZERO_PIN_FACTORY, or
# lgpio, rpigpio, pigpio, native in that order). "mock" is gpiozero's own MockFactory.
GPIO_PIN_FACTORIES = ("", "lgpio", "rpigpio", "pigpio", "native", "mock")


@dataclass(frozen=True)
class DrawerSettings:
    """``kind = "printer"``: ESC p through the printer's drawer-kick port (``pin`` 0/1 is the
    port's pin 2 or 5). ``kind = "gpio"``: a pulse on ``gpio_pin`` through a transistor or relay
    driver, optionally an open sensor on ``sensor_pin``. ``on_ms`` is how long the solenoid is
    energised with either kind. See docs/TECHNICIAN.md for the wiring."""

    kind: str = "printer"
    pin: int = 0
    on_ms: int = 100
    off_ms: int = 100
    gpio_pin: str = "GPIO17"  # a gpiozero pin name: "GPIO17", "BOARD11", "17"
    active_level: str = "high"  # the level that energises the solenoid driver
    sensor_pin: str = ""  # "" = no open sensor
    sensor_pull: str = "up"  # up | down | none (none: an external resistor)
    sensor_open_level: str = "low"  # the sensor pin's level while the drawer is open
    pin_factory: str = ""  # one of GPIO_PIN_FACTORIES
    open_warn_s: int = 30  # warn when the drawer stays open longer; 0 = never

    def check(self) -> None:
        if self.kind not in DRAWER_KINDS:
            raise ConfigError(
                f"drawer.kind: {self.kind!r} is not supported (printer, gpio or none)"
            )
        if self.pin not in (0, 1):
            raise ConfigError(f"drawer.pin: must be 0 or 1, got {self.pin}")
        for name in ("on_ms", "off_ms"):
            value = getattr(self, name)
            if not 2 <= value <= 510:
                raise ConfigError(f"drawer.{name}: must be 2..510 ms, got {value}")
        if self.kind == "gpio" and not self.gpio_pin.strip():
            raise ConfigError("drawer.gpio_pin: a GPIO drawer needs its output pin")
        for name, allowed in (
            ("active_level", ("high", "low")),
            ("sensor_pull", ("up", "down", "none")),
            ("sensor_open_level", ("high", "low")),
            ("pin_factory", GPIO_PIN_FACTORIES),
        ):
            value = getattr(self, name)
            if value not in allowed:
                choices = ", ".join(repr(a) for a in allowed)
                raise ConfigError(f"drawer.{name}: {value!r} is not one of {choices}")
        if self.sensor_pin and self.sensor_pin == self.gpio_pin:
            raise ConfigError("drawer.sensor_pin: must not be the output pin drawer.gpio_pin")
        if self.open_warn_s < 0:
            raise ConfigError(f"drawer.open_warn_s: must be 0 or more, got {self.open_warn_s}")


# The rates barcode scanners offer; 9600 is the factory default of nearly all of them.
SCANNER_BAUDRATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)


@dataclass(frozen=True)
class ScannerSettings:
    """``wedge``: the scanner types like a keyboard (the sell screen reads it); ``serial``: the
    kiosk reads ``port`` itself (a udev rule names it /dev/bitagora/scanner)."""

    kind: str = "wedge"
    port: str = "/dev/bitagora/scanner"
    baudrate: int = 9600

    def check(self) -> None:
        if self.kind not in ("wedge", "serial"):
            raise ConfigError(f"scanner.kind: {self.kind!r} is not supported (wedge or serial)")
        if self.kind == "serial" and not self.port.startswith("/"):
            raise ConfigError(
                f"scanner.port: must be a device path such as /dev/bitagora/scanner, "
                f"got {self.port!r}"
            )
        if self.baudrate not in SCANNER_BAUDRATES:
            rates = ", ".join(str(r) for r in SCANNER_BAUDRATES)
            raise ConfigError(f"scanner.baudrate: must be one of {rates}, got {self.baudrate}")


@dataclass(frozen=True)
class UplinkSettings:
    central_url: str = "http://127.0.0.1:8600"
    batch_size: int = 200
    # Batches sent before the first is answered: central checks one while it stores the one
    # ahead (docs/PERFORMANCE.md, "Uplink drain"); 1 waits for each answer.
    in_flight: int = 2
    heartbeat_s: int = 30
    # How often the configuration document is asked for (a 304 when unchanged): a change on
    # central reaches an online till within this many seconds.
    config_s: int = 30
    # How often remote actions are asked for besides when a heartbeat's answer says some wait
    # (docs/PROTOCOL.md 2.7): the fallback that picks up an action a lost answer left behind.
    actions_s: int = 300
    backoff_min_s: int = 1
    backoff_max_s: int = 60
    # After a permanent refusal (a 4xx that retrying the same batch cannot change): the batch is
    # kept and tried again this seldom, and the heartbeat reports the refusal meanwhile.
    refused_retry_s: int = 900
    timeout_s: int = 10
    # How often central is asked for an update offer (and the last update's outcome reported).
    update_s: int = 300

    def check(self) -> None:
        if not self.central_url.startswith(("http://", "https://")):
            raise ConfigError(f"uplink.central_url: {self.central_url!r} is not an http(s) URL")
        if not 1 <= self.batch_size <= 500:
            raise ConfigError(f"uplink.batch_size: must be 1..500, got {self.batch_size}")
        if not 1 <= self.in_flight <= 4:
            raise ConfigError(f"uplink.in_flight: must be 1..4, got {self.in_flight}")
        if self.backoff_min_s < 0 or self.backoff_max_s < self.backoff_min_s:
            raise ConfigError("uplink.backoff_max_s: must be at least uplink.backoff_min_s")
        if self.heartbeat_s < 1:
            raise ConfigError(f"uplink.heartbeat_s: must be at least 1, got {self.heartbeat_s}")
        if not 1 <= self.config_s <= 3600:
            raise ConfigError(f"uplink.config_s: must be 1..3600, got {self.config_s}")
        if not 1 <= self.actions_s <= 3600:
            raise ConfigError(f"uplink.actions_s: must be 1..3600, got {self.actions_s}")
        if not 1 <= self.update_s <= 86400:
            raise ConfigError(f"uplink.update_s: must be 1..86400, got {self.update_s}")
        if self.refused_retry_s < 1:
            raise ConfigError(
                f"uplink.refused_retry_s: must be at least 1, got {self.refused_retry_s}"
            )


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


RATE_SOURCES = ("coingecko", "kraken", "bitstamp", "coinbase")


@dataclass(frozen=True)
class RatesSettings:
    """Where the fiat ↔ BTC rate comes from (see docs/ARCHITECTURE.md, "Exchange rates").

    ``sources`` are asked at once for ``device.currency``; each answer is a quote, quotes more than
    ``outlier_pct`` percent from their median are dropped, and the rate is the median of the rest
    if at least ``min_sources`` remain. A rate is reused without asking again for ``refresh_s``
    and never used once older than ``max_age_s``. ``base_urls`` overrides a source's address,
    one ``"name=url"`` each (a proxy, or a local server in tests)."""

    sources: tuple[str, ...] = ("kraken", "bitstamp", "coinbase", "coingecko")
    min_sources: int = 2
    outlier_pct: int = 2
    refresh_s: int = 60
    max_age_s: int = 300
    timeout_s: int = 5
    base_urls: tuple[str, ...] = ()

    def check(self) -> None:
        if not self.sources:
            raise ConfigError("rates.sources: name at least one source")
        for source in self.sources:
            if source not in RATE_SOURCES:
                raise ConfigError(
                    f"rates.sources: {source!r} is not one of {', '.join(RATE_SOURCES)}"
                )
        if len(set(self.sources)) != len(self.sources):
            raise ConfigError("rates.sources: a source is named twice")
        if not 1 <= self.min_sources <= len(self.sources):
            raise ConfigError(
                f"rates.min_sources: must be 1..{len(self.sources)} (the number of "
                f"rates.sources), got {self.min_sources}"
            )
        if not 1 <= self.outlier_pct <= 50:
            raise ConfigError(f"rates.outlier_pct: must be 1..50, got {self.outlier_pct}")
        if not 1 <= self.timeout_s <= 60:
            raise ConfigError(f"rates.timeout_s: must be 1..60, got {self.timeout_s}")
        if not 10 <= self.max_age_s <= 3600:
            raise ConfigError(f"rates.max_age_s: must be 10..3600 s, got {self.max_age_s}")
        if not 0 <= self.refresh_s <= self.max_age_s:
            raise ConfigError("rates.refresh_s: must be 0..rates.max_age_s")
        self.urls()

    def urls(self) -> dict[str, str]:
        """``base_urls`` as a mapping; ConfigError names the key on a malformed entry."""
        urls: dict[str, str] = {}
        for entry in self.base_urls:
            name, sep, url = entry.partition("=")
            name, url = name.strip(), url.strip()
            if not sep or name not in RATE_SOURCES:
                raise ConfigError(
                    f"rates.base_urls: {entry!r} is not 'name=url' with a name from "
                    f"{', '.join(RATE_SOURCES)}"
                )
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"rates.base_urls: {url!r} is not an http(s) URL")
            urls[name] = url.rstrip("/")
        return urls


LIGHTNING_KINDS = ("none", "socket", "clnrest")
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


@dataclass(frozen=True)
class LightningSettings:
    """Which Core Lightning node takes the till's Lightning payments, and how to reach it.

    ``socket``: lightningd's JSON-RPC unix socket at ``socket_path`` (a node on this machine).
    ``clnrest``: the clnrest plugin at ``url`` (https), authorised by ``rune`` (restricted to the
    invoice methods, see docs/TECHNICIAN.md), the server's certificate checked against
    ``ca_cert``. The rune is a secret: it is never logged and left out of ``repr``."""

    kind: str = "none"
    socket_path: str = ""
    url: str = ""
    rune: str = field(default="", repr=False)
    ca_cert: str = ""
    timeout_s: float = 10.0
    wait_chunk_s: int = 5  # one waitanyinvoice call's timeout: how quickly a wait can be cancelled
    expiry_s: int = 600  # how long a sale's invoice can be paid

    def check(self) -> None:
        if self.kind not in LIGHTNING_KINDS:
            raise ConfigError(
                f"lightning.kind: {self.kind!r} is not supported (none, socket or clnrest)"
            )
        if self.kind == "socket" and not self.socket_path.startswith("/"):
            raise ConfigError(
                "lightning.socket_path: the absolute path of lightningd's lightning-rpc socket "
                "is needed (e.g. /var/lib/lightningd/bitcoin/lightning-rpc)"
            )
        if self.kind == "clnrest":
            if self.url.startswith("http://"):
                host = self.url.removeprefix("http://").split("/")[0].rsplit(":", 1)[0]
                if host not in _LOOPBACK_HOSTS:
                    raise ConfigError(
                        "lightning.url: plain http would show the rune to the network; "
                        "use https (http is only allowed to this machine)"
                    )
            elif not self.url.startswith("https://"):
                raise ConfigError(f"lightning.url: {self.url!r} is not an https URL")
            if not self.rune.strip():
                raise ConfigError(
                    "lightning.rune: clnrest needs a rune (lightning-cli createrune, restricted "
                    "to the invoice methods)"
                )
            if self.ca_cert and not Path(self.ca_cert).is_file():
                raise ConfigError(f"lightning.ca_cert: {self.ca_cert} does not exist")
        if not 0.5 <= self.timeout_s <= 120:
            raise ConfigError(f"lightning.timeout_s: must be 0.5..120 s, got {self.timeout_s}")
        if not 1 <= self.wait_chunk_s <= 60:
            raise ConfigError(f"lightning.wait_chunk_s: must be 1..60 s, got {self.wait_chunk_s}")
        if not 60 <= self.expiry_s <= 86400:
            raise ConfigError(f"lightning.expiry_s: must be 60..86400 s, got {self.expiry_s}")


CARD_KINDS = ("none", "stripe_terminal")
CARD_CAPTURE = ("automatic", "manual")


def _is_loopback_http(url: str) -> bool:
    host = url.removeprefix("http://").split("/")[0].rsplit(":", 1)[0]
    return url.startswith("http://") and host in _LOOPBACK_HOSTS


@dataclass(frozen=True)
class CardSettings:
    """Card payments on a Stripe Terminal smart reader, server-driven (see docs/ARCHITECTURE.md,
    "Card (Stripe Terminal)").

    ``api_key``: a Stripe secret key or, better, a restricted key (``rk_…``) allowed to write
    PaymentIntents and Terminal readers; a secret, never logged and left out of ``repr`` (it may
    come from the systemd credential ``card.api_key``). ``reader_id``: the reader (``tmr_…``)
    at this till. ``api_base``: Stripe's API (https; http only to this machine, for the
    simulator). ``capture``: ``automatic`` (the reader's approval is the charge) or ``manual``
    (an authorisation the till captures). ``timeout_s``: one HTTP request; ``retries``: how often
    a request that got no answer is sent again, with the same idempotency key; ``poll_s``: how
    often the reader is asked while the customer pays; ``wait_s``: how long the till waits for
    a card before it cancels the payment on the reader."""

    kind: str = "none"
    api_key: str = field(default="", repr=False)
    reader_id: str = ""
    api_base: str = "https://api.stripe.com"
    capture: str = "automatic"
    timeout_s: float = 15.0
    retries: int = 3
    poll_s: float = 1.0
    wait_s: int = 120

    def check(self) -> None:
        if self.kind not in CARD_KINDS:
            raise ConfigError(
                f"card.kind: {self.kind!r} is not supported (none or stripe_terminal)"
            )
        if self.capture not in CARD_CAPTURE:
            raise ConfigError(f"card.capture: {self.capture!r} is not automatic or manual")
        if self.api_base.startswith("http://") and not _is_loopback_http(self.api_base):
            raise ConfigError(
                "card.api_base: plain http would show the API key to the network; use https "
                "(http is only allowed to this machine)"
            )
        if not self.api_base.startswith(("http://", "https://")):
            raise ConfigError(f"card.api_base: {self.api_base!r} is not an https URL")
        if not 1 <= self.timeout_s <= 120:
            raise ConfigError(f"card.timeout_s: must be 1..120 s, got {self.timeout_s}")
        if not 0 <= self.retries <= 10:
            raise ConfigError(f"card.retries: must be 0..10, got {self.retries}")
        if not 0.01 <= self.poll_s <= 10:
            raise ConfigError(f"card.poll_s: must be 0.01..10 s, got {self.poll_s}")
        if not 10 <= self.wait_s <= 600:
            raise ConfigError(f"card.wait_s: must be 10..600 s, got {self.wait_s}")
        if self.kind != "stripe_terminal":
            return
        # The key's value is never part of a message: only its kind is named.
        key = self.api_key.strip()
        if not key:
            raise ConfigError(
                "card.api_key: Stripe Terminal needs an API key (a restricted key rk_… is best; "
                "from the file, BITAGORA_CARD_API_KEY or the card.api_key credential)"
            )
        if key.startswith("pk_"):
            raise ConfigError(
                "card.api_key: that is a publishable key (pk_…), which cannot take payments; "
                "use a secret (sk_…) or restricted (rk_…) key"
            )
        if not key.startswith(("sk_", "rk_")):
            raise ConfigError("card.api_key: not a Stripe secret (sk_…) or restricted (rk_…) key")
        if not self.reader_id.startswith("tmr_"):
            raise ConfigError(
                "card.reader_id: the reader's id is needed (tmr_…, in the Dashboard under "
                "Terminal → Readers)"
            )

    @property
    def enabled(self) -> bool:
        return self.kind == "stripe_terminal"


@dataclass(frozen=True)
class MercadoPagoSettings:
    """Mercado Pago payments through its Orders API (see docs/ARCHITECTURE.md, "Mercado Pago"):
    a card on the shop's Point device, and an in-store dynamic QR code (Pix in Brazil).

    ``access_token``: the account's production access token (``APP_USR-…``; ``TEST-…`` for a
    test account); a secret, never logged and left out of ``repr`` (it may come from the systemd
    credential ``mercadopago.access_token``). ``point_terminal_id``: the Point device
    (``NEWLAND_N950__N950NCB…``, as ``GET /point/integration-api/devices`` lists it; "" = no
    Point). ``qr_external_pos_id``: the ``external_id`` of the store's POS (caja) that the QR
    orders go to ("" = no QR). ``api_base``: Mercado Pago's API (https; http only to this
    machine, for the simulator). ``timeout_s``: one HTTP request; ``retries``: how often a
    request that got no answer is sent again, with the same idempotency key; ``poll_s``: how
    often the order is looked at while the customer pays; ``point_wait_s``: how long a Point
    order waits for a card; ``qr_wait_s``: how long a QR code stays payable (the order's
    ``expiration_time``)."""

    access_token: str = field(default="", repr=False)
    point_terminal_id: str = ""
    qr_external_pos_id: str = ""
    api_base: str = "https://api.mercadopago.com"
    timeout_s: float = 15.0
    retries: int = 3
    poll_s: float = 1.0
    point_wait_s: int = 120
    qr_wait_s: int = 300

    def check(self) -> None:
        if self.api_base.startswith("http://") and not _is_loopback_http(self.api_base):
            raise ConfigError(
                "mercadopago.api_base: plain http would show the access token to the network; "
                "use https (http is only allowed to this machine)"
            )
        if not self.api_base.startswith(("http://", "https://")):
            raise ConfigError(f"mercadopago.api_base: {self.api_base!r} is not an https URL")
        if not 1 <= self.timeout_s <= 120:
            raise ConfigError(f"mercadopago.timeout_s: must be 1..120 s, got {self.timeout_s}")
        if not 0 <= self.retries <= 10:
            raise ConfigError(f"mercadopago.retries: must be 0..10, got {self.retries}")
        if not 0.01 <= self.poll_s <= 10:
            raise ConfigError(f"mercadopago.poll_s: must be 0.01..10 s, got {self.poll_s}")
        if not 10 <= self.point_wait_s <= 600:
            raise ConfigError(
                f"mercadopago.point_wait_s: must be 10..600 s, got {self.point_wait_s}"
            )
        # Mercado Pago accepts a QR order's expiration from 30 seconds to 3 hours.
        if not 30 <= self.qr_wait_s <= 10800:
            raise ConfigError(f"mercadopago.qr_wait_s: must be 30..10800 s, got {self.qr_wait_s}")
        if not self.enabled:
            return
        # The token's value is never part of a message: only its kind is named.
        token = self.access_token.strip()
        if not token:
            raise ConfigError(
                "mercadopago.access_token: Mercado Pago needs the account's access token (from "
                "the file, BITAGORA_MERCADOPAGO_ACCESS_TOKEN or the mercadopago.access_token "
                "credential)"
            )
        if not token.startswith(("APP_USR-", "TEST-")):
            raise ConfigError(
                "mercadopago.access_token: not a Mercado Pago access token (APP_USR-… or TEST-…;"
                " the public key cannot take payments)"
            )

    @property
    def point(self) -> bool:
        return bool(self.point_terminal_id.strip())

    @property
    def qr(self) -> bool:
        return bool(self.qr_external_pos_id.strip())

    @property
    def enabled(self) -> bool:
        return self.point or self.qr


TOUCH_EVENT_SIZES = (0, 16, 24)


@dataclass(frozen=True)
class TouchSettings:
    """The touchscreen the kiosk reads itself (docs/ARCHITECTURE.md, "Touchscreen"), and screen
    blanking.

    ``device``: its evdev node ("" = no touchscreen; a udev rule names it /dev/bitagora/touch).
    ``min_x``..``max_y``: the raw values the panel reports at its edges (``bitagora doctor`` shows
    the ranges the device announces); ``swap_xy`` exchanges the axes (a panel mounted a quarter
    turn from its display), then ``invert_x``/``invert_y`` mirror the screen's axes.
    ``slop_pct``: how far (in percent of an axis) a finger may move and still tap, rather than
    drag. ``event_size``: bytes per input event, 24 on 64-bit Linux, 16 on 32-bit (0: this
    process's own word size, which is what the kernel hands it). ``blank_after_s``: the screen
    goes dark after this long with no touch or key (0 = never); ``backlight``: the panel's
    /sys/class/backlight/*/bl_power or brightness file ("" = blank the app's own screen)."""

    device: str = ""
    min_x: int = 0
    max_x: int = 4095
    min_y: int = 0
    max_y: int = 4095
    swap_xy: bool = False
    invert_x: bool = False
    invert_y: bool = False
    slop_pct: float = 3.0
    event_size: int = 0
    blank_after_s: float = 0.0
    backlight: str = ""

    def check(self) -> None:
        if self.device and not self.device.startswith("/"):
            raise ConfigError(
                f"touch.device: must be a device path such as /dev/bitagora/touch, "
                f"got {self.device!r}"
            )
        for axis in ("x", "y"):
            low, high = getattr(self, f"min_{axis}"), getattr(self, f"max_{axis}")
            if high <= low:
                raise ConfigError(
                    f"touch.max_{axis}: must be more than touch.min_{axis} ({low}), got {high}"
                )
        if not 0 <= self.slop_pct <= 50:
            raise ConfigError(f"touch.slop_pct: must be 0..50 percent, got {self.slop_pct}")
        if self.event_size not in TOUCH_EVENT_SIZES:
            raise ConfigError(
                f"touch.event_size: must be 24 (64-bit), 16 (32-bit) or 0 (this machine's), "
                f"got {self.event_size}"
            )
        if self.blank_after_s != 0 and not 1 <= self.blank_after_s <= 86400:
            raise ConfigError(
                f"touch.blank_after_s: must be 0 (never) or 1..86400 s, got {self.blank_after_s}"
            )
        name = Path(self.backlight).name
        if self.backlight and name not in ("bl_power", "brightness"):
            raise ConfigError(
                "touch.backlight: must be a backlight's bl_power or brightness file, e.g. "
                f"/sys/class/backlight/10-0045/bl_power, got {self.backlight!r}"
            )


ONCHAIN_NETWORKS = ("mainnet", "testnet", "signet", "regtest")
CHAIN_SOURCES = ("esplora", "bitcoind")
_WALLET_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class OnchainSettings:
    """On-chain bitcoin payments (see docs/ARCHITECTURE.md, "Bitcoin checkout").

    ``wallet``: the merchant's watch-only output descriptor, or a zpub/ypub ("" = no on-chain
    payments); a private key or seed here stops the start. ``source`` says what tells the till
    what arrived: ``esplora``, the Esplora API at ``esplora_url`` (mempool.space,
    blockstream.info, or the merchant's own electrs/mempool), or ``bitcoind``, a Bitcoin Core
    node's JSON-RPC at ``bitcoind_url`` (http only to this machine: it carries the login), whose
    watch-only wallet ``bitcoind_wallet`` the till creates and fills with the descriptor. Its login
    is the node's ``bitcoind_cookie`` file, or ``bitcoind_user`` and ``bitcoind_password`` (a
    secret: never logged, left out of ``repr``, best given as a systemd credential).
    Settlement: below ``zero_conf_max_sats`` an unconfirmed payment that does not signal RBF is
    accepted at once; from there ``tiers`` say how many confirmations an amount needs, one
    ``"min_sats:confirmations"`` each, the first starting at 0. An address can be paid for
    ``expiry_s``; money arriving up to ``late_watch_h`` hours after that is flagged as late.
    The chain is asked every ``poll_s`` seconds while a payment is open."""

    wallet: str = field(default="", repr=False)
    network: str = "mainnet"
    esplora_url: str = "https://mempool.space/api"
    source: str = "esplora"
    bitcoind_url: str = "http://127.0.0.1:8332"
    bitcoind_wallet: str = "bitagora"
    bitcoind_cookie: str = ""
    bitcoind_user: str = ""
    bitcoind_password: str = field(default="", repr=False)
    zero_conf_max_sats: int = 0
    tiers: tuple[str, ...] = ("0:1", "1000000:2", "10000000:6")
    expiry_s: int = 900
    poll_s: float = 10.0
    late_watch_h: int = 24

    def check(self) -> None:
        if self.network not in ONCHAIN_NETWORKS:
            raise ConfigError(
                f"onchain.network: {self.network!r} is not one of {', '.join(ONCHAIN_NETWORKS)}"
            )
        if not self.esplora_url.startswith(("http://", "https://")):
            raise ConfigError(f"onchain.esplora_url: {self.esplora_url!r} is not an http(s) URL")
        if self.source not in CHAIN_SOURCES:
            raise ConfigError(
                f"onchain.source: {self.source!r} is not one of {', '.join(CHAIN_SOURCES)}"
            )
        if self.source == "bitcoind":
            self._check_bitcoind()
        if not 0 <= self.zero_conf_max_sats <= 10_000_000:
            raise ConfigError("onchain.zero_conf_max_sats: must be 0..10000000 sats")
        if not 60 <= self.expiry_s <= 86400:
            raise ConfigError(f"onchain.expiry_s: must be 60..86400 s, got {self.expiry_s}")
        if not 0.05 <= self.poll_s <= 600:
            raise ConfigError(f"onchain.poll_s: must be 0.05..600 s, got {self.poll_s}")
        if not 0 <= self.late_watch_h <= 24 * 30:
            raise ConfigError("onchain.late_watch_h: must be 0..720 hours")
        self.policy()
        if self.wallet.strip():
            self.watch_only()

    def _check_bitcoind(self) -> None:
        url = self.bitcoind_url
        if "@" in url.partition("://")[2].split("/")[0]:
            raise ConfigError(
                "onchain.bitcoind_url: no login in the URL; use onchain.bitcoind_user and "
                "onchain.bitcoind_password, or onchain.bitcoind_cookie"
            )
        if url.startswith("http://"):
            host = url.removeprefix("http://").split("/")[0].rsplit(":", 1)[0]
            if host not in _LOOPBACK_HOSTS:
                raise ConfigError(
                    "onchain.bitcoind_url: plain http would show the node's login to the "
                    "network; use https, or a tunnel to 127.0.0.1 (http only to this machine)"
                )
        elif not url.startswith("https://"):
            raise ConfigError(f"onchain.bitcoind_url: {url!r} is not an http(s) URL")
        if not _WALLET_NAME.match(self.bitcoind_wallet):
            raise ConfigError(
                f"onchain.bitcoind_wallet: {self.bitcoind_wallet!r} is not a wallet name "
                "(1-64 letters, digits, '.', '_' or '-')"
            )
        if self.bitcoind_cookie:
            if not self.bitcoind_cookie.startswith("/"):
                raise ConfigError(
                    "onchain.bitcoind_cookie: the absolute path of bitcoind's .cookie file is "
                    "needed (e.g. /var/lib/bitcoind/.cookie)"
                )
            if self.bitcoind_user or self.bitcoind_password:
                raise ConfigError(
                    "onchain.bitcoind_cookie: give the cookie file or bitcoind_user and "
                    "bitcoind_password, not both"
                )
        elif not (self.bitcoind_user and self.bitcoind_password):
            raise ConfigError(
                "onchain.bitcoind_password: source 'bitcoind' needs bitcoind_user and "
                "bitcoind_password (an rpcauth login on the node) or bitcoind_cookie"
            )

    @property
    def enabled(self) -> bool:
        return bool(self.wallet.strip())

    def watch_only(self) -> Any:
        """The parsed wallet (a ``WatchOnlyWallet``); ConfigError says why it cannot be used."""
        from appliance.wallet.descriptors import DescriptorError, parse_wallet

        try:
            return parse_wallet(self.wallet.strip(), self.network)
        except DescriptorError as err:
            raise ConfigError(f"onchain.wallet: {err}") from None

    def policy(self) -> Any:
        """The settlement ``Policy`` (appliance.core.settlement) these settings describe."""
        from appliance.core.settlement import Policy, Tier

        tiers = []
        for entry in self.tiers:
            low, sep, confs = entry.partition(":")
            if not (sep and low.strip().isdigit() and confs.strip().isdigit()):
                raise ConfigError(
                    f"onchain.tiers: {entry!r} is not 'min_sats:confirmations' (e.g. '0:1')"
                )
            tiers.append(Tier(int(low), int(confs)))
        try:
            return Policy(self.zero_conf_max_sats, tuple(tiers))
        except ValueError as err:
            raise ConfigError(f"onchain.tiers: {err}") from None


@dataclass(frozen=True)
class TronSettings:
    """USDT-TRC20 payments on TRON (see docs/ARCHITECTURE.md, "USDT on TRON").

    ``xpub``: the merchant's TRON account public key (BIP44 ``m/44'/195'/account'``; "" = no
    USDT payments); the till derives receive addresses ``0/i`` from it and never holds a private
    key or seed (one here stops the start). TronGrid at ``trongrid_url`` says what arrived, asked
    with ``api_key`` (a secret: never logged, left out of ``repr``, best given as the systemd
    credential ``tron.api_key``). ``contract``: the USDT token contract (mainnet's by default;
    Shasta or Nile for tests). ``gap_limit``: addresses in a row that may stay unpaid. An address
    can be paid for ``expiry_s``; money arriving up to ``late_watch_h`` hours after that is flagged
    as late. TronGrid is asked every ``poll_s`` seconds while a payment is open."""

    xpub: str = field(default="", repr=False)
    trongrid_url: str = "https://api.trongrid.io"
    api_key: str = field(default="", repr=False)
    contract: str = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
    gap_limit: int = 20
    expiry_s: int = 900
    poll_s: float = 5.0
    late_watch_h: int = 24

    def check(self) -> None:
        if not self.trongrid_url.startswith(("http://", "https://")):
            raise ConfigError(f"tron.trongrid_url: {self.trongrid_url!r} is not an http(s) URL")
        if not 1 <= self.gap_limit <= 1000:
            raise ConfigError(f"tron.gap_limit: must be 1..1000, got {self.gap_limit}")
        if not 60 <= self.expiry_s <= 86400:
            raise ConfigError(f"tron.expiry_s: must be 60..86400 s, got {self.expiry_s}")
        if not 0.05 <= self.poll_s <= 600:
            raise ConfigError(f"tron.poll_s: must be 0.05..600 s, got {self.poll_s}")
        if not 0 <= self.late_watch_h <= 24 * 30:
            raise ConfigError("tron.late_watch_h: must be 0..720 hours")
        if self.enabled:  # the wallet modules (embit) load only on a till that takes USDT
            from appliance.wallet.tron import TronAddressError, check_address

            try:
                check_address(self.contract)
            except TronAddressError as err:
                raise ConfigError(f"tron.contract: {err}") from None
            self.account()
            if not self.api_key.strip():
                raise ConfigError(
                    "tron.api_key: USDT payments need a TronGrid API key (from the file, "
                    "BITAGORA_TRON_API_KEY or the tron.api_key credential)"
                )

    @property
    def enabled(self) -> bool:
        return bool(self.xpub.strip())

    def policy(self) -> Any:
        """The settlement ``Policy`` (appliance.core.settlement): a transfer settles once
        solidified (one "confirmation"), never before, whatever the amount."""
        from appliance.core.settlement import Policy, Tier

        return Policy(zero_conf_max_sats=0, tiers=(Tier(0, 1),))

    def account(self) -> Any:
        """The parsed account (a ``TronAccount``); ConfigError says why it cannot be used."""
        from appliance.wallet.descriptors import DescriptorError
        from appliance.wallet.tron import parse_tron_account

        try:
            return parse_tron_account(self.xpub)
        except DescriptorError as err:
            raise ConfigError(f"tron.xpub: {err}") from None


UNIT_NAME = re.compile(r"[A-Za-z0-9@._:-]+\.service")


@dataclass(frozen=True)
class UpdateSettings:
    """Signed updates into release slots (docs/ARCHITECTURE.md, "Updates"). ``root`` holds
    ``releases/<version>/`` (one venv each) and the ``current`` and ``previous`` links;
    ``public_key`` is the pinned release-signing key (PEM); ``health_user`` runs the new
    release's health check when the confirmation runs as root ("" = as whoever runs it);
    ``settle_s``: how long the services must then stay up without systemd restarting them (a
    kiosk that crashes at start is "active" between its restarts)."""

    public_key: str = "/etc/bitagora/update-signing.pub"
    root: str = "/opt/bitagora"
    services: tuple[str, ...] = ("bitagora-kiosk.service", "bitagora-uplink.service")
    confirm_unit: str = "bitagora-update-confirm.service"
    systemctl: str = "systemctl"
    confirm_timeout_s: int = 120
    health_user: str = "bitagora"
    settle_s: float = 20.0

    def check(self) -> None:
        for key in ("public_key", "root"):
            if not getattr(self, key).startswith("/"):
                raise ConfigError(f"update.{key}: must be an absolute path")
        for unit in (*self.services, self.confirm_unit):
            if not UNIT_NAME.fullmatch(unit):
                raise ConfigError(f"update: {unit!r} is not a systemd service name")
        if not 5 <= self.confirm_timeout_s <= 3600:
            raise ConfigError(
                f"update.confirm_timeout_s: must be 5..3600, got {self.confirm_timeout_s}"
            )
        if not 0 <= self.settle_s <= 600:
            raise ConfigError(f"update.settle_s: must be 0..600 seconds, got {self.settle_s}")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    device: DeviceSettings = field(default_factory=DeviceSettings)
    printer: PrinterSettings = field(default_factory=PrinterSettings)
    drawer: DrawerSettings = field(default_factory=DrawerSettings)
    scanner: ScannerSettings = field(default_factory=ScannerSettings)
    uplink: UplinkSettings = field(default_factory=UplinkSettings)
    nfc: NfcSettings = field(default_factory=NfcSettings)
    rates: RatesSettings = field(default_factory=RatesSettings)
    lightning: LightningSettings = field(default_factory=LightningSettings)
    onchain: OnchainSettings = field(default_factory=OnchainSettings)
    card: CardSettings = field(default_factory=CardSettings)
    mercadopago: MercadoPagoSettings = field(default_factory=MercadoPagoSettings)
    tron: TronSettings = field(default_factory=TronSettings)
    touch: TouchSettings = field(default_factory=TouchSettings)
    update: UpdateSettings = field(default_factory=UpdateSettings)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "appliance.sqlite3"


SECTIONS: dict[str, type] = {
    "device": DeviceSettings,
    "printer": PrinterSettings,
    "drawer": DrawerSettings,
    "scanner": ScannerSettings,
    "uplink": UplinkSettings,
    "nfc": NfcSettings,
    "rates": RatesSettings,
    "lightning": LightningSettings,
    "onchain": OnchainSettings,
    "card": CardSettings,
    "mercadopago": MercadoPagoSettings,
    "tron": TronSettings,
    "touch": TouchSettings,
    "update": UpdateSettings,
}


def _coerce(key: str, kind: Any, value: Any, from_env: bool) -> Any:
    """Turn a TOML or environment value into the field's type, or name the key in an error."""
    if kind is bool:
        if from_env:
            if value.strip().lower() in ("1", "true", "yes", "on"):
                return True
            if value.strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
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


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """ " (did you mean X?)" naming the known word nearest to a mistyped one, or ""."""
    nearest = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {nearest[0]}?)" if nearest else ""


def _section(name: str, cls: type, table: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    hints = get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = set(table) - known
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"{name}.{key}: unknown setting{did_you_mean(key, known)}")
    values: dict[str, Any] = {}
    for key in known:
        env_name = f"BITAGORA_{name}_{key}".upper()
        if env_name in env:
            values[key] = _coerce(f"{name}.{key} ({env_name})", hints[key], env[env_name], True)
        elif (secret := _credential(f"{name}.{key}", env)) is not None:
            values[key] = _coerce(f"{name}.{key} (credential)", hints[key], secret, True)
        elif key in table:
            values[key] = _coerce(f"{name}.{key}", hints[key], table[key], False)
    section = cls(**values)
    section.check()
    return section


def _credential(setting: str, env: Mapping[str, str]) -> str | None:
    """The systemd credential for a secret setting, or None (not one, none given, or blank)."""
    directory = env.get("CREDENTIALS_DIRECTORY")
    if setting not in CREDENTIAL_SETTINGS or not directory:
        return None
    path = Path(directory) / setting
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{setting}: cannot read the credential {path}: {err}") from None
    return value or None


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
    return settings_from_document(document, resolved_dir, env, source=str(path))


def settings_from_document(
    document: Mapping[str, Any], data_dir: Path, env: Mapping[str, str], source: str = "settings"
) -> Settings:
    """Settings from an already parsed TOML document (the file, or one being provisioned)."""
    unknown = set(document) - set(SECTIONS)
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(f"{name}: unknown section in {source}{did_you_mean(name, SECTIONS)}")
    sections = {}
    for name, cls in SECTIONS.items():
        table = document.get(name, {})
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name}: must be a [{name}] table of settings")
        sections[name] = _section(name, cls, table, env)
    return Settings(data_dir=data_dir.resolve(), **sections)
