"""The ops Users page: every web user, and forms to add one, deactivate one or reset a password.

Ops only; every query runs as the ops user (``as_user``), where the policies of migration 0004
let ops, and only ops, change users. Every form carries the CSRF token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from central import i18n
from central.account_page import language_choices
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import N_, _
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

# The web users' roles (central.users.ROLES), as the page names them.
ROLE_NAMES = {"ops": N_("ops"), "owner": N_("owner"), "manager": N_("manager")}


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
            "role_names": {role: _(name) for role, name in ROLE_NAMES.items()},
            "languages": language_choices(),
            "language_names": {code: i18n.display_name(code) for code in i18n.LANGUAGES},
            "message": message,
            "error": error,
        },
        status_code=status,
    )


@page(ops_only=True)
async def users_page(request: Request, who: Principal) -> Response:
    return await _render(request, who)


async def _change(
    request: Request,
    who: Principal,
    action: str,
    change: Callable[[asyncpg.Connection, FormData], Awaitable[str]],
) -> Response:
    """Apply one form's change as the ops user, recorded in the audit log as ``action`` on the
    form's e-mail; the page again, with what happened."""
    form = await checked_form(request)
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            message = await change(conn, form)
            await record(conn, Actor.of(request, who.name), action, _field(form, "email"))
    except UserError as err:
        return await _render(request, who, error=str(err), status=400)
    return await _render(request, who, message=message)


def _field(form: FormData, name: str) -> str:
    return str(form.get(name) or "")


@page(ops_only=True)
async def add_user_form(request: Request, who: Principal) -> Response:
    async def add(conn: asyncpg.Connection, form: FormData) -> str:
        role = _field(form, "role")
        merchant = None if role == "ops" else _field(form, "merchant") or None
        email, password = _field(form, "email"), _field(form, "password")
        language = _field(form, "language") or None
        user = await add_user(conn, email, password, role, merchant, language)
        return _("Added %(email)s (%(role)s).") % {"email": user.email, "role": _(ROLE_NAMES[role])}

    return await _change(request, who, "user.add", add)


@page(ops_only=True)
async def deactivate_form(request: Request, who: Principal) -> Response:
    async def off(conn: asyncpg.Connection, form: FormData) -> str:
        await deactivate(conn, _field(form, "email"))
        return _("Deactivated %(email)s; their sessions have ended.") % {
            "email": _field(form, "email")
        }

    return await _change(request, who, "user.deactivate", off)


@page(ops_only=True)
async def reset_password_form(request: Request, who: Principal) -> Response:
    async def reset(conn: asyncpg.Connection, form: FormData) -> str:
        await reset_password(conn, _field(form, "email"), _field(form, "password"))
        return _("New password set for %(email)s; their sessions have ended.") % {
            "email": _field(form, "email")
        }

    return await _change(request, who, "user.reset_password", reset)
