"""Money as integer minor units plus an ISO 4217 currency code.

Rounding rule (the only one in the project): when an amount in minor units has to be derived from a
fraction, it is rounded half away from zero (``ROUND_HALF_UP`` on the absolute value), the rule
shop staff expect from a calculator. ``round_minor`` is the single place that applies it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from babel.core import get_global
from babel.numbers import (
    NumberFormatError,
    format_currency,
    get_currency_precision,
    get_currency_symbol,
    parse_decimal,
)

# The ISO 4217 currencies that are legal tender somewhere today, as CLDR (through Babel) knows
# them; their minor units are CLDR's (get_currency_precision): CLP, PYG and JPY have none.
CURRENCIES: frozenset[str] = frozenset(
    code
    for spans in get_global("territory_currencies").values()
    for code, _start, end, tender in spans
    if end is None and tender
)

CURRENCY_SYMBOLS: dict[str, str] = {"EUR": "€", "USD": "$", "GBP": "£", "BRL": "R$", "JPY": "¥"}


class MoneyError(ValueError):
    """An amount or currency that cannot be used."""


@functools.cache  # every Money made asks it: dozens a sale, a catalog's worth on a price list
def exponent(currency: str) -> int:
    """Decimal places of the currency's minor unit (2 for EUR, 0 for CLP)."""
    if currency not in CURRENCIES:
        raise MoneyError(f"unsupported currency {currency!r}")
    return get_currency_precision(currency)


def round_minor(value: Fraction) -> int:
    """Round an exact fraction of minor units to an integer, half away from zero."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * remainder >= magnitude.denominator:
        whole += 1
    return sign * whole


@dataclass(frozen=True, order=True)
class Money:
    """An amount of one currency in integer minor units (cents for EUR)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise MoneyError(f"money must be an integer of minor units, got {self.minor!r}")
        exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str, locale: str | None = None) -> Money:
        """Parse an amount into minor units. Without ``locale``, a decimal typed by a person
        ("12.5", "12,50"); with one, as that locale writes it, symbol and grouping included
        ("1.234,56 €" in es_ES: the inverse of :meth:`localized`)."""
        if locale is None:
            cleaned = text.strip().replace(",", ".")
            try:
                value = Decimal(cleaned)
            except ArithmeticError:
                raise MoneyError(f"not an amount: {text!r}") from None
        else:
            value = _parse_localized(text, currency, locale)
        if not value.is_finite():
            raise MoneyError(f"not an amount: {text!r}")
        scaled = value.scaleb(exponent(currency))
        if scaled != scaled.to_integral_value():
            raise MoneyError(f"{text!r} has more decimals than {currency} allows")
        return cls(int(scaled.to_integral_value(rounding=ROUND_HALF_UP)), currency)

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise MoneyError(f"cannot mix {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __mul__(self, quantity: int) -> Money:
        if not isinstance(quantity, int):
            raise MoneyError("money can only be multiplied by an integer quantity")
        return Money(self.minor * quantity, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def format(self) -> str:
        """Human form, e.g. "€12.50" or "-$3.00"."""
        exp = exponent(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**exp) if exp else (abs(self.minor), 0)
        number = f"{whole:,}" + (f".{frac:0{exp}d}" if exp else "")
        symbol = CURRENCY_SYMBOLS.get(self.currency)
        return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {self.currency}"

    def localized(self, locale: str) -> str:
        """The amount as people of ``locale`` write it (CLDR data through Babel), e.g.
        "1.234,56\u00a0€" for es_ES, "R$\u00a01.234,56" for pt_BR, "$1,234.56" for MXN in es_MX."""
        amount = Decimal(self.minor).scaleb(-exponent(self.currency))
        return format_currency(amount, self.currency, locale=locale)

    def decimal(self) -> str:
        """Plain decimal text for files and spreadsheets, e.g. "12.50", "-3.00", "500" (JPY)."""
        exp = exponent(self.currency)
        sign = "-" if self.minor < 0 else ""
        whole, frac = divmod(abs(self.minor), 10**exp)
        return f"{sign}{whole}" + (f".{frac:0{exp}d}" if exp else "")

    def __str__(self) -> str:
        return self.format()


def _parse_localized(text: str, currency: str, locale: str) -> Decimal:
    number = text
    for sign in (get_currency_symbol(currency, locale), currency):
        number = number.replace(sign, "")
    # Spaces (no-break ones too) only separate the symbol or group digits: neither is needed.
    number = "".join(ch for ch in number if not ch.isspace())
    try:
        return parse_decimal(number, locale=locale)
    except NumberFormatError:
        raise MoneyError(f"not an amount in {locale}: {text!r}") from None
