"""A merchant's sales reports from the ledger (central/sales_ledger.py): by day, by hour of the
day, by payment method, by product, by staff member, and the Z closings as the devices sealed
them. Days and hours are counted on the merchant's clock (``merchants.timezone``).

Every query names the merchant, and runs on a connection whose tenancy policies keep it to that
merchant's rows as well: a forgotten filter cannot show another merchant's sales. Each report
is a ``Report``: the same rows become an HTML table and a CSV file (money as decimal text beside
its currency, so a spreadsheet sums it). Titles and headers are in English here, marked for
the catalog (``N_``); a report is made in the request's language, the CSV's header row too."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import asyncpg
from babel.dates import format_date
from babel.numbers import format_decimal

from bitagora_protocol.money import Money, MoneyError
from central import i18n
from central.i18n import N_, _

# "day" ("2026-12-01") and "moment" ("2026-12-01 14:05", the shop's clock) are ISO text in the
# rows and the CSV, and written as the page's locale writes them on the page.
ColumnKind = Literal["text", "count", "money", "day", "moment"]
CURRENCY = N_("Currency")  # the column whose code each row's money is in
# The payment methods (bitagora_protocol.config_document.PAYMENT_METHODS), as pages name them.
METHOD_NAMES = {
    "cash": N_("cash"),
    "card": N_("card"),
    "onchain": N_("bitcoin (on-chain)"),
    "lightning": N_("bitcoin (Lightning)"),
    "mercadopago_point": N_("Mercado Pago Point"),
    "mercadopago_qr": N_("Mercado Pago QR"),
    "usdt_tron": N_("USDT (TRON)"),
}
# Sales by method shows the cash rounding as one more row, so that its net adds up to the
# sales': a sale of 1.02 paid 1.00 in cash (rounding -2, docs/PROTOCOL.md 1.4) counts 0.02
# here, what the rounding let go of.
ROUNDING = "rounding"


@dataclass(frozen=True)
class Column:
    header: str  # English, as the catalog's msgid; ``Report.headers`` translates
    kind: ColumnKind = "text"
    # Codes a page shows by their names (translated); the CSV keeps the codes, which are data.
    names: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Report:
    """Rows of one report; a money column's currency is the row's ``currency`` column."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]

    def currency_at(self) -> int:
        return next(i for i, c in enumerate(self.columns) if c.header == CURRENCY)

    def headers(self) -> list[str]:
        return [_(c.header) for c in self.columns]

    def cells(self, locale: str) -> list[list[str]]:
        """The rows as people of ``locale`` read them: money with its symbol, counts with
        separators, days and moments in words."""
        at = self.currency_at()
        return [
            [
                _shown(value, column, row[at], locale)
                for value, column in zip(row, self.columns, strict=True)
            ]
            for row in self.rows
        ]

    def csv(self) -> str:
        at = self.currency_at()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.headers())
        for row in self.rows:
            writer.writerow(
                [
                    _filed(value, column.kind, row[at])
                    for value, column in zip(row, self.columns, strict=True)
                ]
            )
        return out.getvalue()


def _shown(value: Any, column: Column, currency: str, locale: str) -> str:
    if column.kind == "money":
        return i18n.money(value, currency, locale)
    if column.kind == "count":
        return format_decimal(value, locale=locale)
    if column.kind == "day":
        return format_date(date.fromisoformat(value), "medium", locale=locale)
    if column.kind == "moment":
        return i18n.when(datetime.fromisoformat(value), locale)
    if column.names and value in column.names:
        return _(column.names[value])
    return str(value)


def _filed(value: Any, kind: ColumnKind, currency: str) -> str:
    if kind == "money":
        try:
            return Money(value, currency).decimal()
        except MoneyError:
            return str(value)
    text = str(value)
    # A spreadsheet runs a cell that starts like a formula: staff and product names are typed
    # at a till, so they are kept as text.
    return "'" + text if kind == "text" and text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@dataclass(frozen=True)
class Period:
    """The days ``first`` to ``last`` (both included) on the merchant's clock."""

    first: date
    last: date


# The merchant's clock, and the period as timestamps on it ($1 merchant, $2 first, $3 last).
_SHOP = """shop AS (
    SELECT id, timezone,
           ($2::date::timestamp AT TIME ZONE timezone) AS start,
           (($3::date + 1)::timestamp AT TIME ZONE timezone) AS stop
    FROM merchants WHERE id = $1)"""


async def _rows(conn: asyncpg.Connection, sql: str, merchant_id: int, period: Period) -> list[Any]:
    # PostgreSQL sums bigints as numeric (never overflowing): whole numbers back as ints.
    return [
        tuple(int(v) if isinstance(v, Decimal) else v for v in row)
        for row in await conn.fetch(sql, merchant_id, period.first, period.last)
    ]


@dataclass(frozen=True)
class ReportQuery:
    """A report: its name, title and columns, and the query of its rows (``$1`` the merchant,
    ``$2``/``$3`` the period's first and last day, ``shop`` the merchant's clock)."""

    name: str
    title: str
    columns: tuple[Column, ...]
    sql: str

    async def __call__(self, conn: asyncpg.Connection, merchant_id: int, period: Period) -> Report:
        rows = await _rows(conn, self.sql, merchant_id, period)
        return Report(self.name, _(self.title), self.columns, rows)


