import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.tender import (
    TenderError,
    cash_payment,
    change_due,
    quick_tenders,
    rounded_cash,
)
from bitagora_protocol.money import Money


def test_quick_tenders_for_a_typical_total() -> None:
    amounts = [m.minor for m in quick_tenders(Money(1240, "EUR"))]
    assert amounts == [1240, 1300, 1500, 2000, 5000, 10000]


def test_change_refuses_short_tender() -> None:
    assert change_due(Money(1240, "EUR"), Money(2000, "EUR")) == Money(760, "EUR")
    with pytest.raises(TenderError, match="does not cover"):
        change_due(Money(1240, "EUR"), Money(1000, "EUR"))
    with pytest.raises(TenderError):
        change_due(Money(1240, "EUR"), Money(2000, "USD"))


@given(st.integers(1, 10**7), st.sampled_from(["EUR", "USD", "JPY", "BRL"]))
def test_quick_tenders_cover_the_total(total_minor: int, currency: str) -> None:
    total = Money(total_minor, currency)
    offers = quick_tenders(total)
    assert offers[0] == total  # exact is always first
    assert offers == sorted(set(offers))
    for offer in offers:
        change = change_due(total, offer)
        assert change.minor >= 0 and change + total == offer


@given(st.integers(0, 10**7), st.integers(0, 10**7))
def test_change_is_tender_minus_total(total: int, extra: int) -> None:
    assert change_due(Money(total, "EUR"), Money(total + extra, "EUR")).minor == extra


# -- cash rounding -------------------------------------------------------------------------------


def test_cash_is_rounded_to_the_nearest_increment_halves_up() -> None:
    rounded = [rounded_cash(Money(m, "CHF"), 5).minor for m in (100, 101, 102, 103, 104, 105)]
    assert rounded == [100, 100, 100, 105, 105, 105]
    assert rounded_cash(Money(102, "EUR"), 1) == Money(102, "EUR")
    assert rounded_cash(Money(1240, "CLP"), 10) == Money(1240, "CLP")
    assert rounded_cash(Money(1245, "CLP"), 10) == Money(1250, "CLP")
    with pytest.raises(TenderError, match="1 or more"):
        rounded_cash(Money(102, "EUR"), 0)


def test_a_rounded_cash_payment_says_its_rounding() -> None:
    payment = cash_payment(Money(102, "EUR"), Money(500, "EUR"), 5)
    assert (payment.amount, payment.change) == (Money(100, "EUR"), Money(400, "EUR"))
    assert payment.details == {"rounding": -2}
    assert cash_payment(Money(102, "EUR"), Money(500, "EUR")).details == {}
    with pytest.raises(TenderError, match="does not cover"):
        cash_payment(Money(103, "EUR"), Money(104, "EUR"), 5)  # 1.05 due in cash


@given(
    st.integers(0, 10**9),
    st.sampled_from([1, 2, 5, 10, 20, 25, 50, 100]),
    st.sampled_from(["EUR", "CHF", "CLP", "BRL"]),
)
def test_rounded_cash_is_within_half_an_increment(due: int, increment: int, cur: str) -> None:
    rounded = rounded_cash(Money(due, cur), increment)
    assert rounded.minor % increment == 0
    assert 2 * abs(rounded.minor - due) < increment or 2 * (rounded.minor - due) == increment
    payment = cash_payment(Money(due, cur), rounded, increment)
    assert payment.amount.minor == due + payment.details.get("rounding", 0)
