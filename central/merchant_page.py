"""A merchant user's first page: their merchant's name and its devices, each online or not, with
its last sale and sales totals.

The queries name no merchant: they run as the user (``as_user``), and PostgreSQL's policies
return only the rows of the user's merchant.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from central.context import central
from central.dashboard import format_amount
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page

# A device heartbeats every 30 s by default: three missed ones and it is shown offline.
ONLINE_WITHIN = timedelta(seconds=90)


@page(ops_only=False)
async def merchant_page(request: Request, who: Principal) -> Response:
    ctx = central(request)
    now = ctx.now()
    async with as_user(ctx.pool, who.claims) as conn:
        merchants = await conn.fetch("SELECT name FROM merchants ORDER BY name")
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
    totals: dict[str, list[str]] = {}
    for row in sales:
        amount = format_amount(row["total_minor"], row["currency"])
        totals.setdefault(row["device_id"], []).append(f"{row['sales']} sales, {amount}")
    rows = [
        {
            "device_id": d["device_id"],
            "merchant": d["merchant"],
            "online": d["last_seen_at"] is not None and now - d["last_seen_at"] <= ONLINE_WITHIN,
            "last_seen": f"{d['last_seen_at']:%Y-%m-%d %H:%M:%S} UTC"
            if d["last_seen_at"]
            else "never",
            "last_sale": d["last_sale_at"] or "none yet",
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
            "now": now,
        },
    )
