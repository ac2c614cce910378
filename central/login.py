"""Logging in and out with central's own login (a user's email, or ``admin``, and password).

Both forms carry the session's CSRF token (``central.csrf``): a login form posted from another
site would otherwise log the victim in as the attacker. Every attempt is throttled before its
password is checked (``central.throttle``); a throttled one is answered 429 with
``Retry-After``, whether the account exists or not. Each attempt is one log line with its
outcome and address as fields; never the name typed (it may be a password typed in the wrong
box) nor the password.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central import sessions, throttle
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import _
from central.templating import templates
from central.users import LoginResult, check_login
from central.web_auth import home_of, signed_in

log = logging.getLogger(__name__)


async def login_form(request: Request) -> Response:
    who = await signed_in(request)
    if who is not None:
        return RedirectResponse(who.home, status_code=303)
    return templates.TemplateResponse(request, "login.html", {"error": None, "username": ""})


async def login(request: Request) -> Response:
    form = await checked_form(request)
    username = str(form.get("username") or "").strip()[:254]
    password = str(form.get("password") or "")[:1000]
    ctx = central(request)
    address = request.client.host if request.client else "unknown"
    headers = {}
    wait = await throttle.allow(ctx.pool, username, address, ctx.now())
    if wait is not None:
        log.info("login throttled", extra={"address": address, "retry_after_s": wait})
        error = _("Too many attempts; try again in %(seconds)s seconds.") % {"seconds": wait}
        status, headers = 429, {"Retry-After": str(wait)}
    else:
        result, user = await check_login(ctx.pool, username, password)
        fields = {"address": address, "outcome": result.value}
        log.info("login", extra=fields | ({"user_id": user.id} if user else {}))
        merchant = user.merchant_id if user else None
        actor = Actor.of(request, username or "(no username)")
        await record(ctx.pool, actor, "login", result.value, merchant)
        if result is LoginResult.OK and user is not None:
            await throttle.succeeded(ctx.pool, username, address)
            await sessions.start(ctx.pool, request, user, ctx.now())
            return RedirectResponse(home_of(user.role), status_code=303)
        if result is LoginResult.INACTIVE:
            error, status = _("This user is deactivated; ask central's operators."), 403
        else:
            error, status = _("Wrong username or password."), 401
    return templates.TemplateResponse(
        request,
        "login.html",
        {"error": error, "username": username},
        status_code=status,
        headers=headers,
    )


async def logout(request: Request) -> Response:
    await checked_form(request)
    await sessions.end(central(request).pool, request)
    return RedirectResponse("/login", status_code=303)