by_day = ReportQuery(
    "days",
    N_("Sales by day"),
    (
        Column(N_("Day"), "day"),
        Column(CURRENCY),
        Column(N_("Sales"), "count"),
        Column(N_("Sold"), "money"),
        Column(N_("Refunds"), "count"),
        Column(N_("Refunded"), "money"),
        Column(N_("Net"), "money"),
    ),
    f"WITH {_SHOP} SELECT to_char(e.at AT TIME ZONE shop.timezone, 'YYYY-MM-DD') AS day,"
    " e.currency, count(*) FILTER (WHERE e.kind = 'sale'),"
    " coalesce(sum(e.total) FILTER (WHERE e.kind = 'sale'), 0),"
    " count(*) FILTER (WHERE e.kind = 'refund'),"
    " coalesce(-sum(e.total) FILTER (WHERE e.kind = 'refund'), 0), sum(e.total)"
    " FROM ledger_entries e JOIN shop ON e.merchant_id = shop.id"
    " WHERE e.at >= shop.start AND e.at < shop.stop GROUP BY 1, 2 ORDER BY 1, 2",
)

by_hour = ReportQuery(
    "hours",
    N_("Sales by hour of the day"),
    (
        Column(N_("Hour")),
        Column(CURRENCY),
        Column(N_("Sales"), "count"),
        Column(N_("Net"), "money"),
    ),
    f"WITH {_SHOP} SELECT to_char(e.at AT TIME ZONE shop.timezone, 'HH24') || ':00' AS hour,"
    " e.currency, count(*) FILTER (WHERE e.kind = 'sale'), sum(e.total)"
    " FROM ledger_entries e JOIN shop ON e.merchant_id = shop.id"
    " WHERE e.at >= shop.start AND e.at < shop.stop GROUP BY 1, 2 ORDER BY 1, 2",
)

by_method = ReportQuery(
    "methods",
    N_("Sales by payment method"),
    (
        Column(N_("Method"), names={**METHOD_NAMES, ROUNDING: N_("cash rounding")}),
        Column(CURRENCY),
        Column(N_("Taken"), "money"),
        Column(N_("Given back"), "money"),
        Column(N_("Net"), "money"),
    ),
    f"WITH {_SHOP}, moved AS ("
    " SELECT p.method, p.currency, p.amount FROM ledger_payments p JOIN shop"
    " ON p.merchant_id = shop.id WHERE p.at >= shop.start AND p.at < shop.stop"
    f" UNION ALL SELECT '{ROUNDING}', e.currency, -e.rounding FROM ledger_entries e JOIN shop"
    " ON e.merchant_id = shop.id WHERE e.at >= shop.start AND e.at < shop.stop"
    " AND e.rounding <> 0)"
    " SELECT method, currency, coalesce(sum(amount) FILTER (WHERE amount > 0), 0),"
    " coalesce(-sum(amount) FILTER (WHERE amount < 0), 0), sum(amount)"
    " FROM moved GROUP BY 1, 2 ORDER BY 5 DESC, 1, 2",
)

by_product = ReportQuery(
    "products",
    N_("Sales by product"),
    (
        Column(N_("SKU")),
        Column(N_("Product")),
        Column(CURRENCY),
        Column(N_("Quantity"), "count"),
        Column(N_("Net"), "money"),
    ),
    # The name a product sold under most recently in the period.
    f"WITH {_SHOP} SELECT l.sku, (array_agg(l.name ORDER BY l.at DESC))[1], l.currency,"
    " sum(l.quantity), sum(l.amount)"
    " FROM ledger_lines l JOIN shop ON l.merchant_id = shop.id"
    " WHERE l.at >= shop.start AND l.at < shop.stop GROUP BY l.sku, l.currency"
    " ORDER BY 5 DESC, 1, 3",
)

by_staff = ReportQuery(
    "staff",
    N_("Sales by staff member"),
    (
        Column(N_("Staff ID")),
        Column(N_("Name")),
        Column(CURRENCY),
        Column(N_("Sales"), "count"),
        Column(N_("Net"), "money"),
    ),
    f"WITH {_SHOP} SELECT e.staff_id, (array_agg(e.staff_name ORDER BY e.at DESC))[1],"
    " e.currency, count(*) FILTER (WHERE e.kind = 'sale'), sum(e.total)"
    " FROM ledger_entries e JOIN shop ON e.merchant_id = shop.id"
    " WHERE e.at >= shop.start AND e.at < shop.stop GROUP BY e.staff_id, e.currency"
    " ORDER BY 5 DESC, 1, 3",
)

closings = ReportQuery(
    "closings",
    N_("Z closings"),
    (
        Column(N_("Device")),
        Column(N_("Z"), "count"),
        Column(N_("Closed"), "moment"),
        Column(CURRENCY),
        Column(N_("Sales"), "count"),
        Column(N_("Sold"), "money"),
        Column(N_("Refunded"), "money"),
        Column(N_("Net"), "money"),
        Column(N_("Expected cash"), "money"),
        Column(N_("Counted"), "money"),
        Column(N_("Difference"), "money"),
        Column(N_("Grand total"), "money"),
        Column(N_("Closed by")),
    ),
    f"WITH {_SHOP} SELECT z.device_id, z.z_number,"
    " to_char(z.closed_at AT TIME ZONE shop.timezone, 'YYYY-MM-DD HH24:MI'), z.currency,"
    " z.sales_count, z.sales, z.refunds, z.net_sales, z.expected_cash, z.counted_cash,"
    " z.difference, z.grand_total, z.staff_name"
    " FROM z_closings z JOIN shop ON z.merchant_id = shop.id"
    " WHERE z.closed_at >= shop.start AND z.closed_at < shop.stop"
    " ORDER BY z.closed_at, z.device_id",
)


REPORTS = {
    report.name: report for report in (by_day, by_hour, by_method, by_product, by_staff, closings)
}


def chart_points(report: Report, label: int, value: int) -> Sequence[tuple[str, int]]:
    """(label, value) pairs of one currency's rows, for a chart (the first currency shown)."""
    at = report.currency_at()
    currency = report.rows[0][at] if report.rows else None
    return [(str(row[label]), int(row[value])) for row in report.rows if row[at] == currency]
