"""Barcodes: GS1 check digits, UPC-A/UPC-E to EAN-13, internal codes as plain keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitagora_protocol.barcode import (
    BarcodeError,
    Kind,
    catalog_key,
    check_digit,
    has_valid_check_digit,
    parse,
    upce_to_upca,
    with_check_digit,
)


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=n, max_size=n)


def test_known_codes() -> None:
    assert parse("4006381333931").kind is Kind.EAN13
    assert parse("96385074").kind is Kind.EAN8  # GS1's EAN-8 example
    upca = parse("036000291452")  # GS1's UPC-A example
    assert upca.kind is Kind.UPCA
    assert upca.key == "0036000291452"
    assert upca.lookup_keys == ("0036000291452", "036000291452")
    # The same product scanned as EAN-13 finds rows stored in either form.
    assert parse("0036000291452").lookup_keys == ("0036000291452", "036000291452")


def test_wrong_check_digit_names_the_expected_one() -> None:
    with pytest.raises(BarcodeError, match="EAN-13 .*should be 1, not 2") as caught:
        parse("4006381333932")
    assert caught.value.code == "4006381333932"
    with pytest.raises(BarcodeError, match="UPC-A"):
        parse("036000291453")
    with pytest.raises(BarcodeError, match="EAN-8"):
        parse("96385075")


def test_upc_e_expands_to_upc_a() -> None:
    assert upce_to_upca("01234565") == "012345000065"  # last digit 5-9
    assert upce_to_upca("04252614") == "042100005264"  # last digit 0-2: 42 1 0000 526
    assert upce_to_upca("01234531") == "012300000451"  # last digit 3
    assert upce_to_upca("01234541") == "012340000051"  # last digit 4
    assert has_valid_check_digit(upce_to_upca("01234565"))
    code = parse("04252614")  # not a valid EAN-8, so only a UPC-E
    assert code.kind is Kind.UPCE
    assert code.lookup_keys == ("0042100005264", "04252614")
    assert catalog_key("042100005264") == catalog_key("04252614") == "0042100005264"
    # Valid as EAN-8 and as UPC-E: stored like the UPC-E, looked up both ways.
    assert parse("01234565").lookup_keys == ("0012345000065", "01234565")
    assert parse("96385074").lookup_keys == ("96385074",)  # starts with 9: EAN-8 only


def test_internal_codes_are_plain_keys() -> None:
    for code in ("1234", "20001", "2000123", "ABC-0042", "12345678901234567", "PLU 42"):
        parsed = parse(code)
        assert parsed.kind is Kind.INTERNAL and not parsed.is_gtin
        assert parsed.lookup_keys == (code,)
    assert parse(" 4006381333931 ").key == "4006381333931"  # surrounding blanks go


def test_restricted_circulation_codes_are_checked_whole() -> None:
    in_store = with_check_digit("200123400150")  # prefix 2: an in-store, price-embedded label
    assert parse(in_store).kind is Kind.EAN13 and parse(in_store).key == in_store
    bad = in_store[:-1] + str((int(in_store[-1]) + 1) % 10)
    with pytest.raises(BarcodeError):
        parse(bad)


def test_catalog_key_keeps_a_bad_code_as_given() -> None:
    assert catalog_key("1234567890123") == "1234567890123"  # check digit should be 8


@given(st.sampled_from([7, 11, 12, 13]).flatmap(digits))
def test_computed_check_digit_round_trips(body: str) -> None:
    code = with_check_digit(body)
    assert has_valid_check_digit(code)
    assert check_digit(code[:-1]) == int(code[-1])
    if len(code) in (12, 13):
        assert parse(code).is_gtin


@given(
    st.sampled_from([8, 12, 13, 14]).flatmap(lambda n: digits(n - 1)),
    st.data(),
)
def test_any_single_digit_changed_fails(body: str, data: st.DataObject) -> None:
    code = with_check_digit(body)
    position = data.draw(st.integers(0, len(code) - 1), label="position")
    new_digit = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
    changed = code[:position] + new_digit + code[position + 1 :]
    assert not has_valid_check_digit(changed)
    if len(code) in (12, 13):  # unambiguous lengths: the whole parse refuses it too
        with pytest.raises(BarcodeError):
            parse(changed)


@given(digits(11).map(with_check_digit))
def test_upc_a_is_the_ean_13_with_a_leading_zero(upca: str) -> None:
    assert parse(upca).key == parse("0" + upca).key == "0" + upca
    assert catalog_key(upca) == catalog_key("0" + upca)
