"""USDT amounts: fiat → 6-decimal token units at an exchange rate, formatting, the payment URI.

A rate is a ``Decimal`` of fiat major units per USDT (``Decimal("0.9213")`` EUR per USDT;
``Decimal("1187.5")`` ARS per USDT). USDT is not exactly one US dollar, so even a USD till
converts at a quoted rate. Conversion follows the bitcoin rule (:mod:`appliance.core.btc`): the
exact amount rounded **up** to the next token unit, so the merchant is never short.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from appliance.core.btc import RateError, ceil_fraction
from bitagora_protocol.money import Money, exponent

UNITS_PER_USDT = 1_000_000  # TRC-20 USDT has 6 decimals
# Far outside any market price: the strongest currency (KWD) is about 0.3 per USDT, the weakest
# (IRR, VES after redenominations) below 10^6. Rate 0 is refused; 1 is a real USD rate here.
MIN_RATE = Decimal("0.01")
MAX_RATE = Decimal(10) ** 7


def check_usdt_rate(rate: Decimal) -> Decimal:
    """Return ``rate`` if a sale may use it, else raise :class:`RateError` saying why."""
    if not isinstance(rate, Decimal):
        raise RateError(f"a rate must be a Decimal, got {type(rate).__name__}")
    if not rate.is_finite() or rate <= 0:
        raise RateError(f"rate {rate} is not a positive number")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise RateError(f"rate {rate} per USDT is outside {MIN_RATE}..{MAX_RATE:.0E}")
    return rate


def fiat_to_usdt_units(amount: Money, rate: Decimal) -> int:
    """The USDT units that pay ``amount`` at ``rate``, rounded up."""
    if amount.minor <= 0:
        raise RateError(f"a USDT payment needs a positive amount, got {amount}")
    check_usdt_rate(rate)
    fiat = Fraction(amount.minor, 10 ** exponent(amount.currency))
    return ceil_fraction(fiat / Fraction(rate) * UNITS_PER_USDT)


def format_usdt(units: int) -> str:
    """``12340000`` → ``"12.34 USDT"``: at least two decimals, trailing zeros of the rest cut."""
    whole, frac = divmod(abs(units), UNITS_PER_USDT)
    digits = f"{frac:06d}".rstrip("0").ljust(2, "0")
    return f"{'-' if units < 0 else ''}{whole:,}.{digits} USDT"
