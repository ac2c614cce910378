"""Products and tax rates."""

from __future__ import annotations

from dataclasses import dataclass

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
