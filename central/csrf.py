"""CSRF protection, twice over.

- Every form carries a token, the HMAC of the browser's session id (``central.sessions``) under
  central's secret; ``checked_form`` compares it. Another site can neither read the token nor
  make one for the victim's id.
- ``SameOriginMiddleware`` refuses every unsafe request (POST, PUT, PATCH, DELETE) whose
  ``Origin``, or ``Referer`` when there is no ``Origin``, names another origin than central's
  own (or one of the CORS allow-list): a login form posted from a foreign page is refused even
  when it carries a valid token the attacker fetched for themselves. Requests with neither
  header (devices, scripts) are left to the token and to their signatures.

A request authenticated with a bearer token needs no token: a browser never adds an
``Authorization`` header on another site's behalf.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from starlette.datastructures import FormData
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from central.context import central
from central.sessions import session_cookie
from central.web_settings import origin_of

FIELD = "csrf"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class CsrfRefused(Exception):
    """A form without the session's token: refused with 403 (``central.web_auth``)."""


def csrf_token(request: Request) -> str:
    """The token of the browser's session; templates call it for each form."""
    session_id = session_cookie(request).id
    return hmac.new(central(request).csrf_key, session_id.encode(), hashlib.sha256).hexdigest()


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def checked_form(request: Request) -> FormData:
    """The posted form, once its token matches the session's; raises ``CsrfRefused``."""
    form = await request.form()
    if bearer_token(request) is not None:
        return form
    sent = form.get(FIELD)
    if session_cookie(request).sent is None or not (
        isinstance(sent, str) and hmac.compare_digest(sent.encode(), csrf_token(request).encode())
    ):
        raise CsrfRefused
    return form


class SameOriginMiddleware:
    """403 for an unsafe request sent by a page of another origin (see the module's doc).
    Central's origin is its public URL's, else the one the request was addressed to."""

    def __init__(self, app: ASGIApp, *, public_url: str | None, allowed: Iterable[str]) -> None:
        self.app = app
        self._public = origin_of(public_url) if public_url else None
        self._allowed = frozenset(filter(None, map(origin_of, allowed)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            connection = HTTPConnection(scope)
            sent = connection.headers.get("origin") or connection.headers.get("referer")
            if sent is not None:
                own = self._public or origin_of(str(connection.base_url))
                if origin_of(sent) not in self._allowed | {own}:
                    refused = PlainTextResponse(
                        "Refused: this request was sent by a page of another site.\n",
                        status_code=403,
                    )
                    await refused(scope, receive, send)
                    return
        await self.app(scope, receive, send)
