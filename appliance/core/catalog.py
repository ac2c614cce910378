"""Products, tax rates, catalog versions and what replacing a catalog changes (the catalog
item itself is ``bitagora_protocol.catalog.CatalogItem``: central holds the same)."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bitagora_protocol.catalog import CatalogItem
from bitagora_protocol.money import Money


@dataclass(frozen=True)
class TaxRate:
    """A tax rate in basis points (2100 = 21 %) with a short code printed on receipts."""

    code: str
    basis_points: int

    def __post_init__(self) -> None:
        if not 0 <= self.basis_points <= 10_000:
            raise ValueError(f"tax rate {self.code} must be 0..10000 basis points")

    @property
    def percent_text(self) -> str:
        whole, frac = divmod(self.basis_points, 100)
        return f"{whole}%" if frac == 0 else f"{whole}.{frac:02d}".rstrip("0") + "%"


@dataclass(frozen=True)
class Product:
    """A sellable item. ``price`` includes tax when ``price_includes_tax`` is true."""

    sku: str
    name: str
    price: Money
    tax: TaxRate
    category: str
    price_includes_tax: bool = True
    barcode: str | None = None


@dataclass(frozen=True)
class CatalogRef:
    """A recorded catalog version, as a sale names it (``"catalog": {"version", "sha256"}``,
    docs/PROTOCOL.md 1.4): the price list the sale was priced from."""

    version: int
    sha256: str

    def body(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256}


def fold(text: str) -> str:
    """Lower case without accents, so "agua" finds "Água mineral" (the search key of a name)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@dataclass(frozen=True)
class CatalogChange:
    """What replacing one catalog by another changes, by sku: how many products it adds,
    changes, removes and leaves alone, and which (``added_skus``; ``replaced_skus``: the ones
    changed or removed, whose rows the old catalog held)."""

    added: int
    changed: int
    removed: int
    unchanged: int
    added_skus: tuple[str, ...] = ()
    replaced_skus: tuple[str, ...] = ()


def compare(old: Mapping[str, CatalogItem], new: Mapping[str, CatalogItem]) -> CatalogChange:
    added = tuple(sku for sku in new if sku not in old)
    replaced = tuple(sku for sku, item in old.items() if new.get(sku) != item)
    removed = sum(1 for sku in replaced if sku not in new)
    changed = len(replaced) - removed
    return CatalogChange(
        len(added), changed, removed, len(new) - len(added) - changed, added, replaced
    )
