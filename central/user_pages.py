"""The ops Users page: every web user, and forms to add one, deactivate one or reset a password.

Ops only; every query runs as the ops user (``as_user``), where the policies of migration 0004
let ops, and only ops, change users. Every form carries the CSRF token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from central.context import central
from central.csrf import checked_form
from central.templating import templates
from central.tenancy import as_user
from central.users import (
    MERCHANT_ROLES,
    UserError,
    add_user,
    deactivate,
    list_users,
    reset_password,
)
from central.web_auth import Principal, page


async def _render(
    request: Request, who: Principal, *, message: str = "", error: str = "", status: int = 200
) -> Response:
    async with as_user(central(request).pool, who.claims) as conn:
        users = await list_users(conn)
        merchants = [
            row["name"] for row in await conn.fetch("SELECT name FROM merchants ORDER BY name")
        ]
    return templates.TemplateResponse(
        request,
        "users.html",
        {
            "user": who.name,
            "users": users,
            "merchants": merchants,
            "roles": ("ops", *MERCHANT_ROLES),
            "message": message,
            "error": error,
        },
        status_code=status,
    )


@page(ops_only=True)
async def users_page(request: Request, who: Principal) -> Response:
    return await _render(request, who)


@page(ops_only=True)
async def add_user_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    email = str(form.get("email") or "")
    role = str(form.get("role") or "")
    merchant = str(form.get("merchant") or "") or None
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            added = await add_user(
                conn,
                email,
                str(form.get("password") or ""),
                role,
                None if role == "ops" else merchant,
            )
    except UserError as err:
        return await _render(request, who, error=str(err), status=400)
    return await _render(request, who, message=f"Added {added.email} ({added.role}).")


@page(ops_only=True)
async def deactivate_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    email = str(form.get("email") or "")
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            await deactivate(conn, email)
    except UserError as err:
        return await _render(request, who, error=str(err), status=400)
    return await _render(request, who, message=f"Deactivated {email}; their sessions have ended.")


@page(ops_only=True)
async def reset_password_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    email = str(form.get("email") or "")
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            await reset_password(conn, email, str(form.get("password") or ""))
    except UserError as err:
        return await _render(request, who, error=str(err), status=400)
    return await _render(
        request, who, message=f"New password set for {email}; their sessions have ended."
    )
