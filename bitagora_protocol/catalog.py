"""The canonical form of a catalog and its SHA-256: what a ``catalog`` journal record names.

docs/PROTOCOL.md 1.7 is the contract; this module is its reference. The canonical bytes of a
catalog are JSON Lines, each line the canonical JSON of the journal (``canonical_json``: keys
sorted, no whitespace, UTF-8, integers only) followed by ``\\n``:

- line 1: ``{"currency": <ISO 4217 code>, "format": "bitagora-catalog/1"}``
- then one line per product, in order of ``sku`` (by Unicode code point), with exactly the keys
  ``active`` (bool), ``barcodes`` (list of strings, in the catalog's order), ``category``,
  ``name``, ``position`` (int), ``price`` (int, minor units of the currency),
  ``price_includes_tax`` (bool), ``sku``, ``tax_bp`` (int, basis points), ``tax_code``.

The digest is the lowercase hex SHA-256 of those bytes. Lines make it computable product by
product, so a catalog of 500,000 products never has to be one string in memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bitagora_protocol.journal import canonical_json

FORMAT = "bitagora-catalog/1"
PRODUCT_KEYS = (
    "active",
    "barcodes",
    "category",
    "name",
    "position",
    "price",
    "price_includes_tax",
    "sku",
    "tax_bp",
    "tax_code",
)


@dataclass(frozen=True)
class CatalogItem:
    """A product as a catalog file and the catalog's canonical form hold it: everything the
    till stores about it. ``price`` is in minor units of the catalog's currency; ``barcodes``
    are catalog keys (``barcode.catalog_key``), the first the product's main code."""

    sku: str
    name: str
    category: str
    price: int
    tax_code: str
    tax_bp: int
    price_includes_tax: bool = True
    barcodes: tuple[str, ...] = ()
    position: int = 0
    active: bool = True

    def canonical(self) -> dict[str, Any]:
        """The product's object in the canonical form (``bitagora_protocol.catalog``)."""
        return {
            "active": self.active,
            "barcodes": list(self.barcodes),
            "category": self.category,
            "name": self.name,
            "position": self.position,
            "price": self.price,
            "price_includes_tax": self.price_includes_tax,
            "sku": self.sku,
            "tax_bp": self.tax_bp,
            "tax_code": self.tax_code,
        }


def canonical_lines(currency: str, products: Iterable[Mapping[str, Any]]) -> Iterator[bytes]:
    """The canonical lines of a catalog; ``products`` in any order (they are sorted by sku)."""
    yield canonical_json({"currency": currency, "format": FORMAT}) + b"\n"
    for product in sorted(products, key=lambda p: str(p["sku"])):
        yield canonical_json({key: product[key] for key in PRODUCT_KEYS}) + b"\n"


def catalog_sha256(currency: str, products: Iterable[Mapping[str, Any]]) -> str:
    digest = hashlib.sha256()
    for line in canonical_lines(currency, products):
        digest.update(line)
    return digest.hexdigest()
