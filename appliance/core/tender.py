"""Cash tender: change and the quick-tender buttons offered to the cashier."""

from __future__ import annotations

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
