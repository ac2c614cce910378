"""Reading and writing a shop's catalog file (bitagora_protocol/catalog_csv.py, docs/CATALOG.md):
what a spreadsheet writes is taken or refused in words, never misread; every bad row is named by
line and column; what is written reads back the same."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bitagora_protocol.barcode import with_check_digit
from bitagora_protocol.catalog import CatalogItem
from bitagora_protocol.catalog_csv import (
    CatalogFileError,
    Problem,
    format_percent,
    parse_catalog,
    render_catalog,
)

HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes"
GOOD = (
    HEADER + "\n"
    "espresso,Espresso,Drinks,1.80,10,yes,4006381333931\n"
    'water,Água mineral,Drinks,"1,50",10,yes,5449000000996|036000291452\n'
    "mug,BitAgora mug,Merch,12,21,no,\n"
)


def problems(data: str | bytes, currency: str = "EUR") -> list[tuple[int | None, str | None]]:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog(raw, currency)
    return [(p.line, p.column) for p in caught.value.problems]


def one_problem(row: str, currency: str = "EUR") -> Problem:
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog((HEADER + "\n" + row + "\n").encode(), currency)
    assert len(caught.value.problems) == 1, caught.value.problems
    return caught.value.problems[0]


def test_a_plain_file_is_read_in_order_with_prices_in_minor_units() -> None:
    parsed = parse_catalog(GOOD.encode(), "EUR")
    assert parsed.delimiter == ","
    espresso, water, mug = parsed.items
    assert espresso == CatalogItem(
        "espresso", "Espresso", "Drinks", 180, "A", 1000, True, ("4006381333931",), 0, True
    )
    # "1,50" quoted in a comma file is a decimal comma; a UPC-A is kept as its EAN-13.
    assert water.price == 150 and water.barcodes == ("5449000000996", "0036000291452")
    assert (mug.price, mug.tax_bp, mug.price_includes_tax, mug.barcodes) == (1200, 2100, False, ())
    # Without tax_code: a new letter per rate, in file order; positions follow the file.
    assert [(i.tax_code, i.position) for i in parsed.items] == [("A", 0), ("A", 1), ("B", 2)]


def test_tax_codes_already_on_the_device_are_kept_for_their_rates() -> None:
    parsed = parse_catalog(GOOD.encode(), "EUR", {"A": 2100, "B": 1000})
    assert [i.tax_code for i in parsed.items] == ["B", "B", "A"]
    # A code the file gives to another rate is not reused for the device's rate.
    data = HEADER + ",tax_code\nx,X,C,1,10,yes,,A\ny,Y,C,1,21,yes,,\n"
    assert [i.tax_code for i in parse_catalog(data.encode(), "EUR", {"A": 2100}).items] == [
        "A",
        "B",
    ]


def test_a_spreadsheet_export_with_bom_semicolons_and_decimal_commas_reads_the_same() -> None:
    excel = (
        "\ufeffSKU;Name;Category;Price;Tax_Percent;Price_Includes_Tax;Barcodes;Notes\r\n"
        "espresso;Espresso;Drinks;1,80;10;YES;4006381333931;\r\n"
        "water;Água mineral;Drinks;1,5;10;yes;5449000000996|036000291452;cold\r\n"
        "mug;BitAgora mug;Merch;12;21%;No;;\r\n"
        ";;;;;;;\r\n"
    )
    parsed = parse_catalog(excel.encode("utf-8"), "EUR")
    assert parsed.delimiter == ";" and parsed.ignored_columns == ("notes",)
    assert parsed.items == parse_catalog(GOOD.encode(), "EUR").items


def test_a_tab_separated_export_is_read_too() -> None:
    tsv = GOOD.replace('"1,50"', "1.50").replace(",", "\t")
    assert parse_catalog(tsv.encode(), "EUR").items == parse_catalog(GOOD.encode(), "EUR").items


def test_other_encodings_are_refused_in_words() -> None:
    with pytest.raises(CatalogFileError, match="UTF-16"):
        parse_catalog(GOOD.encode("utf-16"), "EUR")
    with pytest.raises(CatalogFileError, match="save it as 'CSV UTF-8'") as caught:
        parse_catalog(GOOD.encode("cp1252"), "EUR")
    assert caught.value.problems[0].line == 3  # the line of "Água"
    assert problems(b"") == [(None, None)]


def test_a_header_without_the_required_columns_is_refused() -> None:
    with pytest.raises(CatalogFileError, match="missing: tax_percent, barcodes"):
        parse_catalog(b"sku,name,category,price,price_includes_tax\n", "EUR")
    with pytest.raises(CatalogFileError, match="named twice"):
        parse_catalog((HEADER + ",sku\n").encode(), "EUR")


@pytest.mark.parametrize(
    ("row", "column", "words"),
    [
        (",Espresso,Drinks,1.80,10,yes,", "sku", "is empty"),
        ("e,,Drinks,1.80,10,yes,", "name", "is empty"),
        ("e,E,,1.80,10,yes,", "category", "is empty"),
        ("e,E,D,,10,yes,", "price", "is empty"),
        ("e,E,D,€1.80,10,yes,", "price", "not a number"),
        ("e,E,D,-1.80,10,yes,", "price", "negative"),
        ("e,E,D,1.805,10,yes,", "price", "thousands separator"),
        ('e,E,D,"1,234",10,yes,', "price", "thousands separator"),
        ("e,E,D,1.8051,10,yes,", "price", "more decimals"),
        ("e,E,D,1 000,10,yes,", "price", "not a number"),
        ("e,E,D,1.80,0.21,yes,", "tax_percent", "percentage"),
        ("e,E,D,1.80,121,yes,", "tax_percent", "above 100"),
        ("e,E,D,1.80,10.125,yes,", "tax_percent", "thousands separator"),
        ("e,E,D,1.80,10,maybe,", "price_includes_tax", "not yes or no"),
        ("e,E,D,1.80,10,,", "price_includes_tax", "is empty"),
        ("e,E,D,1.80,10,yes,4.00638E+12", "barcodes", "scientific notation"),
        ("e,E,D,1.80,10,yes,36000291452", "barcodes", "leading zero"),
        ("e,E,D,1.80,10,yes,4006381333932", "barcodes", "check digit"),
        ("e,E,D,1.80,10,yes,12 34", "barcodes", "space inside"),
        ("e,E,D,1.80,10,yes,4006381333931|4006381333931", "barcodes", "twice"),
        ('e,"Two\nlines",D,1.80,10,yes,', "name", "control character"),
    ],
)
def test_each_kind_of_bad_value_is_named_by_line_and_column(
    row: str, column: str, words: str
) -> None:
    problem = one_problem(row)
    assert (problem.line, problem.column) == (2, column)
    assert words in problem.message
    assert str(problem).startswith(f"line 2, {column}: ")


def test_optional_columns_are_checked_too() -> None:
    header = HEADER + ",tax_code,position,active,currency"
    bad = [
        "a,A,C,1,10,yes,,A!,0,yes,EUR",
        "b,B,C,1,10,yes,,B,-1,yes,EUR",
        "c,C,C,1,10,yes,,B,0,sometimes,EUR",
        "d,D,C,1,10,yes,,B,0,yes,USD",
    ]
    assert problems(header + "\n" + "\n".join(bad) + "\n") == [
        (2, "tax_code"),
        (3, "position"),
        (4, "active"),
        (5, "currency"),
    ]


def test_rows_that_clash_name_the_other_line() -> None:
    data = (
        HEADER + ",tax_code\n"
        "a,A,C,1,10,yes,4006381333931,B\n"
        "a,A again,C,1,10,yes,,B\n"
        "b,B,C,1,21,yes,4006381333931,B\n"
    )
    with pytest.raises(CatalogFileError) as caught:
        parse_catalog(data.encode(), "EUR")
    found = [(p.line, p.column, p.message) for p in caught.value.problems]
    assert found[0][:2] == (3, "sku") and "also on line 2" in found[0][2]
    assert found[1][:2] == (4, "barcodes") and "also on line 2 (a)" in found[1][2]


def test_one_code_for_two_rates_is_refused_after_the_rows_are_read() -> None:
    data = HEADER + ",tax_code\na,A,C,1,10,yes,,B\nb,B,C,1,21,yes,,B\n"
    assert problems(data) == [(3, "tax_code")]


def test_every_bad_row_is_reported_not_only_the_first() -> None:
    rows = [f"p{i},P{i},C,{'x' if i % 3 == 0 else '1'},10,yes," for i in range(30)]
    found = problems(HEADER + "\n" + "\n".join(rows) + "\n")
    assert found == [(i + 2, "price") for i in range(0, 30, 3)]
    with pytest.raises(CatalogFileError, match=r"10 problems; nothing was changed"):
        parse_catalog((HEADER + "\n" + "\n".join(rows) + "\n").encode(), "EUR")


def test_line_numbers_count_physical_lines_and_skip_blank_rows() -> None:
    data = (
        HEADER + "\n"
        'a,"A name with a\n'
        'second line",C,1,10,yes,\n'  # refused (control character), and spans lines 2-3
        "\n"
        "b,B,C,x,10,yes,\n"
    )
    assert problems(data) == [(2, "name"), (5, "price")]


def test_a_row_with_more_values_than_the_header_is_refused() -> None:
    # A decimal comma typed unquoted into a comma-separated file shifts every value after it.
    problem = one_problem("a,A,C,1,50,10,yes,4006381333931")
    assert problem.line == 2 and problem.column is None and "8 values" in problem.message


def test_an_unclosed_quote_is_reported() -> None:
    assert problems(HEADER + '\na,"A,C,1,10,yes,\n') == [(2, None)]


def test_currencies_without_decimals() -> None:
    data = HEADER + "\nramen,Ramen,Food,980,10,yes,\n"
    assert parse_catalog(data.encode(), "JPY").items[0].price == 980
    assert one_problem("ramen,Ramen,Food,980.5,10,yes,", "JPY").column == "price"
    assert one_problem("ramen,Ramen,Food,1.000,10,yes,", "JPY").column == "price"


def test_written_files_read_back_to_the_same_items() -> None:
    items = parse_catalog(GOOD.encode(), "EUR").items
    text = render_catalog("EUR", items)
    assert text.splitlines()[0] == HEADER + ",tax_code,position,active,currency"
    assert text.splitlines()[2] == (
        "water,Água mineral,Drinks,1.50,10,yes,5449000000996|0036000291452,A,1,yes,EUR"
    )
    assert parse_catalog(text.encode(), "EUR").items == items


def test_no_exported_cell_is_a_formula_and_every_value_reads_back() -> None:
    """A product named like a formula must not run when the export is opened in a spreadsheet
    (CSV injection): its cell starts with an apostrophe, which import takes away again."""
    names = ['=HYPERLINK("http://x","y")', "+1", "-20% pack", "@SUM(A1)", "'=x", "''", "'Tis"]
    items = tuple(
        CatalogItem(f"-sku{i}", name, "=Cat", 100, "A", 2100, barcodes=("@PLU1",) if i == 1 else ())
        for i, name in enumerate(names)
    )
    text = render_catalog("EUR", items)
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert [row[1] for row in rows] == [
        """'=HYPERLINK("http://x","y")""",
        "'+1",
        "'-20% pack",
        "'@SUM(A1)",
        "''=x",
        "'" * 3,
        "'Tis",
    ]
    assert [(row[0], row[2]) for row in rows[:2]] == [("'-sku0", "'=Cat"), ("'-sku1", "'=Cat")]
    assert rows[1][6] == "'@PLU1"
    for cell in (cell for row in rows for cell in row):
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert parse_catalog(text.encode(), "EUR").items == items
    # A hand-written file may guard a value the same way; other apostrophes are kept.
    typed = HEADER + "\nx,'=1+1,'Food,1,10,yes,\n"
    item = parse_catalog(typed.encode(), "EUR").items[0]
    assert (item.name, item.category) == ("=1+1", "'Food")


