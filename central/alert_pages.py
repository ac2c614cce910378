"""The ops Alerts page: open alerts first, then their history, filtered by state and kind, with
an acknowledge button (CSRF-checked) on each open one not yet acknowledged. Ops only; queries
run as the user (``as_user``), where migration 0013 lets a page change only the
acknowledgement."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central import alerts
from central.alert_rules import KINDS
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page

PAGE = 500
STATES = ("open", "resolved", "all")


@page(ops_only=True)
async def alerts_page(request: Request, who: Principal) -> Response:
    ctx = central(request)
    state = request.query_params.get("state", "open")
    state = state if state in STATES else "open"
    kind = request.query_params.get("kind") or None
    kind = kind if kind in KINDS else None
    async with as_user(ctx.pool, who.claims) as conn:
        rows = await alerts.listed(conn, state=state, kind=kind, limit=PAGE)
    return templates.TemplateResponse(
        request,
        "alerts.html",
        {
            "user": who.name,
            "alerts": rows,
            "state": state,
            "kind": kind or "",
            "states": STATES,
            "kinds": KINDS,
            "limit": PAGE,
            "now": ctx.now(),
        },
    )


@page(ops_only=True)
async def acknowledge_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    try:
        alert_id = int(str(form.get("alert") or ""))
    except ValueError:
        return Response("no such alert", status_code=400)
    ctx = central(request)
    async with as_user(ctx.pool, who.claims) as conn:
        merchant = await alerts.acknowledge(conn, alert_id, who.name, ctx.now())
        if merchant is not None:
            actor = Actor.of(request, who.name)
            await record(conn, actor, "alert.acknowledge", f"alert {alert_id}", merchant)
    return RedirectResponse("/alerts", status_code=303)
