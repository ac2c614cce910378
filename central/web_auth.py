"""Who is asking for a page: a session from central's own login, or a Supabase Auth bearer token.

Both give the same claims (``central.tenancy``). A session is a row of ``web_sessions``
(``central.sessions``); every request looks it up with its user, so a logout, a deactivation or
a password reset ends it at its next request. That check, like the login itself, runs as
central's own role: it has to find the user before any claims exist. The page itself then runs
its queries through ``as_user`` with the claims.

``page`` wraps a handler ``(request, who) -> response``: logged out → the login page; a merchant
user on an ops page → 403. ``merchant_page`` wraps a page of the merchant's back office: for a
merchant's owners and managers only (ops → 403: ops watch the fleet; a merchant's catalog,
staff and sales are the merchant's to keep), and with ``owner_only`` for owners only.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from central import i18n, sessions
from central.context import central
from central.csrf import bearer_token
from central.i18n import _
from central.templating import templates
from central.tenancy import claims_of
from central.tokens import TokenRefused

Handler = Callable[[Request, "Principal"], Awaitable[Response]]
# A back office page: the request, its user and the id of the user's merchant.
MerchantHandler = Callable[[Request, "Principal", int], Awaitable[Response]]


@dataclass(frozen=True)
class Principal:
    claims: dict[str, Any]
    name: str  # shown beside "Log out"
    language: str | None = None  # the user's own setting; None: the browser's

    @property
    def role(self) -> str:
        return str(self.claims["app_metadata"]["bitagora_role"])

    @property
    def is_ops(self) -> bool:
        return self.role == "ops"

    @property
    def home(self) -> str:
        return home_of(self.role)

    @property
    def merchant_id(self) -> int | None:
        found = self.claims["app_metadata"].get("merchant_id")
        return int(found) if found is not None else None


def home_of(role: str) -> str:
    """The first page of a user: the fleet for ops, their merchant's page for the others."""
    return "/" if role == "ops" else "/merchant"


async def signed_in(request: Request) -> Principal | None:
    """The request's user, or None when logged out; raises ``TokenRefused`` for a bad token."""
    ctx = central(request)
    token = bearer_token(request)
    if token is not None:
        if ctx.tokens is None:
            raise TokenRefused("this central accepts no bearer tokens")
        claims = await ctx.tokens.claims(token)
        return Principal(claims, str(claims.get("email") or claims["sub"]))
    user = await sessions.user_of(ctx.pool, request, ctx.now())
    return None if user is None else Principal(claims_of(user), user.email, user.language)


def page(*, ops_only: bool) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            who = await signed_in(request)
            if who is None:
                return RedirectResponse("/login", status_code=303)
            if who.language is not None:
                i18n.activate(who.language)
            if ops_only and not who.is_ops:
                return templates.TemplateResponse(
                    request, "forbidden.html", {"user": who.name}, status_code=403
                )
            return await handler(request, who)

        return endpoint

    return wrap


def merchant_page(
    *, owner_only: bool = False
) -> Callable[[MerchantHandler], Callable[[Request], Awaitable[Response]]]:
    def wrap(handler: MerchantHandler) -> Callable[[Request], Awaitable[Response]]:
        @page(ops_only=False)
        @functools.wraps(handler)
        async def endpoint(request: Request, who: Principal) -> Response:
            merchant = who.merchant_id
            if merchant is None or (owner_only and who.role != "owner"):
                reason = (
                    _("a merchant's owners")
                    if owner_only
                    else _("a merchant's owners and managers")
                )
                return templates.TemplateResponse(
                    request,
                    "forbidden.html",
                    {"user": who.name, "for_whom": reason, "home": who.home},
                    status_code=403,
                )
            return await handler(request, who, merchant)

        return endpoint

    return wrap


async def token_refused(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(
        _("bearer token refused: %(reason)s") % {"reason": exc} + "\n",
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


async def csrf_refused(request: Request, exc: Exception) -> Response:
    return PlainTextResponse(
        _("This form has expired or did not come from central: reload the page and try again.")
        + "\n",
        status_code=403,
    )
