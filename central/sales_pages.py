"""The merchant's Sales page: a period (the last 7 days of the shop's clock unless asked), the
reports of ``central.sales_reports`` with bar charts of net sales per day and per hour, and each
report as a CSV download."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from central import i18n
from central.charts import bar_chart
from central.context import central
from central.i18n import _
from central.sales_reports import REPORTS, Period, Report, chart_points
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, merchant_page

DEFAULT_DAYS = 7
MAX_DAYS = 366
# Which column of a report its chart shows: (label, value).
CHARTS = {"days": (0, 6), "hours": (0, 3)}


class BadPeriod(ValueError):
    pass


async def _period(conn: asyncpg.Connection, merchant: int, request: Request) -> Period:
    """The asked period, or the last ``DEFAULT_DAYS`` days up to today on the shop's clock."""
    zone = await conn.fetchval("SELECT timezone FROM merchants WHERE id = $1", merchant)
    today = central(request).now().astimezone(ZoneInfo(zone)).date()
    params = request.query_params
    try:
        last = date.fromisoformat(params["last"]) if params.get("last") else today
        first = (
            date.fromisoformat(params["first"])
            if params.get("first")
            else last - timedelta(days=DEFAULT_DAYS - 1)
        )
    except ValueError:
        raise BadPeriod(_("dates are written 2026-12-31")) from None
    if first > last:
        raise BadPeriod(_("the first day is after the last"))
    if (last - first).days >= MAX_DAYS:
        raise BadPeriod(_("a period is at most %(days)s days") % {"days": MAX_DAYS})
    return Period(first, last)


def _chart(report: Report, locale: str) -> str:
    label, value = CHARTS[report.name]
    points = chart_points(report, label, value)
    if not points:
        return ""
    currency = report.rows[0][report.currency_at()]
    title = _("%(report)s, net") % {"report": report.title}
    return bar_chart(points, title, lambda v: i18n.money(v, currency, locale))


@merchant_page()
async def sales_page(request: Request, who: Principal, merchant: int) -> Response:
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            period = await _period(conn, merchant, request)
            reports = [await make(conn, merchant, period) for make in REPORTS.values()]
            locale = await i18n.merchant_locale(conn, merchant)
    except BadPeriod as err:
        return Response(f"{err}\n", status_code=400, media_type="text/plain")
    return templates.TemplateResponse(
        request,
        "sales.html",
        {
            "user": who.name,
            "heading": _("Sales"),
            "period": period,
            "locale": locale,
            "reports": [
                {"report": r, "chart": _chart(r, locale) if r.name in CHARTS else ""}
                for r in reports
            ],
        },
    )


@merchant_page()
async def report_csv(request: Request, who: Principal, merchant: int) -> Response:
    make = REPORTS.get(request.path_params["report"])
    if make is None:
        return Response(_("No such report.") + "\n", status_code=404, media_type="text/plain")
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            period = await _period(conn, merchant, request)
            report = await make(conn, merchant, period)
    except BadPeriod as err:
        return Response(f"{err}\n", status_code=400, media_type="text/plain")
    name = f"{report.name}-{period.first}-{period.last}.csv"
    return Response(
        report.csv(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
