"""A shop's catalog as a CSV file: read (every bad row named by line and column) and written.

docs/CATALOG.md is the user's description of the format; this module is its reference. Pure: the
caller reads and writes the bytes.

Decisions (each keeps a spreadsheet's file from being misread):

- **Encoding**: UTF-8, with or without a byte order mark (Excel's "CSV UTF-8" writes one). Any
  other encoding (a UTF-16 "Unicode text" file, a Windows-1252 "CSV" with an accent in it) is
  refused, naming the line of the first byte that is not UTF-8.
- **Separator**: `,` (the format), or `;` or a tab, as spreadsheets in pt/es/de/fr locales write
  them. It is taken from the header row: the separator that splits it into the required columns.
- **Numbers**: digits with at most one decimal separator, `.` or `,` (so `12.34`, `12,34` and
  `10,5` are read alike whatever the separator; a comma inside a comma-separated file is quoted
  by whoever wrote it). No sign, currency symbol or space. A fractional part of exactly three
  digits (`1.234`, `1,500`) is refused: it may be a thousands separator in the writer's locale,
  and no price or tax rate here has three decimals. More decimals than the currency has are
  refused, never rounded. `tax_percent` may end in `%`; a rate between 0 and 1 (`0.21`) is refused
  as a spreadsheet's fraction of a percent-formatted cell.
- **Barcodes**: `|`-separated. A value a spreadsheet turned into a number (`4.00638E+12`), or a
  GTIN that lost its leading zero (7 or 11 digits that are a valid code with a 0 in front), or a
  GTIN-shaped code with a wrong check digit, is refused: none of them could ever be scanned.
- **Any bad row refuses the whole file**; all problems are reported, each with its line (the
  physical line of the file where the row starts, the header being line 1) and column.
- **Formulas**: a spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a
  carriage return as a formula ("CSV injection"), so a product named `=HYPERLINK(…)` must not
  be exported as such. The text columns (`sku`, `name`, `category`, `barcodes`) are written with
  a leading apostrophe when they start with one of those (spreadsheets show it as text), and
  reading removes it again. A value that itself starts with an apostrophe followed by one of
  those characters or by another apostrophe gets one more, so every value reads back as itself.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from bitagora_protocol import barcode
from bitagora_protocol.catalog import CatalogItem
from bitagora_protocol.money import exponent

REQUIRED = ("sku", "name", "category", "price", "tax_percent", "price_includes_tax", "barcodes")
OPTIONAL = ("tax_code", "position", "active", "currency")
EXPORT_COLUMNS = REQUIRED + OPTIONAL
DELIMITERS = (",", ";", "\t")
TRUE_WORDS = frozenset({"yes", "y", "true", "1"})
FALSE_WORDS = frozenset({"no", "n", "false", "0"})
MAX_LENGTH = {"sku": 64, "name": 200, "category": 100}
MAX_BARCODE = 64
MAX_POSITION = 2**31 - 1

_NUMBER = re.compile(r"(\d{1,12})(?:[.,](\d+))?")
_SCIENTIFIC = re.compile(r"\d+(?:[.,]\d+)?[eE][+-]?\d+")
_TAX_CODE = re.compile(r"[A-Z0-9]{1,4}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPACE = re.compile(r"\s")
_FIRST_LINE = re.compile(r"[^\r\n]*")
# What a spreadsheet reads a cell starting with as a formula, and the apostrophe that stops it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
GUARD = "'"
TEXT_COLUMNS = frozenset({"sku", "name", "category", "barcodes"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file; ``line`` is 1-based (the header is line 1)."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.column:
            where.append(self.column)
        return f"{', '.join(where)}: {self.message}" if where else self.message


class CatalogFileError(ValueError):
    """A catalog file that cannot be taken; ``problems`` lists every one found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(f"  {p}" for p in problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"catalog file refused ({count}; nothing was changed):\n{shown}{more}")


@dataclass(frozen=True)
class CatalogFile:
    """A file read: its products in file order, and what was noticed on the way."""

    currency: str
    items: tuple[CatalogItem, ...]
    delimiter: str
    ignored_columns: tuple[str, ...] = ()


class _Bad(ValueError):
    pass


