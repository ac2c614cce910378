"""core.report: period totals from records, pure (no store)."""

from __future__ import annotations

from typing import Any

import pytest

from appliance.core.report import period_report, report_lines
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


def test_usdt_sales_are_a_method_of_their_own_in_the_report() -> None:
    records = [
        rec(1, "sale", sale(500, tendered=500)),
        rec(2, "sale", sale(180, "usdt_tron", address="TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH")),
    ]
    r = period_report(records, "EUR")
    assert r.by_method == {"cash": 500, "usdt_tron": 180}
    lines = report_lines("X report", r.totals_body(), "EUR")
    assert any("USDT (TRON)" in line and "1.80" in line for line in lines), lines
