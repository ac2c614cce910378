from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.cart import MAX_QUANTITY, Cart, CartError
from appliance.core.catalog import Product, TaxRate
from bitagora_protocol.money import Money


def product(sku: str, price: int, bp: int = 2100, inclusive: bool = True) -> Product:
    return Product(sku, sku.title(), Money(price, "EUR"), TaxRate(f"T{bp}", bp), "Test", inclusive)


def test_inclusive_and_exclusive_totals() -> None:
    cart = Cart("EUR")
    cart.add(product("coffee", 121), 2)  # 2.42 gross incl. 21 %
    cart.add(product("book", 1000, 400, inclusive=False))  # 10.00 net + 4 %
    totals = cart.totals()
    by_code = {g.rate.code: g for g in totals.groups}
    assert (by_code["T2100"].net.minor, by_code["T2100"].tax.minor) == (200, 42)
    assert (by_code["T400"].tax.minor, by_code["T400"].gross.minor) == (40, 1040)
    assert totals.total == Money(242 + 1040, "EUR")
    assert totals.subtotal + totals.tax == totals.total


def test_same_product_merges_and_quantity_rules() -> None:
    cart = Cart("EUR")
    cart.add(product("a", 100))
    cart.add(product("a", 100), 2)
    assert len(cart.lines) == 1 and cart.lines[0].quantity == 3
    cart.set_quantity(0, 0)
    assert cart.is_empty
    with pytest.raises(CartError):
        cart.add(product("a", 100), MAX_QUANTITY + 1)
    with pytest.raises(CartError, match="no cart line"):
        cart.remove(0)
    with pytest.raises(CartError, match="priced in"):
        cart.add(Product("x", "X", Money(1, "USD"), TaxRate("A", 0), "T"))


line_strategy = st.tuples(
    st.integers(0, 100_000),
    st.integers(1, 50),
    st.sampled_from([0, 400, 1000, 2100, 2300]),
    st.booleans(),
)


@given(st.lists(line_strategy, min_size=1, max_size=12))
def test_totals_properties(lines: list[tuple[int, int, int, bool]]) -> None:
    cart = Cart("EUR")
    for index, (price, qty, bp, inclusive) in enumerate(lines):
        cart.add(product(f"p{index}", price, bp, inclusive), qty)
    totals = cart.totals()
    assert totals.subtotal + totals.tax == totals.total
    for group in totals.groups:
        r = Fraction(group.rate.basis_points, 10_000)
        base = group.gross if group.price_includes_tax else group.net
        exact = Fraction(base.minor) * (r / (1 + r) if group.price_includes_tax else r)
        # each rate's tax is that rate applied to its base, within half a minor unit
        assert abs(group.tax.minor - exact) <= Fraction(1, 2)
        assert group.net.minor >= 0 and group.tax.minor >= 0
    # inclusive prices are what the customer pays; exclusive ones get their tax added
    priced = sum(line.amount.minor for line in cart.lines)
    added_tax = sum(g.tax.minor for g in totals.groups if not g.price_includes_tax)
    assert totals.total.minor == priced + added_tax


@given(st.lists(line_strategy, min_size=1, max_size=8), st.randoms())
def test_totals_do_not_depend_on_line_order(lines, rnd) -> None:  # type: ignore[no-untyped-def]
    items = [
        (product(f"p{i}", price, bp, inc), qty) for i, (price, qty, bp, inc) in enumerate(lines)
    ]
    first, second = Cart("EUR"), Cart("EUR")
    for item, qty in items:
        first.add(item, qty)
    rnd.shuffle(items)
    for item, qty in items:
        second.add(item, qty)
    assert first.totals() == second.totals()
