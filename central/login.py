"""Logging in and out with central's own login (a user's email, or ``admin``, and password).

Both forms carry the session's CSRF token (``central.csrf``): a login form posted from another
site would otherwise log the victim in as the attacker.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central.context import central
from central.csrf import checked_form
from central.templating import templates
from central.users import LOCKOUT, LoginResult, check_login
from central.web_auth import home_of, signed_in, start_session


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
    result, user = await check_login(ctx.pool, username, password, ctx.now())
    if result is LoginResult.OK and user is not None:
        start_session(request, user)
        return RedirectResponse(home_of(user.role), status_code=303)
    if result is LoginResult.LOCKED:
        error = (
            f"Too many failed attempts for this user; try again in "
            f"{int(LOCKOUT.total_seconds())} seconds."
        )
        status = 429
    elif result is LoginResult.INACTIVE:
        error, status = "This user is deactivated; ask central's operators.", 403
    else:
        error, status = "Wrong username or password.", 401
    return templates.TemplateResponse(
        request, "login.html", {"error": error, "username": username}, status_code=status
    )


async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
