"""What a receipt says, independent of how a printer draws it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReceiptLine:
    name: str
    quantity: int
    unit_price: str  # formatted money, e.g. "€2.50"
    amount: str  # formatted money for quantity × unit price
    tax_code: str


@dataclass(frozen=True)
class ReceiptTax:
    code: str
    rate: str  # e.g. "21%"
    net: str
    tax: str
    gross: str


@dataclass(frozen=True)
class Receipt:
    merchant: str
    header_lines: tuple[str, ...]
    sale_id: str
    at_local: str  # local time as shown to the customer
    staff: str
    lines: tuple[ReceiptLine, ...]
    subtotal: str
    tax: str
    total: str
    taxes: tuple[ReceiptTax, ...]
    payments: tuple[tuple[str, str], ...]  # (method label, amount)
    change: str | None
    journal_seq: int
    signature_short: str  # first characters of the journal record's signature
    footer_lines: tuple[str, ...] = field(default_factory=tuple)
    copy: bool = False
    training: bool = False  # a practice sale: marked so nobody takes it for a real one
    rounding: str | None = None  # cash rounding, "-0,02 €" (core/tender.py)
    # A copy says which journal record asked for it (a ``reprint``) and when.
    reprint_seq: int | None = None
    reprint_at_local: str = ""
    # A banner under the header for receipts that are not a sale ("REFUND").
    title: str | None = None
    # The language its words are in (the shop's): the printer's own words and code page follow.
    language: str = "en"


@dataclass(frozen=True)
class ReportSection:
    """A titled block of a report printout: label/value rows (a value of "" is a row heading,
    such as a tax rate over its net, tax and gross rows)."""

    title: str
    rows: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ReportPrintout:
    """What an X or Z report printout says: its own layout, not a sale's receipt (no sale id,
    lines, TOTAL or customer QR code). ``journal_seq`` names the signed record a Z is printed
    from; an X is not journalled, so it names none and says it resets nothing (``notes``)."""

    merchant: str
    header_lines: tuple[str, ...]
    title: str  # "X REPORT", "Z REPORT #3"
    at_local: str
    staff: str
    sections: tuple[ReportSection, ...]
    period: str | None = None  # a Z's journal range, "journal #18-#40"
    notes: tuple[str, ...] = ()
    journal_seq: int | None = None
    signature_short: str = ""
    language: str = "en"  # the shop's, as for a receipt