def parse_catalog(
    data: bytes, currency: str, tax_codes: Mapping[str, int] | None = None
) -> CatalogFile:
    """Read a catalog file's bytes for a till selling in ``currency``.

    ``tax_codes`` are the device's known tax codes (code → basis points): a rate the file gives
    without a ``tax_code`` keeps the code the device already prints for it. Raises
    ``CatalogFileError`` with every problem found."""
    text = _decode(data)
    delimiter, header = _header(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    next(reader)  # the header, already read
    columns = {name: index for index, name in enumerate(header) if name}
    ignored = tuple(name for name in header if name and name not in EXPORT_COLUMNS)
    problems: list[Problem] = []
    rows: list[tuple[int, dict[str, str]]] = []
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            problems.append(Problem(line, None, f"{err} (a quote that is never closed?)"))
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in cells):
            continue  # blank rows: spreadsheets leave them at the end
        if len(cells) > len(header) and any(c.strip() for c in cells[len(header) :]):
            problems.append(
                Problem(
                    start,
                    None,
                    f"{len(cells)} values but the header has {len(header)} columns "
                    f"(a '{_show(delimiter)}' inside a value that is not quoted?)",
                )
            )
            continue
        rows.append(
            (start, {name: cells[i] if i < len(cells) else "" for name, i in columns.items()})
        )
    partials = _items(rows, currency, problems)
    items = [] if problems else _assign_tax_codes(partials, dict(tax_codes or {}), problems)
    if problems:
        raise CatalogFileError(problems)
    return CatalogFile(currency, tuple(item for _, item in items), delimiter, ignored)


def render_catalog(currency: str, items: Iterable[CatalogItem]) -> str:
    """The CSV text of a catalog (comma-separated, ``\\n`` line ends, every column of
    ``EXPORT_COLUMNS``); ``parse_catalog`` reads it back to the same items."""
    digits = exponent(currency)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for item in items:
        writer.writerow(
            (
                guard(item.sku),
                guard(item.name),
                guard(item.category),
                format_minor(item.price, digits),
                format_percent(item.tax_bp),
                "yes" if item.price_includes_tax else "no",
                guard("|".join(item.barcodes)),
                item.tax_code,
                item.position,
                "yes" if item.active else "no",
                currency,
            )
        )
    return out.getvalue()


def guard(value: str) -> str:
    """A text cell as written: with an apostrophe in front when a spreadsheet would run it as a
    formula, or when reading would take its own leading apostrophe away (``unguard``)."""
    return GUARD + value if value.startswith(FORMULA_STARTS) or _guarded(value) else value


def unguard(cell: str) -> str:
    """A text cell as read: without the apostrophe ``guard`` put in front."""
    return cell[1:] if _guarded(cell) else cell


def _guarded(cell: str) -> bool:
    return cell.startswith(GUARD) and cell[1:2] != "" and cell[1:2] in (*FORMULA_STARTS, GUARD)


def format_minor(minor: int, digits: int) -> str:
    """1234, 2 → ``12.34``; 500, 0 → ``500``."""
    if digits == 0:
        return str(minor)
    whole, frac = divmod(minor, 10**digits)
    return f"{whole}.{frac:0{digits}d}"


def format_percent(bp: int) -> str:
    """2100 → ``21``; 1050 → ``10.5``; 5 → ``0.05``."""
    whole, frac = divmod(bp, 100)
    return str(whole) if frac == 0 else f"{whole}.{frac:02d}".rstrip("0")


