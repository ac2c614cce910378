import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.tender import TenderError, change_due, quick_tenders
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
