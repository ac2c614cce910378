"""core.report: period totals from records, pure (no store)."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.core.report import period_report, report_lines, report_sections
from bitagora_protocol.journal import Record


def rec(seq: int, kind: str, body: dict[str, Any]) -> Record:
    return Record(seq, kind, f"2026-11-29T08:00:{seq:02d}.000000Z", "dev-x", body, "0" * 64)


def sale(total: int, method: str = "cash", tendered: int | None = None, **extra: Any) -> dict:
    change = None if tendered is None else tendered - total
    tax = total // 11
    return {
        "total": {"minor": total, "currency": "EUR"},
        "payments": [{"method": method, "amount": total, "tendered": tendered, "change": change}],
        "taxes": [
            {
                "code": "B",
                "bp": 1000,
                "price_includes_tax": True,
                "net": total - tax,
                "tax": tax,
                "gross": total,
            }
        ],
        **extra,
    }


def test_period_after_the_last_z_and_grand_total_carried() -> None:
    records = [
        rec(1, "sale", sale(1000)),
        rec(2, "z_close", {"grand_total": 1000}),
        rec(3, "shift_open", {"float": {"minor": 5000, "currency": "EUR"}}),
        rec(4, "sale", sale(330, tendered=500)),
        rec(5, "sale", sale(220, "lightning")),
        rec(6, "sale", sale(999, training=True)),
        rec(7, "refund", sale(110)),
        rec(8, "void", {}),
        rec(9, "paid_in_out", {"direction": "out", "amount": {"minor": 200, "currency": "EUR"}}),
        rec(10, "drawer_open", {"reason": "count"}),
    ]
    r = period_report(records, "EUR")
    assert (r.first_seq, r.last_seq) == (3, 10)
    assert (r.sales_count, r.refunds_count, r.voids_count, r.training_count) == (2, 1, 1, 1)
    assert r.by_method == {"cash": 220, "lightning": 220}
    assert r.net_sales == 440 and r.grand_total == 1440
    assert r.cash_taken == 330 and r.cash_refunds == 110
    assert r.expected_cash == 5000 + 330 - 110 - 200
    [tax] = r.totals_body()["by_tax"]
    assert tax["gross"] == 440 and tax["net"] + tax["tax"] == 440


def test_nothing_since_the_last_z_is_an_empty_period() -> None:
    r = period_report([rec(1, "sale", sale(100)), rec(2, "z_close", {"grand_total": 100})], "EUR")
    assert r.first_seq is None and r.net_sales == 0 and r.grand_total == 100


def test_every_till_currency_has_notes_and_coins_to_count() -> None:
    """A till's drawer is counted at the Z in its own currency: every currency a till may be set
    to has its denominations, largest first, each a whole number of minor units."""
    from appliance.config import ConfigError, DeviceSettings
    from appliance.core.report import DENOMINATIONS, count_total
    from bitagora_protocol.money import CURRENCIES

    assert set(DENOMINATIONS) <= CURRENCIES
    with pytest.raises(ConfigError, match="device.currency"):
        DeviceSettings(currency="XAU").check()
    for currency, pieces in DENOMINATIONS.items():
        assert list(pieces) == sorted(set(pieces), reverse=True), currency
        assert count_total(currency, {pieces[0]: 1, pieces[-1]: 3}) == pieces[0] + 3 * pieces[-1]


def test_cash_before_the_shift_is_in_its_float() -> None:
    """Issue 15 item 5: €5.40 sold, a €100 float counted, €15.00 sold: €115.00 expected."""
    records = [
        rec(1, "sale", sale(540, tendered=1000)),
        rec(2, "shift_open", {"float": {"minor": 10000, "currency": "EUR"}}),
        rec(3, "sale", sale(1500)),
    ]
    r = period_report(records, "EUR")
    assert r.expected_cash == 11500 and r.cash_before_shift == 540 and r.cash_taken == 1500
    assert r.sales_count == 2 and r.by_method == {"cash": 2040}
    lines = report_lines("X", r.totals_body(), "EUR")
    float_at = lines.index("Float: €100.00")
    assert lines[float_at + 1] == "Cash before the shift: €5.40 (in the float)"


def test_cash_rounding_is_counted_so_the_methods_add_up() -> None:
    rounded = sale(102)  # 1.02 paid with 5.00 in cash, rounded to 1.00
    rounded["payments"] = [
        {"method": "cash", "amount": 100, "tendered": 500, "change": 400, "rounding": -2}
    ]
    records = [rec(1, "sale", {**rounded, "rounding": -2}), rec(2, "sale", sale(303, "card"))]
    r = period_report(records, "EUR")
    totals = r.totals_body()
    assert (r.sales_gross, r.rounding, r.cash_taken) == (405, -2, 100)
    assert sum(m["amount"] for m in totals["by_method"]) == totals["sales"] + totals["rounding"]
    assert "  Cash: €1.00" in report_lines("X", totals, "EUR")
    assert "Cash rounding: -€0.02" in report_lines("X", totals, "EUR")
    assert "rounding" not in period_report(records[1:], "EUR").totals_body()
    methods = report_sections(totals, "EUR", r.expected_cash)[1]
    assert methods.rows[-1] == ("Cash rounding", "-€0.02")


def test_mercadopago_sales_and_refunds_count_by_method_under_their_names() -> None:
    records = [
        rec(1, "sale", sale(700, "mercadopago_point", order_id="ORD1")),
        rec(2, "sale", sale(500, "mercadopago_qr", order_id="ORD2")),
        rec(3, "refund", sale(300, "mercadopago_point", order_id="ORD1")),
    ]
    r = period_report(records, "EUR")
    assert r.by_method == {"mercadopago_point": 400, "mercadopago_qr": 500}
    assert r.cash_taken == 0 and r.net_sales == 900
    lines = report_lines("Z", r.totals_body(), "EUR")
    assert "  Mercado Pago Point: €4.00" in lines and "  Mercado Pago QR: €5.00" in lines


def test_usdt_sales_are_a_method_of_their_own_in_the_report() -> None:
    records = [
        rec(1, "sale", sale(500, tendered=500)),
        rec(2, "sale", sale(180, "usdt_tron", address="TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH")),
    ]
    r = period_report(records, "EUR")
    assert r.by_method == {"cash": 500, "usdt_tron": 180}
    lines = report_lines("X report", r.totals_body(), "EUR")
    assert any("USDT (TRON)" in line and "1.80" in line for line in lines), lines
