"""core/refund.py: refunds by line never give back more than the sale had (lines, tax, money per
method), and refunding everything in any order gives back exactly the sale."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.cart import Cart
from appliance.core.refund import LineChoice, RefundError, allocate, plan_refund
from appliance.core.sale import Payment, cart_body, sale_body, with_payments
from appliance.core.tender import cash_payment
from bitagora_devtools.seed import demo_products
from bitagora_protocol.money import Money

PRODUCTS = demo_products("EUR")


def body_of(refund: Any) -> dict[str, Any]:
    return {
        "lines": refund.lines,
        "taxes": refund.taxes,
        "total": {"minor": refund.total.minor, "currency": "EUR"},
        "payments": [
            {"method": m, "amount": a.minor}
            | ({"payment_intent": paid["payment_intent"]} if "payment_intent" in paid else {})
            for m, a, paid in refund.payments
        ],
    }


def card(amount: int, intent: str) -> dict[str, Any]:
    return {"method": "card", "amount": amount, "payment_intent": intent}


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


def test_later_refunds_of_a_split_card_sale_go_to_what_each_card_has_left() -> None:
    # Two card parts, each its own PaymentIntent: a second refund must not be charged against
    # the first card's history (Stripe would refuse 50 on a card with 35 left).
    sale = {"payments": [card(30, "pi_A"), card(70, "pi_B")]}
    first = allocate(sale, [], Money(50, "EUR"))
    assert [(p["payment_intent"], a.minor) for _, a, p in first] == [("pi_A", 15), ("pi_B", 35)]
    done = [{"payments": [card(a.minor, p["payment_intent"]) for _, a, p in first]}]
    second = allocate(sale, done, Money(50, "EUR"))
    assert [(p["payment_intent"], a.minor) for _, a, p in second] == [("pi_A", 15), ("pi_B", 35)]
    done.append({"payments": [card(a.minor, p["payment_intent"]) for _, a, p in second]})
    with pytest.raises(RefundError, match="more than the €0.00 left"):
        allocate(sale, done, Money(1, "EUR"))


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.integers(0, len(PRODUCTS) - 1), st.integers(1, 5)), min_size=1, max_size=5
    ),
    cuts=st.lists(st.integers(0, 10_000), min_size=3, max_size=3),
    order=st.randoms(use_true_random=False),
)
def test_refunds_of_split_card_parts_never_exceed_any_part(items, cuts, order) -> None:  # type: ignore[no-untyped-def]
    cart = Cart("EUR")
    for index, qty in items:
        cart.add(PRODUCTS[index], qty)
    total = cart.totals().total.minor
    a, b, c = sorted(min(x, total) for x in cuts)
    parts = [("pi_A", a), ("pi_B", b - a), ("cash", c - b), ("pi_C", total - c)]
    payments = [
        Payment("cash", Money(n, "EUR"))
        if name == "cash"
        else Payment("card", Money(n, "EUR"), details={"payment_intent": name})
        for name, n in parts
        if n
    ]
    sale = sale_body("s", cart, "ana", "Ana", payments)
    pieces = [
        LineChoice(i, 1) for i, line in enumerate(sale["lines"]) for _ in range(line["quantity"])
    ]
    order.shuffle(pieces)
    done: list[dict[str, Any]] = []

    def back(paid: dict[str, Any]) -> int:
        return sum(
            p["amount"]
            for r in done
            for p in r["payments"]
            if p.get("payment_intent", p["method"]) == paid.get("payment_intent", paid["method"])
        )

    for piece in pieces:
        done.append(body_of(plan_refund(sale, done, [piece])))
        for paid in sale["payments"]:
            assert back(paid) <= paid["amount"]
    for paid in sale["payments"]:
        assert back(paid) == paid["amount"]


def test_a_rounded_cash_sale_is_refunded_its_exact_price() -> None:
    cart = Cart("EUR")
    cart.add(PRODUCTS[0], 1)
    total = cart.totals().total
    cash = cash_payment(total, Money(500, "EUR"), 25)  # 1.80 rounded to 1.75
    sale = with_payments(cart_body("s", cart, "ana", "Ana"), [cash])
    assert sale["rounding"] == cash.details["rounding"] == -5
    plan = plan_refund(sale, [])
    assert plan.total == total
    assert [(m, a) for m, a, _ in plan.payments] == [("cash", total)]
