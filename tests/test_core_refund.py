"""core/refund.py: refunds by line never give back more than the sale had (lines, tax, money per
method), and refunding everything in any order gives back exactly the sale."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.cart import Cart
from appliance.core.money import Money
from appliance.core.refund import LineChoice, RefundError, plan_refund
from appliance.core.sale import Payment, sale_body
from appliance.store.seed import demo_products

PRODUCTS = demo_products("EUR")


def body_of(refund: Any) -> dict[str, Any]:
    return {
        "lines": refund.lines,
        "taxes": refund.taxes,
        "total": {"minor": refund.total.minor, "currency": "EUR"},
        "payments": [{"method": m, "amount": a.minor} for m, a, _ in refund.payments],
    }


def make_sale(items: list[tuple[int, int]], split: int, methods: tuple[str, str]) -> dict:
    cart = Cart("EUR")
    for index, qty in items:
        cart.add(PRODUCTS[index], qty)
    total = cart.totals().total
    first = Money(min(split, total.minor), "EUR")
    payments = [Payment(methods[0], first)]
    if total.minor - first.minor:
        payments.append(Payment(methods[1], total - first))
    return sale_body("s", cart, "ana", "Ana", payments)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(0, len(PRODUCTS) - 1), st.integers(1, 5)), min_size=1, max_size=5
    ),
    split=st.integers(0, 5000),
    order=st.randoms(use_true_random=False),
)
def test_refunds_in_pieces_never_exceed_and_add_up(items, split, order) -> None:  # type: ignore[no-untyped-def]
    sale = make_sale(items, split, ("cash", "card"))
    pieces = [
        LineChoice(i, 1) for i, line in enumerate(sale["lines"]) for _ in range(line["quantity"])
    ]
    order.shuffle(pieces)
    done: list[dict[str, Any]] = []
    for piece in pieces:
        done.append(body_of(plan_refund(sale, done, [piece])))
        for group in sale["taxes"]:
            for key in ("net", "tax", "gross"):
                got = sum(t[key] for r in done for t in r["taxes"] if t["code"] == group["code"])
                assert 0 <= got <= group[key]
        for paid in sale["payments"]:
            back = sum(
                p["amount"] for r in done for p in r["payments"] if p["method"] == paid["method"]
            )
            assert back <= paid["amount"]
    assert sum(r["total"]["minor"] for r in done) == sale["total"]["minor"]
    for group in sale["taxes"]:
        assert (
            sum(t["tax"] for r in done for t in r["taxes"] if t["code"] == group["code"])
            == group["tax"]
        )
    with pytest.raises(RefundError, match="nothing is left"):
        plan_refund(sale, done)


def test_whole_refund_repays_each_method_exactly() -> None:
    sale = make_sale([(0, 3), (10, 1)], 333, ("lightning", "cash"))
    plan = plan_refund(sale, [])
    assert [(m, a.minor) for m, a, _ in plan.payments] == [
        (p["method"], p["amount"]) for p in sale["payments"]
    ]


def test_rounding_remainder_goes_to_cash_first() -> None:
    sale = make_sale([(0, 1), (1, 1)], 235, ("card", "cash"))  # 4.70: 2.35 card, 2.35 cash
    plan = plan_refund(sale, [], [LineChoice(0, 1)])  # 1.80 back: 0.90 each
    assert [(m, a.minor) for m, a, _ in plan.payments] == [("card", 90), ("cash", 90)]
    sale = make_sale([(0, 1), (1, 1)], 236, ("card", "cash"))  # 2.36 card, 2.34 cash
    plan = plan_refund(sale, [], [LineChoice(1, 1)])  # 2.90: 145.6 / 144.4 → 145 + 144, +1 cash
    assert [(m, a.minor) for m, a, _ in plan.payments] == [("card", 145), ("cash", 145)]
