from decimal import Decimal
from fractions import Fraction
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.btc import (
    MAX_RATE,
    MIN_RATE,
    SATS_PER_BTC,
    BtcError,
    RateError,
    bip21_uri,
    btc_string,
    check_rate,
    fiat_to_msat,
    fiat_to_sat,
    format_btc,
    format_sats,
    sat_to_fiat,
)
from appliance.core.report import DENOMINATIONS
from bitagora_protocol.money import Money, exponent

ADDRESS = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
INVOICE = "lnbc1230n1pjexampleinvoicedata0qqqsp5"

rates = st.decimals(min_value=MIN_RATE, max_value=MAX_RATE, places=8, allow_nan=False)
currencies = st.sampled_from(sorted(DENOMINATIONS))
amounts = st.integers(1, 10**9)


def test_known_conversions_round_up() -> None:
    rate = Decimal("50000")
    assert fiat_to_sat(Money(100, "EUR"), rate) == 2000  # 1 EUR = 0.00002 BTC exactly
    assert fiat_to_msat(Money(100, "EUR"), rate) == 2_000_000
    # 1 cent at 61234.56 EUR/BTC = 16.3306... sats → 17 sats, 16331 msat
    assert fiat_to_sat(Money(1, "EUR"), Decimal("61234.56")) == 17
    assert fiat_to_msat(Money(1, "EUR"), Decimal("61234.56")) == 16331
    assert fiat_to_sat(Money(1000, "JPY"), Decimal("15000000")) == 6667  # 6666.67 → 6667


@pytest.mark.parametrize(
    "rate",
    [Decimal(0), Decimal(1), Decimal(-5), Decimal("NaN"), Decimal("Infinity"), MAX_RATE * 10],
)
def test_unusable_rates_are_refused(rate: Decimal) -> None:
    with pytest.raises(RateError):
        fiat_to_sat(Money(100, "EUR"), rate)


def test_a_float_rate_is_refused() -> None:
    with pytest.raises(RateError, match="Decimal"):
        check_rate(50000.0)  # type: ignore[arg-type]


@pytest.mark.parametrize("minor", [0, -100])
def test_non_positive_amounts_are_refused(minor: int) -> None:
    with pytest.raises(BtcError, match="positive"):
        fiat_to_msat(Money(minor, "EUR"), Decimal("50000"))


@given(amounts, rates, currencies)
def test_sats_at_the_rate_cover_the_fiat_amount(minor: int, rate: Decimal, currency: str) -> None:
    amount = Money(minor, currency)
    exact = Fraction(minor, 10 ** exponent(currency))
    sats = fiat_to_sat(amount, rate)
    msat = fiat_to_msat(amount, rate)
    assert isinstance(sats, int) and isinstance(msat, int)
    assert Fraction(sats, SATS_PER_BTC) * Fraction(rate) >= exact  # never short
    assert Fraction(sats - 1, SATS_PER_BTC) * Fraction(rate) < exact  # at most one sat over
    assert Fraction(msat, SATS_PER_BTC * 1000) * Fraction(rate) >= exact
    assert Fraction(msat - 1, SATS_PER_BTC * 1000) * Fraction(rate) < exact
    assert sats == -(-msat // 1000)


@given(amounts, amounts, rates)
def test_conversion_is_monotonic_in_the_amount(a: int, b: int, rate: Decimal) -> None:
    low, high = sorted((a, b))
    assert fiat_to_sat(Money(low, "EUR"), rate) <= fiat_to_sat(Money(high, "EUR"), rate)
    assert fiat_to_msat(Money(low, "EUR"), rate) <= fiat_to_msat(Money(high, "EUR"), rate)


@given(amounts, rates, rates)
def test_conversion_is_antitonic_in_the_rate(minor: int, r1: Decimal, r2: Decimal) -> None:
    low, high = sorted((r1, r2))
    amount = Money(minor, "USD")
    assert fiat_to_msat(amount, high) <= fiat_to_msat(amount, low)


@given(st.integers(1, 10**12), rates)
def test_sat_to_fiat_is_the_nearest_minor_unit(sats: int, rate: Decimal) -> None:
    worth = sat_to_fiat(sats, rate, "EUR")
    exact = Fraction(sats, SATS_PER_BTC) * Fraction(rate) * 100
    assert abs(worth.minor - exact) <= Fraction(1, 2)


def test_btc_strings() -> None:
    assert btc_string(12345) == "0.00012345"
    assert btc_string(SATS_PER_BTC) == "1.00000000"
    assert btc_string(SATS_PER_BTC, trim=True) == "1"
    assert btc_string(10_000, trim=True) == "0.0001"
    assert btc_string(150_000_000, trim=True) == "1.5"
    assert format_btc(1) == "0.00000001 BTC"
    assert format_sats(1) == "1 sat"
    assert format_sats(12345) == "12,345 sats"
    with pytest.raises(BtcError):
        btc_string(-1)
    with pytest.raises(BtcError):
        btc_string(1.5)  # type: ignore[arg-type]


@given(st.integers(1, 21_000_000 * SATS_PER_BTC))
def test_btc_string_is_exact(sats: int) -> None:
    text = btc_string(sats, trim=True)
    assert "e" not in text.lower()
    assert len(text.partition(".")[2]) <= 8
    assert Decimal(text) * SATS_PER_BTC == sats


def test_bip21_unified_uri() -> None:
    uri = bip21_uri(ADDRESS, 12345, label="Café Ana #7", message="a&b=c", lightning=INVOICE)
    assert uri == (
        f"bitcoin:{ADDRESS}?amount=0.00012345&label=Caf%C3%A9%20Ana%20%237"
        f"&message=a%26b%3Dc&lightning={INVOICE}"
    )
    query = parse_qs(urlsplit(uri).query)
    assert query["label"] == ["Café Ana #7"]
    assert query["message"] == ["a&b=c"]
    assert bip21_uri(ADDRESS) == f"bitcoin:{ADDRESS}"
    assert bip21_uri(ADDRESS, SATS_PER_BTC) == f"bitcoin:{ADDRESS}?amount=1"


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("not an address", 1), "address"),
        ((ADDRESS, 0), "positive"),
        ((ADDRESS, 22_000_000 * SATS_PER_BTC), "not an amount"),
    ],
)
def test_bip21_refuses_bad_parts(args: tuple[str, int], match: str) -> None:
    with pytest.raises(BtcError, match=match):
        bip21_uri(*args)
    with pytest.raises(BtcError, match="BOLT11"):
        bip21_uri(ADDRESS, 1, lightning="lnbc1&amount=2")
