"""Shift reports from journal records: X (running totals, nothing reset) and Z (the closing).

Pure: takes records, returns totals. The Z period runs from the record after the previous
``z_close`` up to the last record before the new one; both reports compute the same totals, the
Z writes them into a signed ``z_close`` record (docs/PROTOCOL.md 1.4).

Counting rules (amounts are integers of minor units of the till's currency):

- ``sale``: counted unless ``"training": true``; each payment adds ``amount`` to its method and
  each tax group adds net/tax/gross to its rate; cash taken is ``tendered - change`` (or
  ``amount`` when no tender was recorded); its cash ``rounding`` adds to ``rounding``, so the
  methods add up to the sales plus the rounding.
- ``refund``: counted negative (amounts in a refund body are positive = money given back); cash
  refunds leave the drawer.
- ``void``: a sale abandoned before payment, no money moved: only counted.
- ``shift_open``: its float is the drawer counted when the shift opened; ``paid_in_out``: cash in
  or out with a reason.
- What belongs to a shift: the period (every record since the last Z) is what the sales, refund,
  method and tax totals count, so every sale is in exactly one Z whether a shift was open or not.
  The drawer is another matter: the float is a count of the drawer, so the cash that sales,
  refunds and paid in/out moved before the shift opened is already in it. Those movements are
  ``cash_before_shift`` (shown, not expected again); ``cash_taken``, ``cash_refunds``,
  ``paid_in`` and ``paid_out`` are what moved after the shift opened (the whole period when no
  shift was opened: no count, so everything the period moved is expected).
- expected cash = float + cash taken - cash refunds + paid in - paid out.
- grand total: the perpetual sum of net sales (sales - refunds, tax included) since the device's
  first record; each ``z_close`` carries it, the next adds its period to it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from appliance.core.receipt import ReportSection
from appliance.core.sale import method_label
from appliance.core.words import ENGLISH, Translator
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

# Notes and coins a drawer is counted in, in minor units, largest first.
DENOMINATIONS: dict[str, tuple[int, ...]] = {
    "EUR": (50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1),
    "USD": (10000, 5000, 2000, 1000, 500, 200, 100, 25, 10, 5, 1),
    "GBP": (5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1),
    "CHF": (100000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5),
    "BRL": (20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 25, 10, 5),
    "MXN": (100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50),
    "ARS": (2000000, 1000000, 200000, 100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100),
    "CLP": (20000, 10000, 5000, 2000, 1000, 500, 100, 50, 10, 5, 1),
    "COP": (10000000, 5000000, 2000000, 1000000, 500000, 200000, 100000, 50000, 20000, 10000, 5000),
    "JPY": (10000, 5000, 2000, 1000, 500, 100, 50, 10, 5, 1),
    "PYG": (100000, 50000, 20000, 10000, 5000, 2000, 1000, 500, 100, 50),
}


class ReportError(ValueError):
    """A count or a period that cannot be reported."""


def count_total(currency: str, counted: Mapping[int, int]) -> int:
    """The value of a count {denomination in minor units: pieces}; refuses unknown pieces."""
    allowed = DENOMINATIONS.get(currency)
    if allowed is None:
        raise ReportError(f"no denominations known for {currency}")
    total = 0
    for value, pieces in counted.items():
        if value not in allowed:
            raise ReportError(f"{Money(value, currency)} is not a {currency} note or coin")
        if not isinstance(pieces, int) or isinstance(pieces, bool) or pieces < 0:
            raise ReportError(f"a count of {Money(value, currency)} must be a whole number ≥ 0")
        total += value * pieces
    return total


@dataclass
class TaxTotal:
    code: str
    bp: int
    price_includes_tax: bool
    net: int = 0
    tax: int = 0
    gross: int = 0


@dataclass
class PeriodReport:
    currency: str
    first_seq: int | None = None
    last_seq: int | None = None
    from_at: str | None = None
    to_at: str | None = None
    sales_count: int = 0
    sales_gross: int = 0
    refunds_count: int = 0
    refunds_gross: int = 0
    voids_count: int = 0
    training_count: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    by_tax: dict[tuple[str, int, bool], TaxTotal] = field(default_factory=dict)
    float: int = 0
    cash_taken: int = 0
    cash_refunds: int = 0
    paid_in: int = 0
    paid_out: int = 0
    cash_before_shift: int = 0
    rounding: int = 0
    grand_total_before: int = 0

    @property
    def net_sales(self) -> int:
        return self.sales_gross - self.refunds_gross

    @property
    def expected_cash(self) -> int:
        return self.float + self.cash_taken - self.cash_refunds + self.paid_in - self.paid_out

    @property
    def grand_total(self) -> int:
        return self.grand_total_before + self.net_sales

    def totals_body(self) -> dict[str, Any]:
        """The ``totals`` object of a ``z_close`` body (``rounding`` only when there was any)."""
        rounding = {"rounding": self.rounding} if self.rounding else {}
        return {
            "sales_count": self.sales_count,
            "sales": self.sales_gross,
            "refunds_count": self.refunds_count,
            "refunds": self.refunds_gross,
            "voids_count": self.voids_count,
            "training_count": self.training_count,
            "net_sales": self.net_sales,
            "by_method": [{"method": m, "amount": a} for m, a in sorted(self.by_method.items())],
            "by_tax": [
                {
                    "code": t.code,
                    "bp": t.bp,
                    "price_includes_tax": t.price_includes_tax,
                    "net": t.net,
                    "tax": t.tax,
                    "gross": t.gross,
                }
                for _, t in sorted(self.by_tax.items())
            ],
            "float": self.float,
            "cash_taken": self.cash_taken,
            "cash_refunds": self.cash_refunds,
            "paid_in": self.paid_in,
            "paid_out": self.paid_out,
            "cash_before_shift": self.cash_before_shift,
            **rounding,
        }

    def add(self, record: Record) -> None:
        body = record.body
        if self.first_seq is None:
            self.first_seq, self.from_at = record.seq, record.at
        self.last_seq, self.to_at = record.seq, record.at
        if record.kind == "sale":
            if body.get("training"):
                self.training_count += 1
                return
            self.sales_count += 1
            self._money(body, 1)
        elif record.kind == "refund":
            self.refunds_count += 1
            self._money(body, -1)
        elif record.kind == "void":
            self.voids_count += 1
        elif record.kind == "shift_open":
            # The float is the drawer counted now: what moved before is in it (module doc).
            self.cash_before_shift += (
                self.cash_taken - self.cash_refunds + self.paid_in - self.paid_out
            )
            self.cash_taken = self.cash_refunds = self.paid_in = self.paid_out = 0
            self.float += int(body["float"]["minor"])
        elif record.kind == "paid_in_out":
            amount = int(body["amount"]["minor"])
            if body["direction"] == "in":
                self.paid_in += amount
            else:
                self.paid_out += amount

    def _money(self, body: Mapping[str, Any], sign: int) -> None:
        gross = int(body["total"]["minor"])
        if sign > 0:
            self.sales_gross += gross
            self.rounding += int(body.get("rounding", 0))
        else:
            self.refunds_gross += gross
        for p in body.get("payments", []):
            method, amount = str(p["method"]), int(p["amount"])
            self.by_method[method] = self.by_method.get(method, 0) + sign * amount
            if method == "cash":
                tendered, change = p.get("tendered"), p.get("change")
                cash = amount if tendered is None else int(tendered) - int(change or 0)
                if sign > 0:
                    self.cash_taken += cash
                else:
                    self.cash_refunds += cash
        for t in body.get("taxes", []):
            key = (str(t["code"]), int(t["bp"]), bool(t["price_includes_tax"]))
            total = self.by_tax.setdefault(key, TaxTotal(*key))
            total.net += sign * int(t["net"])
            total.tax += sign * int(t["tax"])
            total.gross += sign * int(t["gross"])


def period_report(records: Iterable[Record], currency: str) -> PeriodReport:
    """Totals since the last ``z_close`` among ``records`` (give them all, or from that Z on).

    Records before the last z_close only set the grand total carried forward."""
    report = PeriodReport(currency)
    for record in records:
        if record.kind == "z_close":
            report = PeriodReport(currency, grand_total_before=int(record.body["grand_total"]))
            continue
        report.add(record)
    return report


def tax_label(code: str, bp: int, inclusive: bool, tr: Translator = ENGLISH) -> str:
    rate = f"{bp // 100}.{bp % 100:02d}".rstrip("0").rstrip(".")
    if inclusive:
        # Translators: a tax rate whose prices include the tax, "A 21% incl"
        return tr.gettext("{code} {rate}% incl").format(code=code, rate=rate)
    return f"{code} {rate}%"


def report_lines(
    title: str,
    totals: Mapping[str, Any],
    currency: str,
    breakdowns: bool = True,
    tr: Translator = ENGLISH,
    money: Callable[[Money], str] = Money.format,
) -> list[str]:
    """Label/value lines of a report (``totals`` as in a z_close body), for screen and paper;
    ``breakdowns=False`` leaves out the lines by method and by tax rate (a printout that shows
    them as payment and tax rows already). In ``tr``'s language, amounts written by ``money``."""
    _ = tr.gettext

    def f(minor: Any) -> str:
        return money(Money(int(minor), currency))

    def row(label: str, value: str) -> str:
        return _("{label}: {value}").format(label=label, value=value)

    lines = [
        title,
        row(_("Sales"), f"{totals['sales_count']}  {f(totals['sales'])}"),
        row(_("Refunds"), f"{totals['refunds_count']}  {f(-int(totals['refunds']))}"),
        row(_("Voids"), str(totals["voids_count"])),
        row(_("Net sales"), f(totals["net_sales"])),
    ]
    if breakdowns:
        lines.append(_("By payment method:"))
        lines += [
            f"  {method_label(m['method'], tr)}: {f(m['amount'])}" for m in totals["by_method"]
        ]
        if totals.get("rounding"):
            lines.append(row(_("Cash rounding"), f(totals["rounding"])))
        lines.append(_("By tax rate (net / tax / gross):"))
    lines += [
        f"  {tax_label(t['code'], t['bp'], t['price_includes_tax'], tr)}: "
        f"{f(t['net'])} / {f(t['tax'])} / {f(t['gross'])}"
        for t in totals["by_tax"]
        if breakdowns
    ]
    lines += [
        row(_("Float"), f(totals["float"])),
        row(_("Cash taken"), f(totals["cash_taken"])),
        row(_("Cash refunds"), f(-int(totals["cash_refunds"]))),
        row(_("Paid in"), f(totals["paid_in"])),
        row(_("Paid out"), f(-int(totals["paid_out"]))),
    ]
    before = int(totals.get("cash_before_shift", 0))
    if before:
        lines.insert(
            -4, _("Cash before the shift: {amount} (in the float)").format(amount=f(before))
        )
    return lines


