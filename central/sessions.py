"""Server-side sessions: the browser's cookie holds a random id, ``web_sessions`` (migration 0011)
holds its SHA-256, the user and the expiry. Logging out deletes the row, so a copied cookie
stops working at once; logging in replaces the id (a cookie planted before the login never
becomes a session); a new password or a deactivation deletes the user's rows (a trigger).

Every visitor's browser gets an id at its first form (the CSRF token is derived from it,
``central.csrf``), but only a login stores one: an anonymous id costs nothing on the server.
``SessionCookie`` carries the request's id; the middleware sets the cookie when the id changed.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from central.users import USER_COLUMNS, WebUser

COOKIE = "bitagora_ops"
LIFETIME = timedelta(hours=12)
_SCOPE_KEY = "bitagora.session"


def _digest(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


@dataclass
class SessionCookie:
    """The id the browser sent (None without a cookie) and the one the answer gives it."""

    sent: str | None
    _id: str | None = None

    @property
    def id(self) -> str:
        """The session's id; one is made for a browser that sent none."""
        if self._id is None:
            self._id = self.sent or secrets.token_urlsafe(32)
        return self._id

    def renew(self) -> str:
        self._id = secrets.token_urlsafe(32)
        return self._id

    @property
    def changed(self) -> bool:
        return self._id is not None and self._id != self.sent


def session_cookie(request: HTTPConnection) -> SessionCookie:
    cookie: SessionCookie = request.scope[_SCOPE_KEY]
    return cookie


class SessionMiddleware:
    """Reads the session cookie into the scope; sets it on the answer when the id changed
    (``Secure`` when central's public URL is https)."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        attributes = f"Path=/; Max-Age={int(LIFETIME.total_seconds())}; HttpOnly; SameSite=Lax"
        self._attributes = attributes + ("; Secure" if secure else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookie = SessionCookie(HTTPConnection(scope).cookies.get(COOKIE) or None)
        scope[_SCOPE_KEY] = cookie

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and cookie.changed:
                headers = MutableHeaders(scope=message)
                headers.append("set-cookie", f"{COOKIE}={cookie.id}; {self._attributes}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


async def start(pool: asyncpg.Pool, request: Request, user: WebUser, now: datetime) -> None:
    """Log ``user`` in: a new id, stored; the id the browser had is dropped. Expired sessions
    are deleted here, so the table holds only live ones and a few expired since the last login."""
    cookie = session_cookie(request)
    old = cookie.sent
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM web_sessions WHERE expires_at <= $1", now)
        if old is not None:
            await conn.execute("DELETE FROM web_sessions WHERE id_hash = $1", _digest(old))
        await conn.execute(
            "INSERT INTO web_sessions (id_hash, user_id, created_at, expires_at)"
            " VALUES ($1, $2, $3, $4)",
            _digest(cookie.renew()),
            user.id,
            now,
            now + LIFETIME,
        )


async def end(pool: asyncpg.Pool, request: Request) -> None:
    """Log out: the session's row is deleted and the browser gets a new, anonymous id."""
    cookie = session_cookie(request)
    if cookie.sent is not None:
        await pool.execute("DELETE FROM web_sessions WHERE id_hash = $1", _digest(cookie.sent))
    cookie.renew()


async def user_of(pool: asyncpg.Pool, request: HTTPConnection, now: datetime) -> WebUser | None:
    """The active user whose live session the request's cookie names, or None."""
    sent = session_cookie(request).sent
    if sent is None:
        return None
    columns = ", ".join(f"u.{name}" for name in USER_COLUMNS.split(", "))
    row = await pool.fetchrow(
        f"SELECT {columns} FROM web_sessions s JOIN web_users u ON u.id = s.user_id"
        " WHERE s.id_hash = $1 AND s.expires_at > $2 AND u.active",
        _digest(sent),
        now,
    )
    return None if row is None else WebUser.from_row(row)
