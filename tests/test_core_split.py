"""Split tender rules (core/split.py): pure, no I/O."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.sale import Payment, SaleError
from appliance.core.split import Part, SplitSale, cash_part, finished_body, part_body
from bitagora_protocol.money import Money

CART: dict[str, Any] = {
    "sale_id": "s1",
    "currency": "EUR",
    "staff": {"id": "ana", "name": "Ana"},
    "lines": [],
    "taxes": [],
    "subtotal": {"minor": 1500, "currency": "EUR"},
    "tax": {"minor": 120, "currency": "EUR"},
    "total": {"minor": 1620, "currency": "EUR"},
}


def eur(minor: int) -> Money:
    return Money(minor, "EUR")


def with_part(split: SplitSale, body: dict[str, Any]) -> SplitSale:
    """The split sale once ``body`` (a part_paid record) is journalled."""
    part = Part(body["part"], body["payment"], seq=len(split.parts) + 1)
    return SplitSale(split.sale_id, split.cart, (*split.parts, part), split.state)


def test_cash_short_of_the_rest_gives_no_change() -> None:
    split = SplitSale("s1", CART, (), "open")
    payment = cash_part(split, eur(500))
    assert (payment.amount, payment.tendered, payment.change) == (eur(500), eur(500), eur(0))


def test_cash_over_the_rest_pays_the_rest_and_gives_change() -> None:
    split = SplitSale("s1", CART, (), "open")
    split = with_part(split, part_body(split, cash_part(split, eur(1000)), ("ana", "Ana")))
    payment = cash_part(split, eur(2000))
    assert (payment.amount, payment.tendered, payment.change) == (eur(620), eur(2000), eur(1380))


def test_a_card_or_bitcoin_part_may_not_pay_more_than_is_due() -> None:
    split = SplitSale("s1", CART, (), "open")
    split.check_part(eur(1620))
    with pytest.raises(SaleError, match="more than the €16.20 still due"):
        split.check_part(eur(1621))
    with pytest.raises(SaleError, match="more than zero"):
        split.check_part(eur(0))
    with pytest.raises(SaleError, match="must be in EUR"):
        split.check_part(Money(100, "USD"))
    with pytest.raises(SaleError, match="given back"):
        SplitSale("s1", CART, (), "given_back").check_part(eur(100))


def test_the_sale_needs_every_cent() -> None:
    split = SplitSale("s1", CART, (), "open")
    with pytest.raises(SaleError, match="still due"):
        finished_body(split)


@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12))
def test_cash_parts_never_pay_more_than_the_total(tenders: list[int]) -> None:
    split = SplitSale("s1", CART, (), "open")
    changes = []
    for tendered in tenders:
        if split.remaining.minor == 0:
            with pytest.raises(SaleError, match="nothing is due"):
                cash_part(split, eur(tendered))
            break
        payment = cash_part(split, eur(tendered))
        assert payment.change is not None
        changes.append(payment.change.minor)
        split = with_part(split, part_body(split, payment, ("ana", "Ana")))
    assert split.paid.minor <= 1620
    assert [p.number for p in split.parts] == list(range(1, len(split.parts) + 1))
    # Change only on the part that covered the rest, and only then may the sale be recorded.
    assert all(c == 0 for c in changes[:-1])
    if split.remaining.minor == 0:
        body = finished_body(split)
        assert sum(p["amount"] for p in body["payments"]) == 1620
        assert sum(p["tendered"] - p["change"] for p in body["payments"]) == 1620
    else:
        assert changes[-1] == 0


def test_only_the_cash_part_that_pays_the_rest_is_rounded() -> None:
    split = SplitSale("s1", CART, (), "open")  # 16.20 due, cash rounded to 0.05
    short = cash_part(split, eur(1000), increment=5)
    assert (short.amount, short.details) == (eur(1000), {})
    card = Payment("card", eur(498))
    split = with_part(split, part_body(split, short, ("ana", "Ana")))
    split = with_part(split, part_body(split, card, ("ana", "Ana")))
    assert split.remaining == eur(122)
    last = cash_part(split, eur(200), increment=5)
    assert (last.amount, last.change, last.details) == (eur(120), eur(80), {"rounding": -2})
    split = with_part(split, part_body(split, last, ("ana", "Ana")))
    assert split.remaining == eur(0)
    up = SplitSale("s2", {**CART, "total": {"minor": 123, "currency": "EUR"}}, (), "open")
    with pytest.raises(SaleError, match="does not cover the €1.25 due in cash"):
        cash_part(up, eur(124), increment=5)
    body = finished_body(split)
    assert body["rounding"] == -2
    assert sum(p["amount"] for p in body["payments"]) == 1620 - 2


@given(
    st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=12),
    st.sampled_from([5, 10, 50]),
    st.integers(min_value=1, max_value=5000),
)
def test_rounded_cash_parts_settle_the_total(
    tenders: list[int], increment: int, total: int
) -> None:
    cart = {**CART, "total": {"minor": total, "currency": "EUR"}}
    split = SplitSale("s1", cart, (), "open")
    for tendered in tenders:
        if split.remaining.minor == 0:
            break
        try:
            payment = cash_part(split, eur(tendered), increment)
        except SaleError as refused:  # more than the rest, short of the rest rounded up
            assert split.remaining.minor <= tendered < split.remaining.minor + increment
            assert "due in cash" in str(refused)
            continue
        split = with_part(split, part_body(split, payment, ("ana", "Ana")))
    if split.remaining.minor == 0:
        body = finished_body(split)
        rounding = body.get("rounding", 0)
        assert 2 * abs(rounding) <= increment
        assert sum(p["amount"] for p in body["payments"]) == total + rounding
        # Only the last part, the one that paid the rest, may carry a rounding.
        assert all("rounding" not in p for p in body["payments"][:-1])
    else:
        assert all("rounding" not in p.payment for p in split.parts)