def report_sections(
    totals: Mapping[str, Any],
    currency: str,
    expected_cash: int,
    counted: int | None = None,
    grand_total: int | None = None,
    tr: Translator = ENGLISH,
    locale: str = "en",
) -> tuple[ReportSection, ...]:
    """A report's figures by section for its printout (``totals`` as in a z_close body;
    ``counted`` and ``grand_total`` for a Z): sales, payment methods, tax rates, the drawer;
    in ``tr``'s language, amounts as ``locale`` writes them."""
    _ = tr.gettext

    def f(minor: Any) -> str:
        return Money(int(minor), currency).localized(locale)

    sales = [
        (_("Sales ({count})").format(count=totals["sales_count"]), f(totals["sales"])),
        (
            _("Refunds ({count})").format(count=totals["refunds_count"]),
            f(-int(totals["refunds"])),
        ),
        (_("Voids"), str(totals["voids_count"])),
    ]
    if totals.get("training_count"):
        sales.append((_("Training sales, not counted"), str(totals["training_count"])))
    sales.append((_("Net sales"), f(totals["net_sales"])))
    if grand_total is not None:
        sales.append((_("Grand total"), f(grand_total)))
    methods = tuple(
        (method_label(str(m["method"]), tr), f(m["amount"])) for m in totals["by_method"]
    )
    if totals.get("rounding"):
        methods += ((_("Cash rounding"), f(totals["rounding"])),)
    parts = {"net": _("Net"), "tax": _("Tax"), "gross": _("Gross")}
    taxes: list[tuple[str, str]] = []
    for t in totals["by_tax"]:
        taxes.append((tax_label(t["code"], t["bp"], t["price_includes_tax"], tr), ""))
        taxes += [(f"  {parts[k]}", f(t[k])) for k in ("net", "tax", "gross")]
    drawer = [(_("Float"), f(totals["float"]))]
    before = int(totals.get("cash_before_shift", 0))
    if before:
        drawer.append((_("Cash before the shift (in the float)"), f(before)))
    drawer += [
        (_("Cash taken"), f(totals["cash_taken"])),
        (_("Cash refunds"), f(-int(totals["cash_refunds"]))),
        (_("Paid in"), f(totals["paid_in"])),
        (_("Paid out"), f(-int(totals["paid_out"]))),
        (_("Expected cash"), f(expected_cash)),
    ]
    if counted is not None:
        drawer += [
            (_("Counted cash"), f(counted)),
            (_("Difference"), f(counted - expected_cash)),
        ]
    return (
        ReportSection(_("Sales"), tuple(sales)),
        ReportSection(_("By payment method"), methods or ((_("None"), ""),)),
        ReportSection(_("By tax rate"), tuple(taxes) or ((_("None"), ""),)),
        ReportSection(_("Cash drawer"), tuple(drawer)),
    )
