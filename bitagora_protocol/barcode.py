"""Product barcodes: GS1 check digits, UPC/EAN normalisation, and which catalog keys to try.

The rules the till follows (docs/ARCHITECTURE.md, "Barcodes"):

- A code of 8, 12 or 13 digits is a GTIN (EAN-8, UPC-A, EAN-13) and must carry a correct GS1
  mod-10 check digit; an 8-digit code may also be a UPC-E (zero-suppressed UPC-A, number system
  0 or 1) whose check digit is the one of its UPC-A expansion. A GTIN-length code with a wrong
  check digit is refused as "not a valid barcode" before the catalog is asked, so a misread or a
  typo never reaches a product by accident.
- The catalog stores GTINs in one form: UPC-A and UPC-E as the EAN-13 they equal (a leading 0),
  EAN-8 as its 8 digits. Lookups also try the form as scanned (the 12-digit UPC-A, the 8-digit
  UPC-E), so rows written before this rule still match. An 8-digit code that is valid both as
  EAN-8 and as UPC-E is stored like the UPC-E and looked up both ways.
- Anything else (in-store codes of other lengths, PLUs, Code 128/39 labels with letters) is a
  plain catalog key: looked up exactly as scanned, with no check digit to verify. Restricted
  circulation EAN-13s (prefix 20-29, in-store and variable-measure labels) are GTIN-shaped and
  carry a check digit, so they are checked and looked up as a whole; a price or weight embedded in
  them is not decoded.

Pure: no I/O, imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = [
    "Barcode",
    "BarcodeError",
    "Kind",
    "catalog_key",
    "check_digit",
    "has_valid_check_digit",
    "parse",
    "upca_to_ean13",
    "upce_to_upca",
    "with_check_digit",
]

GTIN_LENGTHS = (8, 12, 13)


class Kind(Enum):
    EAN13 = "EAN-13"
    EAN8 = "EAN-8"
    UPCA = "UPC-A"
    UPCE = "UPC-E"
    INTERNAL = "internal"


class BarcodeError(ValueError):
    """A GTIN-shaped code whose check digit is wrong: not a valid barcode."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Barcode:
    """A scanned or typed code, classified.

    ``key`` is the form the catalog stores; ``lookup_keys`` every form worth asking the catalog
    for, best first (``key`` is always the first)."""

    raw: str
    kind: Kind
    key: str
    lookup_keys: tuple[str, ...]

    @property
    def is_gtin(self) -> bool:
        return self.kind is not Kind.INTERNAL


def check_digit(body: str) -> int:
    """The GS1 mod-10 check digit of ``body`` (the code without its check digit).

    From the right, digits are weighted 3, 1, 3, 1, … ; the check digit brings the sum up to a
    multiple of 10. The same rule serves EAN-8, UPC-A, EAN-13 and GTIN-14."""
    if not body.isascii() or not body.isdigit():
        raise ValueError(f"check digit needs digits only, got {body!r}")
    total = 3 * sum(map(int, body[::-1][::2])) + sum(map(int, body[::-1][1::2]))
    return (10 - total % 10) % 10


def with_check_digit(body: str) -> str:
    return body + str(check_digit(body))


def has_valid_check_digit(code: str) -> bool:
    """True if the last digit of ``code`` is the GS1 check digit of the others."""
    if len(code) < 2 or not code.isascii() or not code.isdigit():
        return False
    return check_digit(code[:-1]) == int(code[-1])


def upca_to_ean13(upca: str) -> str:
    """A UPC-A (12 digits) is the EAN-13 with a leading 0; the check digit stays the same."""
    if len(upca) != 12 or not upca.isascii() or not upca.isdigit():
        raise ValueError(f"UPC-A needs 12 digits, got {upca!r}")
    return "0" + upca


def upce_to_upca(upce: str) -> str:
    """Expand an 8-digit UPC-E (number system, six digits, check digit) to its UPC-A.

    The check digit is carried over unchanged (it was computed over the expansion)."""
    if len(upce) != 8 or not upce.isascii() or not upce.isdigit() or upce[0] not in "01":
        raise ValueError(f"UPC-E needs 8 digits starting with 0 or 1, got {upce!r}")
    ns, d, check = upce[0], upce[1:7], upce[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return ns + body + check


def parse(raw: str) -> Barcode:
    """Classify a code and work out its catalog keys; raise BarcodeError for a bad check digit."""
    code = raw.strip()
    if not code:
        raise ValueError("empty barcode")
    if not (code.isascii() and code.isdigit() and len(code) in GTIN_LENGTHS):
        return Barcode(raw, Kind.INTERNAL, code, (code,))
    if len(code) == 13:
        _require_check_digit(code, "EAN-13")
        keys = (code, code[1:]) if code[0] == "0" else (code,)
        return Barcode(raw, Kind.EAN13, code, keys)
    if len(code) == 12:
        _require_check_digit(code, "UPC-A")
        ean = upca_to_ean13(code)
        return Barcode(raw, Kind.UPCA, ean, (ean, code))
    # 8 digits: EAN-8, or a UPC-E when it starts with 0 or 1 (a scanner cannot tell us which).
    # Some codes are valid both ways; they are stored like a UPC-E (as the EAN-13 of its UPC-A,
    # which a scanner set to expand UPC-E sends) and looked up in both forms.
    if code[0] in "01" and has_valid_check_digit(upce_to_upca(code)):
        ean = upca_to_ean13(upce_to_upca(code))
        return Barcode(raw, Kind.UPCE, ean, (ean, code))
    if has_valid_check_digit(code):
        return Barcode(raw, Kind.EAN8, code, (code,))
    _require_check_digit(code, "EAN-8")
    raise AssertionError("unreachable")  # pragma: no cover


def _require_check_digit(code: str, name: str) -> None:
    if not has_valid_check_digit(code):
        expected = check_digit(code[:-1])
        raise BarcodeError(
            code, f"not a valid {name} (check digit should be {expected}, not {code[-1]})"
        )


def catalog_key(code: str) -> str:
    """The form a product's barcode is stored in (see the module docstring).

    A GTIN-shaped code with a wrong check digit is kept as given (it cannot be scanned, but a
    catalog from elsewhere is not refused for one bad row)."""
    try:
        return parse(code).key
    except BarcodeError:
        return code.strip()
