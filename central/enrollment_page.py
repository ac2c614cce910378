"""Enrollment codes made in the browser (ops only): choose the merchant and how long the code
stays valid; the code is shown once, on the answer to the form (only its hash is stored)."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from central.context import central
from central.csrf import checked_form
from central.enroll import issue_code
from central.i18n import _
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page

TTL_HOURS = (1, 4, 24, 72, 168)


async def _render(
    request: Request, who: Principal, *, code: str = "", merchant: str = "", error: str = ""
) -> Response:
    async with as_user(central(request).pool, who.claims) as conn:
        merchants = await conn.fetch("SELECT id, name FROM merchants ORDER BY name")
        pending = await conn.fetchval(
            "SELECT count(*) FROM enrollment_codes WHERE used_at IS NULL AND expires_at > now()"
        )
    return templates.TemplateResponse(
        request,
        "enrollment_codes.html",
        {
            "user": who.name,
            "merchants": merchants,
            "ttls": TTL_HOURS,
            "pending": pending,
            "code": code,
            "code_merchant": merchant,
            "errors": [error] if error else [],
        },
        status_code=400 if error else 200,
    )


@page(ops_only=True)
async def codes_page(request: Request, who: Principal) -> Response:
    return await _render(request, who)


@page(ops_only=True)
async def make_code(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    merchant_id = str(form.get("merchant") or "")
    hours = str(form.get("ttl_hours") or "")
    if not hours.isdigit() or int(hours) not in TTL_HOURS or not merchant_id.isdigit():
        return await _render(request, who, error=_("Choose a merchant and a validity."))
    async with as_user(central(request).pool, who.claims) as conn:
        name = await conn.fetchval("SELECT name FROM merchants WHERE id = $1", int(merchant_id))
        if name is None:
            return await _render(request, who, error=_("No such merchant."))
        code = await issue_code(conn, int(merchant_id), ttl=timedelta(hours=int(hours)))
    return await _render(request, who, code=code, merchant=name)
