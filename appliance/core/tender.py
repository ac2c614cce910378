"""Cash tender: cash rounding, change and the quick-tender buttons offered to the cashier.

Cash rounding, where a country has no coins for the smallest amounts (Switzerland, the
Netherlands, Finland: no 1- and 2-cent coins): the cash amount due is rounded to the nearest
multiple of the shop's increment (in minor units, 5 for 0.05), halves up. Only cash is rounded;
card, bitcoin and every other method charge the exact amount. The rounding a cash payment made
is its entry's ``rounding`` (amount charged less amount due: 1.02 due, 1.00 charged, -2), so
that a sale's payments add up to its total plus its rounding (docs/PROTOCOL.md 1.4).
"""

from __future__ import annotations

from appliance.core.sale import Payment
from bitagora_protocol.money import Money, exponent

# Banknotes offered as quick tender, in major units, per currency (others fall back to DEFAULT).
NOTES: dict[str, tuple[int, ...]] = {
    "EUR": (5, 10, 20, 50, 100),
    "USD": (1, 5, 10, 20, 50, 100),
    "GBP": (5, 10, 20, 50),
    "BRL": (2, 5, 10, 20, 50, 100, 200),
}
DEFAULT_NOTES = (5, 10, 20, 50, 100)
# "Next round amount" steps, in major units.
ROUND_STEPS = (1, 5, 10)
MAX_SUGGESTIONS = 6


class TenderError(ValueError):
    """Cash handed over that cannot settle the sale."""


def rounded_cash(due: Money, increment: int) -> Money:
    """``due`` rounded to the nearest multiple of ``increment`` minor units, halves up (an
    increment of 1: no rounding)."""
    if increment < 1:
        raise TenderError(f"a cash rounding increment must be 1 or more, not {increment}")
    steps, rest = divmod(due.minor, increment)
    return Money((steps + (2 * rest >= increment)) * increment, due.currency)


def cash_payment(due: Money, tendered: Money, increment: int = 1) -> Payment:
    """The cash payment of ``due`` for ``tendered``: the rounded amount, the change on it, and
    the rounding when there is one; refuses a tender below the rounded amount."""
    charged = rounded_cash(due, increment)
    change = change_due(charged, tendered)
    rounding = (charged - due).minor
    details = {"rounding": rounding} if rounding else {}
    return Payment("cash", charged, tendered=tendered, change=change, details=details)


def change_due(total: Money, tendered: Money) -> Money:
    """Change to hand back; refuses a tender below the total."""
    if tendered.currency != total.currency:
        raise TenderError(f"tendered {tendered.currency}, sale is in {total.currency}")
    if tendered < total:
        raise TenderError(f"{tendered} does not cover {total}")
    return tendered - total


def quick_tenders(total: Money) -> list[Money]:
    """Exact amount first, then the next round amounts and the notes that cover the total."""
    unit = 10 ** exponent(total.currency)
    amounts = {total.minor}
    for step in ROUND_STEPS:
        size = step * unit
        amounts.add(-(-total.minor // size) * size)
    for note in NOTES.get(total.currency, DEFAULT_NOTES):
        if note * unit >= total.minor:
            amounts.add(note * unit)
    ordered = sorted(a for a in amounts if a >= total.minor and a > 0)
    return [Money(a, total.currency) for a in ordered[:MAX_SUGGESTIONS]]