# -- reading ------------------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CatalogFileError(
            [
                Problem(
                    None,
                    None,
                    "the file is UTF-16 (a spreadsheet's 'Unicode text'): save it as "
                    "'CSV UTF-8 (comma delimited)' instead",
                )
            ]
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise CatalogFileError(
            [
                Problem(
                    line,
                    None,
                    f"byte 0x{data[err.start]:02x} is not UTF-8: the file was saved in another "
                    "encoding (e.g. Windows-1252); save it as 'CSV UTF-8'",
                )
            ]
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise CatalogFileError([Problem(line, None, "a NUL byte: this is not a text file")])
    if not text.strip():
        raise CatalogFileError([Problem(None, None, "the file is empty")])
    return text


def _header(text: str) -> tuple[str, list[str]]:
    first = _FIRST_LINE.match(text).group()  # type: ignore[union-attr]  # always matches
    best: tuple[int, str, list[str]] | None = None
    for delimiter in DELIMITERS:
        names = [n.strip().lower() for n in next(csv.reader([first], delimiter=delimiter))]
        found = sum(1 for name in REQUIRED if name in names)
        if best is None or found > best[0]:
            best = (found, delimiter, names)
    assert best is not None
    found, delimiter, names = best
    if found < len(REQUIRED):
        missing = [name for name in REQUIRED if name not in names]
        raise CatalogFileError(
            [
                Problem(
                    1,
                    None,
                    "the header row must name the columns "
                    f"{','.join(REQUIRED)}; missing: {', '.join(missing)}",
                )
            ]
        )
    doubled = sorted(name for name, count in Counter(n for n in names if n).items() if count > 1)
    if doubled:
        raise CatalogFileError(
            [Problem(1, None, f"column named twice in the header: {', '.join(doubled)}")]
        )
    return delimiter, names


def _show(delimiter: str) -> str:
    return "tab" if delimiter == "\t" else delimiter


def _items(
    rows: list[tuple[int, dict[str, str]]], currency: str, problems: list[Problem]
) -> list[tuple[int, _Partial]]:
    digits = exponent(currency)
    items: list[tuple[int, _Partial]] = []
    sku_lines: dict[str, int] = {}
    barcode_lines: dict[str, tuple[int, str]] = {}
    for order, (line, row) in enumerate(rows):
        bad: list[Problem] = []
        field = _Fields(line, row, bad)
        sku = field("sku", _text, "sku")
        name = field("name", _text, "name")
        category = field("category", _text, "category")
        price = field("price", _decimal, digits, "price")
        tax_bp = field("tax_percent", _tax_percent)
        inclusive = field("price_includes_tax", _yes_no, None)
        codes = field("barcodes", _barcodes)
        tax_code = field("tax_code", _tax_code)
        position = field("position", _position, order)
        active = field("active", _yes_no, True)
        field("currency", _currency, currency)
        if isinstance(sku, str):
            if sku in sku_lines:
                bad.append(Problem(line, "sku", f"{sku} is also on line {sku_lines[sku]}"))
            else:
                sku_lines[sku] = line
        if isinstance(codes, tuple) and isinstance(sku, str):
            for code in codes:
                if code in barcode_lines:
                    other_line, other_sku = barcode_lines[code]
                    where = "this row" if other_sku == sku else f"{other_sku}"
                    bad.append(
                        Problem(
                            line,
                            "barcodes",
                            f"{code} is also on line {other_line} ({where}): a code names "
                            "one product",
                        )
                    )
                else:
                    barcode_lines[code] = (line, sku)
        if bad:
            problems.extend(bad)
            continue
        assert isinstance(sku, str) and isinstance(name, str) and isinstance(category, str)
        assert isinstance(price, int) and isinstance(tax_bp, int) and isinstance(inclusive, bool)
        assert isinstance(codes, tuple) and isinstance(position, int) and isinstance(active, bool)
        fields = (sku, name, category, price, tax_bp, inclusive, codes, position, active)
        items.append((line, _Partial(fields, tax_code if isinstance(tax_code, str) else None)))
    return items


class _Fields:
    """Reads a row's cells, collecting what is wrong with each instead of stopping."""

    def __init__(self, line: int, row: dict[str, str], bad: list[Problem]) -> None:
        self.line, self.row, self.bad = line, row, bad
        self.clean = not _CONTROL.search("".join(row.values()))  # one search a row, not a cell

    def __call__(self, name: str, read: Callable[..., object], *args: object) -> object:
        value = self.row.get(name, "").strip()
        if name in TEXT_COLUMNS:
            value = unguard(value)
        try:
            if not self.clean and _CONTROL.search(value):
                raise _Bad("has a control character (a line break or tab inside a value?)")
            return read(value, *args)
        except _Bad as err:
            self.bad.append(Problem(self.line, name, str(err)))
            return None


@dataclass(frozen=True)
class _Partial:
    """An item's fields (``CatalogItem``'s but the tax code, which may still be assigned)."""

    fields: tuple[str, str, str, int, int, bool, tuple[str, ...], int, bool]
    tax_code: str | None

    @property
    def tax_bp(self) -> int:
        return self.fields[4]

    def item(self, code: str) -> CatalogItem:
        sku, name, category, price, bp, inclusive, codes, position, active = self.fields
        return CatalogItem(sku, name, category, price, code, bp, inclusive, codes, position, active)


def _text(value: str, name: str) -> str:
    if not value:
        raise _Bad("is empty")
    if len(value) > MAX_LENGTH[name]:
        raise _Bad(f"is longer than {MAX_LENGTH[name]} characters")
    return value


def _decimal(value: str, digits: int, what: str) -> int:
    if not value:
        raise _Bad("is empty")
    if value.startswith("-"):
        raise _Bad(f"{value}: a {what} cannot be negative")
    match = _NUMBER.fullmatch(value)
    if not match:
        raise _Bad(
            f"{value!r} is not a number: digits with one decimal point or comma, "
            "no currency sign, spaces or thousands separators"
        )
    whole, frac = match.group(1), match.group(2) or ""
    if len(frac) == 3:
        raise _Bad(
            f"{value}: three digits after the separator could be a thousands separator; "
            f"write the number without grouping and with at most {digits} decimals"
        )
    significant = frac.rstrip("0")
    if len(significant) > digits:
        raise _Bad(f"{value} has more decimals than allowed ({digits})")
    return int(whole + significant.ljust(digits, "0"))


def _tax_percent(value: str) -> int:
    text = value[:-1].rstrip() if value.endswith("%") else value
    bp = _decimal(text, 2, "tax rate")
    if 0 < bp < 100:
        raise _Bad(
            f"{value}: tax_percent is a percentage (21 for 21 %); a rate below 1 % looks like "
            "a spreadsheet's percent cell written as a fraction (0.21)"
        )
    if bp > 10_000:
        raise _Bad(f"{value}: a tax rate above 100 %")
    return bp


def _yes_no(value: str, default: bool | None) -> bool:
    word = value.casefold()
    if not word and default is not None:
        return default
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _Bad(f"{value!r} is not yes or no" if value else "is empty (yes or no)")


def _barcodes(value: str) -> tuple[str, ...]:
    keys: list[str] = []
    for raw in value.split("|"):
        code = raw.strip()
        if not code:
            continue
        if len(code) > MAX_BARCODE:
            raise _Bad(f"{code[:20]}…: a barcode is at most {MAX_BARCODE} characters")
        if _SPACE.search(code):
            raise _Bad(f"{code!r} has a space inside (several codes are separated by |)")
        if _SCIENTIFIC.fullmatch(code):
            raise _Bad(
                f"{code} is a number a spreadsheet rewrote (scientific notation): format the "
                "column as text and export again"
            )
        if code.isascii() and code.isdigit() and len(code) in (7, 11):
            fixed = "0" + code
            try:
                padded = barcode.parse(fixed)
            except barcode.BarcodeError:
                padded = None
            if padded is not None and padded.is_gtin:
                raise _Bad(
                    f"{code} lost its leading zero ({fixed} is a valid {padded.kind.value}): "
                    "format the column as text and export again"
                )
        try:
            key = barcode.parse(code).key
        except barcode.BarcodeError as err:
            raise _Bad(str(err)) from None
        if key in keys:
            raise _Bad(f"{code} is given twice")
        keys.append(key)
    return tuple(keys)


def _tax_code(value: str) -> str | None:
    if not value:
        return None
    code = value.upper()
    if not _TAX_CODE.fullmatch(code):
        raise _Bad(f"{value!r}: a tax code is 1 to 4 letters or digits (A, B, IVA1)")
    return code


def _position(value: str, order: int) -> int:
    if not value:
        return order
    if not value.isascii() or not value.isdigit() or int(value) > MAX_POSITION:
        raise _Bad(f"{value!r} is not a whole number from 0 up")
    return int(value)


def _currency(value: str, currency: str) -> None:
    if value and value.upper() != currency:
        raise _Bad(f"{value}: this till sells in {currency}")


def _assign_tax_codes(
    partials: list[tuple[int, _Partial]],
    device: dict[str, int],
    problems: list[Problem],
) -> list[tuple[int, CatalogItem]]:
    """Give every item a tax code: its own, the one the file gives its rate elsewhere, the one
    the device already uses for its rate, or the next free letter."""
    rate_of: dict[str, tuple[int, int]] = {}  # code → (bp, line)
    codes_of: dict[int, set[str]] = {}
    for line, partial in partials:
        code, bp = partial.tax_code, partial.tax_bp
        if code is None:
            continue
        if code in rate_of and rate_of[code][0] != bp:
            first_bp, first_line = rate_of[code]
            problems.append(
                Problem(
                    line,
                    "tax_code",
                    f"{code} is {format_percent(first_bp)} % on line {first_line} and "
                    f"{format_percent(bp)} % here: one code, one rate",
                )
            )
            continue
        rate_of.setdefault(code, (bp, line))
        codes_of.setdefault(bp, set()).add(code)
    device_code: dict[int, str] = {}
    for code, bp in sorted(device.items()):
        device_code.setdefault(bp, code)
    taken = set(rate_of) | set(device)
    chosen: dict[int, str] = {}
    result: list[tuple[int, CatalogItem]] = []
    for line, partial in partials:
        code = partial.tax_code
        if code is None:
            bp = partial.tax_bp
            given = sorted(codes_of.get(bp, ()))
            if len(given) > 1:
                problems.append(
                    Problem(
                        line,
                        "tax_code",
                        f"is empty, and {format_percent(bp)} % has the codes "
                        f"{' and '.join(given)} in this file: say which",
                    )
                )
                continue
            if given:
                code = given[0]
            elif bp in chosen:
                code = chosen[bp]
            elif bp in device_code and device_code[bp] not in rate_of:
                code = chosen[bp] = device_code[bp]
            else:
                code = chosen[bp] = _free_code(taken)
                taken.add(code)
        result.append((line, partial.item(code)))
    return result


def _free_code(taken: set[str]) -> str:
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if letter not in taken:
            return letter
    number = 1
    while f"T{number}" in taken:
        number += 1
    return f"T{number}"
