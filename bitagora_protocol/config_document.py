"""The configuration document central sends down to a merchant's devices, and its signature.

docs/PROTOCOL.md 2.6 is the contract; this module is its reference, used by central to sign and
by the device to check (over the network or from a USB stick: the same file either way).

A signed document is the JSON object ``{"document": D, "signature": S}``:

- ``D`` holds ``format`` (``bitagora-config/1``), ``merchant`` (``{"id", "name"}``), ``version``
  (1, 2, 3… per merchant, +1 at every change), ``issued_at`` (RFC 3339 UTC, as journal ``at``),
  ``catalog`` (``{"currency", "sha256", "items"}``: the items in canonical form, by sku; ``sha256``
  as ``catalog.catalog_sha256`` computes it), ``settings`` and ``staff`` (no PIN, ever). The
  shop's ``settings.language`` and a person's ``language`` are optional: present only when set.
- ``S`` is central's signature over ``D`` (``central_signature``).

``verify`` checks the signature against the key the device pinned, then the document's shape
(``read``), so a device never acts on a field it has not checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitagora_protocol import central_signature
from bitagora_protocol.catalog import PRODUCT_KEYS, CatalogItem, catalog_sha256
from bitagora_protocol.central_signature import SignedObjectError
from bitagora_protocol.journal import canonical_json
from bitagora_protocol.languages import LANGUAGES
from bitagora_protocol.money import CURRENCIES

FORMAT = "bitagora-config/1"
ROLES = frozenset({"cashier", "manager", "technician"})
PAYMENT_METHODS = frozenset(
    {"cash", "card", "lightning", "onchain", "mercadopago_point", "mercadopago_qr", "usdt_tron"}
)
_BADGE = re.compile(r"[0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20}")
_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


class DocumentError(SignedObjectError):
    """A signed document that cannot be taken: ``reason`` says why in words."""


@dataclass(frozen=True)
class StaffEntry:
    id: str
    name: str
    role: str
    active: bool
    badges: tuple[str, ...]
    language: str | None = None  # the screens' language at their login; None: the shop's


@dataclass(frozen=True)
class Settings:
    currency: str
    header_lines: tuple[str, ...]
    footer_lines: tuple[str, ...]
    payment_methods: tuple[str, ...]
    # Cash rounding increment in minor units (5: cash due rounded to 0.05); None: not set.
    cash_rounding: int | None = None
    language: str | None = None  # receipts', reports' and screens'; None: the device's own


@dataclass(frozen=True)
class ConfigDocument:
    """A verified document; ``sha256`` is the digest its signature covers."""

    merchant_id: int
    merchant_name: str
    version: int
    issued_at: str
    currency: str
    catalog_sha256: str
    items: tuple[CatalogItem, ...]
    settings: Settings
    staff: tuple[StaffEntry, ...]
    sha256: str


def document_sha256(document: Mapping[str, Any]) -> str:
    return central_signature.object_sha256(document)


def sign(key: Ed25519PrivateKey, document: Mapping[str, Any]) -> dict[str, Any]:
    """The signed form ``{"document", "signature"}`` of ``document``."""
    return {"document": dict(document), "signature": central_signature.signature_of(key, document)}


def encode(signed: Mapping[str, Any]) -> bytes:
    """The bytes central serves and a USB stick carries: canonical JSON of the signed form."""
    return canonical_json(signed)


def verify(data: bytes, pinned_key: bytes) -> ConfigDocument:
    """Check ``data`` (a signed document's bytes) against the pinned raw public key and read it.
    Raises ``SignatureMismatch`` or ``DocumentError`` (both ``SignedObjectError``)."""
    try:
        signed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise DocumentError(f"not UTF-8 JSON: {err}") from None
    if not isinstance(signed, dict) or set(signed) != {"document", "signature"}:
        raise DocumentError("not a signed document: expected exactly 'document' and 'signature'")
    document = signed["document"]
    if not isinstance(document, dict):
        raise DocumentError("'document' must be an object")
    digest = central_signature.check(signed["signature"], document, pinned_key, "document")
    return read(document, digest)


def read(document: Mapping[str, Any], sha256: str) -> ConfigDocument:
    """The document's fields, checked; ``DocumentError`` names the first bad one."""
    _keys(
        document,
        "document",
        {"catalog", "format", "issued_at", "merchant", "settings", "staff", "version"},
    )
    if document["format"] != FORMAT:
        raise DocumentError(f"format must be {FORMAT!r}")
    merchant = document["merchant"]
    _keys(merchant, "merchant", {"id", "name"})
    merchant_id, name = _int(merchant["id"], "merchant.id"), _str(merchant["name"], "merchant.name")
    version = _int(document["version"], "version")
    if version < 1:
        raise DocumentError("version must be 1 or more")
    issued_at = _str(document["issued_at"], "issued_at")
    if not _AT.fullmatch(issued_at):
        raise DocumentError("issued_at must be RFC 3339 UTC with microseconds and Z")
    catalog = document["catalog"]
    _keys(catalog, "catalog", {"currency", "items", "sha256"})
    currency = _str(catalog["currency"], "catalog.currency")
    if currency not in CURRENCIES:
        raise DocumentError(f"catalog.currency {currency!r} is not a supported currency")
    items = _items(catalog["items"])
    computed = catalog_sha256(currency, (item.canonical() for item in items))
    if catalog["sha256"] != computed:
        raise DocumentError("catalog.sha256 is not the SHA-256 of its items' canonical form")
    return ConfigDocument(
        merchant_id,
        name,
        version,
        issued_at,
        currency,
        computed,
        items,
        _settings(document["settings"], currency),
        _staff(document["staff"]),
        sha256,
    )


def _items(value: Any) -> tuple[CatalogItem, ...]:
    if not isinstance(value, list):
        raise DocumentError("catalog.items must be a list")
    items: list[CatalogItem] = []
    previous: str | None = None
    for index, product in enumerate(value):
        where = f"catalog.items[{index}]"
        _keys(product, where, set(PRODUCT_KEYS))
        codes = product["barcodes"]
        if not isinstance(codes, list) or not all(isinstance(c, str) and c for c in codes):
            raise DocumentError(f"{where}.barcodes must be a list of strings")
        item = CatalogItem(
            _str(product["sku"], f"{where}.sku"),
            _str(product["name"], f"{where}.name"),
            _str(product["category"], f"{where}.category"),
            _natural(product["price"], f"{where}.price"),
            _str(product["tax_code"], f"{where}.tax_code"),
            _natural(product["tax_bp"], f"{where}.tax_bp"),
            _bool(product["price_includes_tax"], f"{where}.price_includes_tax"),
            tuple(codes),
            _natural(product["position"], f"{where}.position"),
            _bool(product["active"], f"{where}.active"),
        )
        if item.tax_bp > 10_000:
            raise DocumentError(f"{where}.tax_bp must be 0..10000")
        if previous is not None and item.sku <= previous:
            raise DocumentError(f"{where}: items must be in ascending order of sku, each once")
        previous = item.sku
        items.append(item)
    return tuple(items)


MAX_CASH_ROUNDING = 1000  # minor units: coarser than any country's smallest coin


def _settings(value: Any, currency: str) -> Settings:
    _keys(
        value, "settings", {"currency", "payment_methods", "receipt"}, {"cash_rounding", "language"}
    )
    if value["currency"] != currency:
        raise DocumentError("settings.currency must be the catalog's currency")
    receipt = value["receipt"]
    _keys(receipt, "settings.receipt", {"footer_lines", "header_lines"})
    methods = _strings(value["payment_methods"], "settings.payment_methods")
    unknown = sorted(set(methods) - PAYMENT_METHODS)
    if unknown:
        raise DocumentError(f"settings.payment_methods: unknown method {unknown[0]!r}")
    return Settings(
        currency,
        _strings(receipt["header_lines"], "settings.receipt.header_lines"),
        _strings(receipt["footer_lines"], "settings.receipt.footer_lines"),
        methods,
        _cash_rounding(value.get("cash_rounding")),
        _language(value, "settings"),
    )


def _cash_rounding(value: Any) -> int | None:
    if value is None:
        return None
    increment = _int(value, "settings.cash_rounding")
    if not 1 <= increment <= MAX_CASH_ROUNDING:
        raise DocumentError(f"settings.cash_rounding must be 1..{MAX_CASH_ROUNDING} minor units")
    return increment


def _staff(value: Any) -> tuple[StaffEntry, ...]:
    if not isinstance(value, list):
        raise DocumentError("staff must be a list")
    entries = []
    for index, person in enumerate(value):
        where = f"staff[{index}]"
        _keys(person, where, {"active", "badges", "id", "name", "role"}, {"language"})
        role = _str(person["role"], f"{where}.role")
        if role not in ROLES:
            raise DocumentError(f"{where}.role {role!r} is not one of {sorted(ROLES)}")
        badges = _strings(person["badges"], f"{where}.badges")
        if not all(_BADGE.fullmatch(uid) for uid in badges):
            raise DocumentError(f"{where}.badges: a UID is 8, 14 or 20 upper-case hex digits")
        entries.append(
            StaffEntry(
                _str(person["id"], f"{where}.id"),
                _str(person["name"], f"{where}.name"),
                role,
                _bool(person["active"], f"{where}.active"),
                badges,
                _language(person, where),
            )
        )
    return tuple(entries)


def _keys(
    value: Any, where: str, expected: set[str], optional: frozenset[str] | set[str] = frozenset()
) -> None:
    if not isinstance(value, dict):
        raise DocumentError(f"{where} must be an object")
    if not expected <= set(value) <= expected | optional:
        missing, extra = sorted(expected - set(value)), sorted(set(value) - expected - optional)
        raise DocumentError(f"{where}: missing {missing}, unexpected {extra}")


def _language(value: Mapping[str, Any], where: str) -> str | None:
    """The optional ``language`` key: absent, or one of the devices' ``LANGUAGES``."""
    if "language" not in value:
        return None
    language = _str(value["language"], f"{where}.language")
    if language not in LANGUAGES:
        raise DocumentError(f"{where}.language {language!r} is not one of {', '.join(LANGUAGES)}")
    return language


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise DocumentError(f"{where} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DocumentError(f"{where} must be a list of strings")
    return tuple(value)


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DocumentError(f"{where} must be an integer")
    return value


def _natural(value: Any, where: str) -> int:
    number = _int(value, where)
    if number < 0:
        raise DocumentError(f"{where} must be 0 or more")
    return number


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise DocumentError(f"{where} must be true or false")
    return value
