"""Central's web users: ops users (the whole fleet) and merchant users (owners and managers of one
merchant); argon2 password hashes, a first ops user at first start, login throttling.

At central's first start, when no ops user exists, ``admin`` is created with the password from
``BITAGORA_OPS_PASSWORD`` or, absent that, a random one: kept in a file only its owner reads
(``keep_generated_password``) and shown on the terminal that started central, if any; never in a
log.

The functions that change users take a connection: the command line passes central's own (the
owning role), the ops pages one opened by ``central.tenancy.as_user``, where PostgreSQL's
policies let only ops add, deactivate and reset. Deactivating a user or changing their password
ends every session they have (a trigger of migration 0011 deletes them, whoever changes the row).
"""

from __future__ import annotations

import asyncio
import enum
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from central.i18n import LANGUAGES, _

DEFAULT_USER = "admin"
PASSWORD_ENV = "BITAGORA_OPS_PASSWORD"
MIN_PASSWORD = 8
ROLES = ("owner", "manager", "ops")
MERCHANT_ROLES = ("owner", "manager")

_hasher = PasswordHasher()
# Checked for unknown logins so that a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
USER_COLUMNS = "id, email, role, merchant_id, active, language"


class UserError(ValueError):
    """A user that cannot be added or changed as asked; the message says why, for a person."""


class LoginResult(enum.Enum):
    OK = "ok"
    REFUSED = "refused"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class WebUser:
    id: int
    email: str
    role: str
    merchant_id: int | None
    active: bool
    language: str | None  # None: the browser's (central/i18n.py)

    @classmethod
    def from_row(cls, row: Any) -> WebUser:
        return cls(
            id=row["id"],
            email=row["email"],
            role=row["role"],
            merchant_id=row["merchant_id"],
            active=row["active"],
            language=row["language"],
        )


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(
            _("the password must have at least %(count)s characters") % {"count": MIN_PASSWORD}
        )


def check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise UserError(
            _("language must be one of %(languages)s") % {"languages": ", ".join(LANGUAGES)}
        )


async def ensure_ops_user(
    pool: asyncpg.Pool | asyncpg.Connection, password: str | None = None
) -> str | None:
    """Create ``admin`` if there is no ops user at all.

    The password is ``password``, else ``$BITAGORA_OPS_PASSWORD``, else random. Returns the
    random password when one was made (to be shown once), otherwise ``None``.
    """
    if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM web_users WHERE role = 'ops')"):
        return None
    chosen = password or os.environ.get(PASSWORD_ENV) or None
    generated = None if chosen else secrets.token_urlsafe(12)
    created = await pool.fetchval(
        "INSERT INTO web_users (email, password_hash, role) SELECT $1, $2, 'ops'"
        " WHERE NOT EXISTS (SELECT 1 FROM web_users WHERE role = 'ops') RETURNING true",
        DEFAULT_USER,
        await hash_password(chosen or generated or ""),
    )
    # Two centrals starting at once: only the one whose insert won reports a password.
    return generated if created else None


def keep_generated_password(password: str, path: Path | None) -> None:
    """Hand the random first password to whoever started central, without logging it: central's
    standard output is its log (the system journal under systemd). The password goes into
    ``path`` (mode 0600, replaced if it exists) and, when standard output is a terminal, is
    shown there; the log only says where the file is."""
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)  # O_EXCL below: a new file, so mode 0600 whatever was there
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(password + "\n")
        print(
            f"central: created ops user {DEFAULT_USER!r}; its password is in {path}"
            " (readable by this user only: log in, then delete the file)",
            flush=True,
        )
    if sys.stdout.isatty():
        print(
            f"central: ops user {DEFAULT_USER!r}, password {password} (shown only once)", flush=True
        )
    elif path is None:
        print(
            f"central: created ops user {DEFAULT_USER!r} with a random password kept nowhere:"
            f" reset it with `bitagora central user reset-password {DEFAULT_USER}`",
            flush=True,
        )


async def add_user(
    conn: asyncpg.Connection,
    email: str,
    password: str,
    role: str,
    merchant: str | None,
    language: str | None = None,
) -> WebUser:
    """Add a user: ``role`` ops without a merchant, owner or manager of the merchant named;
    ``language`` the pages' (None: the browser's)."""
    email = email.strip()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise UserError(_("not an email address: %(email)r") % {"email": email})
    if role not in ROLES:
        raise UserError(_("role must be one of %(roles)s") % {"roles": ", ".join(ROLES)})
    if (role == "ops") != (merchant is None):
        raise UserError(_("an ops user has no merchant; an owner or manager needs one"))
    check_new_password(password)
    check_language(language)
    merchant_id = None
    if merchant is not None:
        merchant_id = await conn.fetchval("SELECT id FROM merchants WHERE name = $1", merchant)
        if merchant_id is None:
            raise UserError(_("no merchant named %(name)r") % {"name": merchant})
    try:
        row = await conn.fetchrow(
            "INSERT INTO web_users (email, password_hash, role, merchant_id, language)"
            f" VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}",
            email,
            await hash_password(password),
            role,
            merchant_id,
            language,
        )
    except asyncpg.UniqueViolationError:
        raise UserError(_("a user %(email)r exists already") % {"email": email}) from None
    return WebUser.from_row(row)


async def list_users(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Every user the connection may see, with their merchant's name, ops first."""
    rows = await conn.fetch(
        "SELECT u.id, u.email, u.role, u.active, u.language, u.created_at, m.name AS merchant"
        " FROM web_users u LEFT JOIN merchants m ON m.id = u.merchant_id"
        " ORDER BY m.name NULLS FIRST, lower(u.email)"
    )
    return [dict(row) for row in rows]


async def deactivate(conn: asyncpg.Connection, email: str) -> None:
    """Refuse the user's logins from now on and end their sessions."""
    done = await conn.fetchval(
        "UPDATE web_users SET active = false WHERE lower(email) = lower($1) RETURNING true",
        email,
    )
    if not done:
        raise UserError(_("no user %(email)r") % {"email": email})


async def reset_password(conn: asyncpg.Connection, email: str, password: str) -> None:
    """Give the user a new password and end their sessions."""
    check_new_password(password)
    done = await conn.fetchval(
        "UPDATE web_users SET password_hash = $2 WHERE lower(email) = lower($1) RETURNING true",
        email,
        await hash_password(password),
    )
    if not done:
        raise UserError(_("no user %(email)r") % {"email": email})


async def set_own_language(conn: asyncpg.Connection, language: str | None) -> None:
    """The language of the user whose claims the connection carries (``as_user``); None follows
    the browser. A user from a Supabase Auth token has no row here to keep it."""
    check_language(language)
    if not await conn.fetchval("SELECT bitagora_set_own_language($1)", language):
        raise UserError(_("this login keeps no settings on central"))


async def check_login(
    pool: asyncpg.Pool, email: str, password: str
) -> tuple[LoginResult, WebUser | None]:
    """Check a password (the caller has throttled the attempt). An unknown login costs as long
    as a wrong password and answers the same."""
    row = await pool.fetchrow(
        f"SELECT {USER_COLUMNS}, password_hash FROM web_users WHERE lower(email) = lower($1)",
        email,
    )
    if row is None:
        await _verify(_DUMMY_HASH, password)
        return LoginResult.REFUSED, None
    if not await _verify(row["password_hash"], password):
        return LoginResult.REFUSED, None
    # Only who knows the password learns that the user was deactivated.
    if not row["active"]:
        return LoginResult.INACTIVE, None
    return LoginResult.OK, WebUser.from_row(row)
