"""Bitcoin amounts: fiat → sats/msats at an exchange rate, BTC formatting, BIP21 payment URIs.

A rate is a ``Decimal`` of fiat major units per bitcoin (``Decimal("61234.50")`` EUR per BTC).
Nothing here ever sees a ``float``: conversions are done on exact fractions.

Rounding rule (the only one for fiat → bitcoin): the fiat amount is converted exactly and then
rounded **up** to the next whole unit (msat for Lightning, sat for on-chain), so that the bitcoin
asked for is always worth at least the fiat amount at the locked rate: the merchant is never
short, and the customer pays at most one sat (or msat) more than the exact value.
``ceil_fraction`` is the single place that applies it (to USDT too, core/usdt.py);
``fiat_to_sat`` is consistent with ``fiat_to_msat`` because ``ceil(ceil(x) / n) == ceil(x / n)``.

The other direction (``sat_to_fiat``, for showing what a payment was worth) uses the money rule
of :mod:`bitagora_protocol.money` (half away from zero), because it never decides what is charged.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from urllib.parse import quote

from bitagora_protocol.money import Money, exponent, round_minor

SATS_PER_BTC = 100_000_000
MSATS_PER_SAT = 1_000
MAX_SATS = 21_000_000 * SATS_PER_BTC

# A rate outside these bounds is a bug or a broken source, not a market price: no currency we
# support has been near 100 units per BTC since 2013, and 10^12 units per BTC is far beyond the
# weakest currencies (COP, ARS, CLP are around 10^8). Rate 1 and 0 are therefore always refused.
MIN_RATE = Decimal(100)
MAX_RATE = Decimal(10) ** 12


class BtcError(ValueError):
    """An amount, rate or URI part that cannot be used for a bitcoin payment."""


class RateError(BtcError):
    """An exchange rate that must not be used (zero, negative, not finite, or absurd)."""


def check_rate(rate: Decimal) -> Decimal:
    """Return ``rate`` if a sale may use it, else raise :class:`RateError` saying why."""
    if not isinstance(rate, Decimal):
        raise RateError(f"a rate must be a Decimal, got {type(rate).__name__}")
    if not rate.is_finite():
        raise RateError(f"rate {rate} is not a number")
    if rate <= 0:
        raise RateError(f"rate {rate} is not positive")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise RateError(f"rate {rate} per BTC is outside {MIN_RATE}..{MAX_RATE:.0E}")
    return rate


def ceil_fraction(value: Fraction) -> int:
    """Round an exact non-negative fraction up to an integer (the fiat → coin rule)."""
    return -((-value.numerator) // value.denominator)


def _btc_of(amount: Money, rate: Decimal) -> Fraction:
    if amount.minor <= 0:
        raise BtcError(f"a bitcoin payment needs a positive amount, got {amount}")
    check_rate(rate)
    return Fraction(amount.minor, 10 ** exponent(amount.currency)) / Fraction(rate)


def fiat_to_msat(amount: Money, rate: Decimal) -> int:
    """Millisatoshis worth at least ``amount`` at ``rate`` (rounded up to the next msat)."""
    msat = ceil_fraction(_btc_of(amount, rate) * SATS_PER_BTC * MSATS_PER_SAT)
    if msat > MAX_SATS * MSATS_PER_SAT:
        raise BtcError(f"{amount} is more than all bitcoin at rate {rate}")
    return msat


def fiat_to_sat(amount: Money, rate: Decimal) -> int:
    """Satoshis worth at least ``amount`` at ``rate`` (rounded up to the next sat)."""
    return ceil_fraction(Fraction(fiat_to_msat(amount, rate), MSATS_PER_SAT))


def sat_to_fiat(sats: int, rate: Decimal, currency: str) -> Money:
    """What ``sats`` are worth in ``currency`` at ``rate`` (half away from zero; display only)."""
    _check_sats(sats)
    check_rate(rate)
    minor = Fraction(sats, SATS_PER_BTC) * Fraction(rate) * 10 ** exponent(currency)
    return Money(round_minor(minor), currency)


def _check_sats(sats: int) -> None:
    if not isinstance(sats, int) or isinstance(sats, bool):
        raise BtcError(f"sats must be an integer, got {sats!r}")
    if not 0 <= sats <= MAX_SATS:
        raise BtcError(f"{sats} sats is not an amount of bitcoin")


def btc_string(sats: int, *, trim: bool = False) -> str:
    """``sats`` as a BTC decimal with 8 places ("0.00012345"); ``trim`` drops trailing zeros
    ("0.0001", "1") as BIP21 amounts are usually written. Never an exponent, never a float."""
    _check_sats(sats)
    whole, frac = divmod(sats, SATS_PER_BTC)
    text = f"{whole}.{frac:08d}"
    if trim:
        text = text.rstrip("0").rstrip(".")
    return text


def format_btc(sats: int) -> str:
    """Human form for screens and receipts: "0.00012345 BTC"."""
    return f"{btc_string(sats)} BTC"


def format_sats(sats: int) -> str:
    """Human form in sats: "12,345 sats" ("1 sat")."""
    _check_sats(sats)
    return f"{sats:,} sat" + ("" if sats == 1 else "s")


_ADDRESS = re.compile(r"^[a-zA-Z0-9]{14,90}$")
_BOLT11 = re.compile(r"^ln[a-z0-9]+$", re.IGNORECASE)


def _param(value: str) -> str:
    """Percent-encode a BIP21 parameter value (RFC 3986: space is %20, not '+')."""
    return quote(value, safe="")


def bip21_uri(
    address: str,
    sats: int | None = None,
    *,
    label: str | None = None,
    message: str | None = None,
    lightning: str | None = None,
) -> str:
    """A BIP21 URI, unified with a Lightning invoice when ``lightning`` is given (one QR code:
    wallets that speak Lightning pay the invoice, the others the address).

    ``bitcoin:ADDR?amount=0.00012345&label=Shop%20sale&lightning=LNBC...``: the amount is in BTC
    with at most 8 decimals; ``label`` and ``message`` are percent-encoded UTF-8.
    """
    if not _ADDRESS.match(address):
        raise BtcError(f"not a bitcoin address: {address!r}")
    params: list[str] = []
    if sats is not None:
        if sats <= 0:
            raise BtcError(f"a BIP21 amount must be positive, got {sats} sats")
        params.append(f"amount={btc_string(sats, trim=True)}")
    if label:
        params.append(f"label={_param(label)}")
    if message:
        params.append(f"message={_param(message)}")
    if lightning:
        if not _BOLT11.match(lightning):
            raise BtcError("the lightning parameter must be a BOLT11 invoice (ln...)")
        params.append(f"lightning={lightning}")
    return f"bitcoin:{address}" + (f"?{'&'.join(params)}" if params else "")
