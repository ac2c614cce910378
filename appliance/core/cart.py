"""The cart and its totals.

Tax is computed once per (rate, pricing) group over the summed line amounts, not per line, so that
the tax printed for each rate is exactly the rate applied to that rate's base (what fiscal receipts
show). Each group's tax is rounded with ``money.round_minor``:

- inclusive pricing: gross = sum(qty * price); tax = round(gross * r / (1 + r)); net = gross - tax
- exclusive pricing: net = sum(qty * price); tax = round(net * r); gross = net + tax

where r = basis_points / 10000. Subtotal is the sum of nets, total the sum of grosses, and
total == subtotal + tax always holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from appliance.core.catalog import CatalogRef, Product, TaxRate
from bitagora_protocol.money import Money, MoneyError, round_minor

MAX_QUANTITY = 9999


class CartError(ValueError):
    """A cart operation that cannot be done (unknown line, bad quantity, mixed currency)."""


@dataclass
class CartLine:
    product: Product
    quantity: int

    @property
    def amount(self) -> Money:
        """qty × unit price, as priced (gross for inclusive, net for exclusive products)."""
        return self.product.price * self.quantity


@dataclass(frozen=True)
class TaxGroup:
    rate: TaxRate
    price_includes_tax: bool
    net: Money
    tax: Money
    gross: Money


@dataclass(frozen=True)
class Totals:
    subtotal: Money
    tax: Money
    total: Money
    groups: tuple[TaxGroup, ...]


def tax_group(rate: TaxRate, includes_tax: bool, amount: Money) -> TaxGroup:
    r = Fraction(rate.basis_points, 10_000)
    if includes_tax:
        tax = round_minor(Fraction(amount.minor) * r / (1 + r))
        net, gross = amount.minor - tax, amount.minor
    else:
        tax = round_minor(Fraction(amount.minor) * r)
        net, gross = amount.minor, amount.minor + tax
    cur = amount.currency
    return TaxGroup(rate, includes_tax, Money(net, cur), Money(tax, cur), Money(gross, cur))


@dataclass
class Cart:
    """``catalog``: the catalog version the cart was started at (taken when the cart starts, by
    the sales service or the sell screen), which the sale names; None when no version is
    recorded. ``clear`` forgets it, so the next sale takes the version in force then."""

    currency: str
    lines: list[CartLine] = field(default_factory=list)
    catalog: CatalogRef | None = None

    def add(self, product: Product, quantity: int = 1) -> CartLine:
        """Add a product; the same product again increases the existing line."""
        if product.price.currency != self.currency:
            raise CartError(f"{product.name} is priced in {product.price.currency}")
        for line in self.lines:
            if line.product.sku == product.sku:
                self.set_quantity(self.lines.index(line), line.quantity + quantity)
                return line
        self._check_quantity(quantity)
        line = CartLine(product, quantity)
        self.lines.append(line)
        return line

    def set_quantity(self, index: int, quantity: int) -> None:
        """Set a line's quantity; zero removes the line."""
        self._line(index)
        if quantity == 0:
            self.remove(index)
            return
        self._check_quantity(quantity)
        self.lines[index].quantity = quantity

    def remove(self, index: int) -> None:
        self._line(index)
        del self.lines[index]

    def clear(self) -> None:
        self.lines.clear()
        self.catalog = None

    @property
    def is_empty(self) -> bool:
        return not self.lines

    def totals(self) -> Totals:
        sums: dict[tuple[str, int, bool], tuple[TaxRate, Money]] = {}
        for line in self.lines:
            key = (
                line.product.tax.code,
                line.product.tax.basis_points,
                line.product.price_includes_tax,
            )
            rate, running = sums.get(key, (line.product.tax, Money.zero(self.currency)))
            sums[key] = (rate, running + line.amount)
        groups = tuple(
            tax_group(rate, key[2], amount) for key, (rate, amount) in sorted(sums.items())
        )
        zero = Money.zero(self.currency)
        subtotal = sum((g.net for g in groups), zero)
        tax = sum((g.tax for g in groups), zero)
        total = sum((g.gross for g in groups), zero)
        return Totals(subtotal, tax, total, groups)

    def _line(self, index: int) -> CartLine:
        if not 0 <= index < len(self.lines):
            raise CartError(f"no cart line {index}")
        return self.lines[index]

    @staticmethod
    def _check_quantity(quantity: int) -> None:
        if not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
            raise CartError(f"quantity must be 1..{MAX_QUANTITY}")


__all__ = ["Cart", "CartError", "CartLine", "MoneyError", "TaxGroup", "Totals", "tax_group"]
