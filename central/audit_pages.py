"""The ops Audit log page: newest first, filtered by action, actor and merchant. Ops only; the
query runs as the user (``as_user``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from central.context import central
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page

PAGE = 500


@page(ops_only=True)
async def audit_page(request: Request, who: Principal) -> Response:
    filters = {
        name: request.query_params.get(name, "").strip()[:200]
        for name in ("action", "actor", "merchant")
    }
    async with as_user(central(request).pool, who.claims) as conn:
        rows = await conn.fetch(
            "SELECT l.at, l.actor, l.address, l.action, l.target, m.name AS merchant"
            " FROM audit_log l LEFT JOIN merchants m ON m.id = l.merchant_id"
            " WHERE ($1 = '' OR l.action = $1) AND ($2 = '' OR l.actor = $2)"
            " AND ($3 = '' OR m.name = $3) ORDER BY l.at DESC, l.id DESC LIMIT $4",
            filters["action"],
            filters["actor"],
            filters["merchant"],
            PAGE,
        )
    return templates.TemplateResponse(
        request,
        "audit.html",
        {"user": who.name, "rows": rows, "filters": filters, "limit": PAGE},
    )
