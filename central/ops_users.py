"""Ops users: argon2 password hashes in PostgreSQL, a first user at first start, login throttling.

At central's first start, when no ops user exists, ``admin`` is created with the password from
``BITAGORA_OPS_PASSWORD`` or, absent that, a random one: kept in a file only its owner reads
(``keep_generated_password``) and shown on the terminal that started central, if any; never in a
log. After ``MAX_FAILURES`` wrong passwords in a row a username is locked for ``LOCKOUT``.
"""

from __future__ import annotations

import asyncio
import enum
import os
import secrets
import sys
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

DEFAULT_USER = "admin"
PASSWORD_ENV = "BITAGORA_OPS_PASSWORD"
MAX_FAILURES = 5
LOCKOUT = timedelta(seconds=30)

_hasher = PasswordHasher()
# Checked for unknown usernames so that a miss costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class LoginResult(enum.Enum):
    OK = "ok"
    REFUSED = "refused"
    LOCKED = "locked"


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def ensure_ops_user(
    pool: asyncpg.Pool | asyncpg.Connection, password: str | None = None
) -> str | None:
    """Create ``admin`` if there is no ops user at all.

    The password is ``password``, else ``$BITAGORA_OPS_PASSWORD``, else random. Returns the
    random password when one was made (to be shown once), otherwise ``None``.
    """
    if await pool.fetchval("SELECT EXISTS (SELECT 1 FROM ops_users)"):
        return None
    chosen = password or os.environ.get(PASSWORD_ENV) or None
    generated = None if chosen else secrets.token_urlsafe(12)
    created = await pool.fetchval(
        "INSERT INTO ops_users (username, password_hash) SELECT $1, $2"
        " WHERE NOT EXISTS (SELECT 1 FROM ops_users) RETURNING true",
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
            f" empty the ops_users table and restart central with ${PASSWORD_ENV} set",
            flush=True,
        )


async def set_password(pool: asyncpg.Pool, username: str, password: str) -> None:
    await pool.execute(
        "INSERT INTO ops_users (username, password_hash) VALUES ($1, $2) ON CONFLICT (username)"
        " DO UPDATE SET password_hash = EXCLUDED.password_hash, failed_logins = 0,"
        " locked_until = NULL",
        username,
        await hash_password(password),
    )


async def check_login(
    pool: asyncpg.Pool, username: str, password: str, now: datetime
) -> LoginResult:
    row = await pool.fetchrow(
        "SELECT password_hash, locked_until FROM ops_users WHERE username = $1", username
    )
    if row is None:
        await _verify(_DUMMY_HASH, password)
        return LoginResult.REFUSED
    if row["locked_until"] is not None and row["locked_until"] > now:
        return LoginResult.LOCKED
    if await _verify(row["password_hash"], password):
        await pool.execute(
            "UPDATE ops_users SET failed_logins = 0, locked_until = NULL WHERE username = $1",
            username,
        )
        return LoginResult.OK
    failures = await pool.fetchval(
        "UPDATE ops_users SET failed_logins = failed_logins + 1 WHERE username = $1"
        " RETURNING failed_logins",
        username,
    )
    if failures >= MAX_FAILURES:
        await pool.execute(
            "UPDATE ops_users SET failed_logins = 0, locked_until = $2 WHERE username = $1",
            username,
            now + LOCKOUT,
        )
        return LoginResult.LOCKED
    return LoginResult.REFUSED
