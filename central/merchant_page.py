"""A merchant user's first page: their merchant's name and its devices, each online or not, with
its last sale and sales totals, amounts and times as the merchant's country writes them
(``central.i18n``), times on the shop's clock.

The queries name no merchant: they run as the user (``as_user``), and PostgreSQL's policies
return only the rows of the user's merchant.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from central import i18n
from central.context import central
from central.i18n import _
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page

# A device heartbeats every 30 s by default: three missed ones and it is shown offline.
ONLINE_WITHIN = timedelta(seconds=90)


def _signed_at(text: str, locale: str, zone: str) -> str:
    """A moment a device signed (ISO 8601, on its own clock) as the page writes dates; as the
    device wrote it if it is not one."""
    try:
        return i18n.when(datetime.fromisoformat(text), locale, zone)
    except ValueError:
        return text


@page(ops_only=False)
async def merchant_page(request: Request, who: Principal) -> Response:
    ctx = central(request)
    now = ctx.now()
    async with as_user(ctx.pool, who.claims) as conn:
        merchants = await conn.fetch("SELECT name, country, timezone FROM merchants ORDER BY name")
        devices = await conn.fetch(
            "SELECT d.device_id, d.last_seen_at, m.name AS merchant, last_sale.at AS last_sale_at"
            " FROM devices d JOIN merchants m ON m.id = d.merchant_id"
            " LEFT JOIN LATERAL (SELECT r.at FROM journal_records r"
            "   WHERE r.device_id = d.device_id AND r.kind = 'sale'"
            "   ORDER BY r.seq DESC LIMIT 1) AS last_sale ON true"
            " ORDER BY m.name, d.device_id"
        )
        sales = await conn.fetch(
            "SELECT device_id, currency, sales, total_minor FROM device_sales"
            " ORDER BY device_id, currency"
        )
    # One merchant's users see one merchant, whose country and clock the page is written in.
    shop = merchants[0] if len(merchants) == 1 else None
    locale = i18n.locale_for(shop["country"] if shop else None)
    zone = shop["timezone"] if shop else "UTC"
    totals: dict[str, list[str]] = {}
    for row in sales:
        amount = i18n.money(row["total_minor"], row["currency"], locale)
        count = i18n.ngettext("%(num)s sale", "%(num)s sales", row["sales"]) % {"num": row["sales"]}
        totals.setdefault(row["device_id"], []).append(f"{count}, {amount}")
    rows = [
        {
            "device_id": d["device_id"],
            "merchant": d["merchant"],
            "online": d["last_seen_at"] is not None and now - d["last_seen_at"] <= ONLINE_WITHIN,
            "last_seen": i18n.when(d["last_seen_at"], locale, zone)
            if d["last_seen_at"]
            else _("never"),
            "last_sale": _signed_at(d["last_sale_at"], locale, zone)
            if d["last_sale_at"]
            else _("none yet"),
            "totals": totals.get(d["device_id"], []),
        }
        for d in devices
    ]
    return templates.TemplateResponse(
        request,
        "merchant.html",
        {
            "user": who.name,
            "merchants": [m["name"] for m in merchants],
            "devices": rows,
            "is_ops": who.is_ops,
            "now": i18n.when(now, locale, zone),
        },
    )
