"""USDT amounts: conversion at a rate (always rounded up), the rate's bounds, formatting."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.btc import RateError
from appliance.core.usdt import check_usdt_rate, fiat_to_usdt_units, format_usdt
from bitagora_protocol.money import Money


def test_conversion_rounds_up_to_the_next_unit() -> None:
    assert fiat_to_usdt_units(Money(1000, "USD"), Decimal("1")) == 10_000_000
    assert (
        fiat_to_usdt_units(Money(1234, "EUR"), Decimal("0.9213")) == 13_394_118
    )  # 13.3941170...: up
    assert (
        fiat_to_usdt_units(Money(25_000_000, "ARS"), Decimal("1187.5")) == 210_526_316
    )  # 210.5263157...: up
    assert (
        fiat_to_usdt_units(Money(1500, "JPY"), Decimal("155.2")) == 9_664_949
    )  # 9.66494845...: up


@given(
    minor=st.integers(1, 10**9),
    rate=st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10) ** 7, places=4),
)
def test_the_merchant_is_never_short(minor: int, rate: Decimal) -> None:
    units = fiat_to_usdt_units(Money(minor, "EUR"), rate)
    worth = Decimal(units) * rate / 10**6
    assert worth * 100 >= minor
    assert Decimal(units - 1) * rate / 10**6 * 100 < minor


def test_unusable_rates_and_amounts_are_refused() -> None:
    for rate in (Decimal(0), Decimal("-1"), Decimal("NaN"), Decimal("0.001"), Decimal(10) ** 8):
        with pytest.raises(RateError):
            check_usdt_rate(rate)
    with pytest.raises(RateError, match="positive amount"):
        fiat_to_usdt_units(Money(0, "EUR"), Decimal(1))


def test_formatting() -> None:
    assert format_usdt(12_340_000) == "12.34 USDT"
    assert format_usdt(13_394_118) == "13.394118 USDT"
    assert format_usdt(1_000_000_000_000) == "1,000,000.00 USDT"
    assert format_usdt(-5) == "-0.000005 USDT"