def test_percentages_are_written_without_trailing_zeros() -> None:
    assert [format_percent(bp) for bp in (2100, 1050, 550, 5, 0, 10000)] == [
        "21",
        "10.5",
        "5.5",
        "0.05",
        "0",
        "100",
    ]


def _ean13(body: int) -> str:
    return with_check_digit(f"{body:012d}")


_text = (
    st.tuples(
        # Often starting as a formula (or an apostrophe and one), which export must guard.
        st.sampled_from(["", "", "=", "+", "-", "@", "'", "'=", "''"]),
        st.text(
            alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
            min_size=1,
            max_size=30,
        ),
    )
    .map("".join)
    .map(str.strip)
    .filter(bool)
)
_items = st.lists(
    st.builds(
        CatalogItem,
        sku=st.from_regex(r"[A-Za-z0-9_.\-]{1,20}", fullmatch=True),
        name=_text,
        category=_text,
        price=st.integers(0, 10**9),
        tax_code=st.sampled_from(["A", "B", "IVA1"]),
        tax_bp=st.just(0),  # set from the code below: one code, one rate
        price_includes_tax=st.booleans(),
        barcodes=st.lists(
            st.one_of(
                st.integers(10**11, 10**12 - 1).map(_ean13),
                st.from_regex(r"[=+@-]?PLU-[A-Z0-9]{1,8}", fullmatch=True),
            ),
            max_size=3,
            unique=True,
        ).map(tuple),
        position=st.integers(0, 10**6),
        active=st.booleans(),
    ),
    max_size=25,
    unique_by=lambda i: i.sku,
)
_RATES = {"A": 2100, "B": 1000, "IVA1": 550}


@settings(max_examples=150, deadline=None)
@given(_items, st.sampled_from(["EUR", "JPY"]))
def test_any_catalog_survives_export_and_import(items: list[CatalogItem], currency: str) -> None:
    from dataclasses import replace

    codes_seen: set[str] = set()
    unique = []
    for item in items:
        if set(item.barcodes) & codes_seen:
            continue
        codes_seen |= set(item.barcodes)
        unique.append(replace(item, tax_bp=_RATES[item.tax_code]))
    text = render_catalog(currency, unique)
    assert parse_catalog(text.encode("utf-8"), currency).items == tuple(unique)
    # The same through a spreadsheet that saves with a BOM and CRLF line ends.
    excel = ("\ufeff" + text.replace("\n", "\r\n")).encode("utf-8")
    assert parse_catalog(excel, currency).items == tuple(unique)
