from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bitagora_protocol.money import CURRENCIES, Money, MoneyError, round_minor


def test_round_minor_is_half_away_from_zero() -> None:
    assert round_minor(Fraction(5, 2)) == 3
    assert round_minor(Fraction(-5, 2)) == -3
    assert round_minor(Fraction(7, 3)) == 2
    assert round_minor(Fraction(-7, 3)) == -2


@given(st.integers(-(10**9), 10**9), st.integers(1, 10**6))
def test_round_minor_is_nearest(numerator: int, denominator: int) -> None:
    value = Fraction(numerator, denominator)
    assert abs(round_minor(value) - value) <= Fraction(1, 2)


def test_parse_and_format() -> None:
    assert Money.parse("12,5", "EUR") == Money(1250, "EUR")
    assert Money.parse("1000", "JPY").format() == "¥1,000"
    assert Money(-305, "EUR").format() == "-€3.05"
    assert Money(1999, "CHF").format() == "19.99 CHF"
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse("1.005", "EUR")
    with pytest.raises(MoneyError, match="not an amount"):
        Money.parse("abc", "EUR")


def test_money_refuses_floats_and_mixing() -> None:
    with pytest.raises(MoneyError):
        Money(1.5, "EUR")  # type: ignore[arg-type]
    with pytest.raises(MoneyError, match="cannot mix"):
        Money(1, "EUR") + Money(1, "USD")
    with pytest.raises(MoneyError, match="unsupported currency"):
        Money(1, "XXX")


@pytest.mark.parametrize(
    ("money", "locale", "text"),
    [
        (Money(123456, "EUR"), "es_ES", "1.234,56\u00a0€"),
        (Money(123456, "BRL"), "pt_BR", "R$\u00a01.234,56"),
        (Money(123456, "MXN"), "es_MX", "$1,234.56"),
        (Money(-305, "EUR"), "en_IE", "-€3.05"),
        (Money(1234, "CLP"), "es_CL", "$1.234"),
    ],
)
def test_localized_follows_the_locale(money: Money, locale: str, text: str) -> None:
    assert money.localized(locale) == text


def test_minor_units_come_from_iso_4217() -> None:
    assert Money.parse("1234", "CLP") == Money(1234, "CLP")
    assert Money.parse("25000", "PYG").minor == 25000
    with pytest.raises(MoneyError, match="more decimals"):
        Money.parse("10,5", "PYG")
    assert Money(123456, "KWD").decimal() == "123.456"


# Each language the device speaks, with the countries its shops are in.
LOCALES = ["en_US", "en_GB", "es_ES", "es_MX", "es_AR", "es_CL", "pt_BR", "pt_PT"]


@pytest.mark.parametrize("locale", LOCALES)
@given(currency=st.sampled_from(sorted(CURRENCIES)), minor=st.integers(-(10**12), 10**12))
def test_a_localized_amount_parses_back(locale: str, currency: str, minor: int) -> None:
    money = Money(minor, currency)
    assert Money.parse(money.localized(locale), currency, locale) == money


@pytest.mark.parametrize("locale", LOCALES)
def test_every_currency_parses_back_in_every_locale(locale: str) -> None:
    """The property above, walked over every currency with one amount that groups digits."""
    for currency in sorted(CURRENCIES):
        money = Money(-1234567, currency)
        assert Money.parse(money.localized(locale), currency, locale) == money, currency
