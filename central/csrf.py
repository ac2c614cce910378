"""CSRF protection for every form central serves: a random token kept in the signed session
cookie, put in each form as a hidden field and compared when the form comes back.

A request authenticated with a bearer token needs none: a browser never adds an
``Authorization`` header on another site's behalf.
"""

from __future__ import annotations

import secrets

from starlette.datastructures import FormData
from starlette.requests import Request

FIELD = "csrf"
_SESSION_KEY = "csrf"


class CsrfRefused(Exception):
    """A form without the session's token: refused with 403 (``central.web_auth``)."""


def csrf_token(request: Request) -> str:
    """The session's token, made on first use; templates call it for each form."""
    token = request.session.get(_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session[_SESSION_KEY] = token
    return token


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def checked_form(request: Request) -> FormData:
    """The posted form, once its token matches the session's; raises ``CsrfRefused``."""
    form = await request.form()
    if bearer_token(request) is not None:
        return form
    sent = form.get(FIELD)
    expected = request.session.get(_SESSION_KEY)
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and secrets.compare_digest(sent.encode(), expected.encode())
    ):
        raise CsrfRefused
    return form
