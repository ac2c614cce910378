"""The ops Alerts pages: open alerts first, then their history, filtered by state and kind, with
an acknowledge button (CSRF-checked) on each open one not yet acknowledged; and the thresholds,
the fleet's and each merchant's, set and cleared. Ops only; queries run as the user
(``as_user``), where migrations 0013 and 0018 let a page change only the acknowledgement and
the thresholds."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central import alerts
from central.alert_rules import DEFAULTS, KINDS
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import N_, _
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page

PAGE = 500
MAX_THRESHOLD = 10**9
STATES = ("open", "resolved", "all")
STATE_NAMES = {"open": N_("open"), "resolved": N_("resolved"), "all": N_("all")}


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
            "state_names": {state: _(name) for state, name in STATE_NAMES.items()},
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


@page(ops_only=True)
async def thresholds_page(request: Request, who: Principal) -> Response:
    ctx = central(request)
    async with as_user(ctx.pool, who.claims) as conn:
        rows = await alerts.thresholds(conn)
        merchants = await conn.fetch("SELECT id, name FROM merchants ORDER BY name, id")
    fleet = {row["name"]: row["value"] for row in rows if row["merchant_id"] is None}
    return templates.TemplateResponse(
        request,
        "alert_thresholds.html",
        {
            "user": who.name,
            "defaults": DEFAULTS,
            "fleet": fleet,
            "overrides": [row for row in rows if row["merchant_id"] is not None],
            "merchants": merchants,
            "error": request.query_params.get("error", ""),
        },
    )


def _threshold(form: dict[str, str]) -> tuple[int | None, str, int | None]:
    """(merchant id or None for the fleet, name, value or None to clear) from the form, or
    ValueError naming what is wrong."""
    name = form.get("name", "")
    if name not in DEFAULTS:
        raise ValueError(_("no threshold %(name)r") % {"name": name})
    scope = form.get("merchant", "")
    merchant = int(scope) if scope.isdigit() else None
    if scope and merchant is None:
        raise ValueError(_("no such merchant"))
    text = form.get("value", "").strip()
    if not text:
        return merchant, name, None
    if not text.isdigit() or int(text) > MAX_THRESHOLD:
        raise ValueError(
            _("%(name)s must be a whole number from 0 to %(max)s")
            % {"name": name, "max": MAX_THRESHOLD}
        )
    return merchant, name, int(text)


@page(ops_only=True)
async def set_threshold_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    try:
        merchant, name, value = _threshold({k: str(v) for k, v in form.items()})
    except ValueError as err:
        return RedirectResponse(f"/alerts/thresholds?{urlencode({'error': str(err)})}", 303)
    ctx = central(request)
    async with as_user(ctx.pool, who.claims) as conn:
        if merchant is not None and not await conn.fetchval(
            "SELECT true FROM merchants WHERE id = $1", merchant
        ):
            refused = urlencode({"error": _("no such merchant")})
            return RedirectResponse(f"/alerts/thresholds?{refused}", 303)
        await alerts.set_threshold(conn, merchant, name, value)
        change = f"{name} = {value}" if value is not None else f"{name} cleared"
        scope = "fleet" if merchant is None else f"merchant {merchant}"
        await record(
            conn, Actor.of(request, who.name), "alert.threshold", scope, merchant, detail=change
        )
    return RedirectResponse("/alerts/thresholds", status_code=303)
