"""Login throttling: how many password checks a key may have, and how long the next one waits.

Three keys count every attempt: the account from the caller's address, the caller's address (any
account: password spraying) and the account (from anywhere: many addresses against one user).
A few attempts per key are checked back to back; after those each one sets a delay, doubling
from ``first_delay_s`` up to ``max_delay_s``, before which that key's next attempt is refused
with ``Retry-After`` unchecked. Nothing locks: once the delay is over, the right password works.

Taking a slot is one ``INSERT … ON CONFLICT DO UPDATE … WHERE not_before <= now RETURNING``:
PostgreSQL locks the key's row, so of parallel attempts only as many as the key allows are
checked (a read of the count followed by a write would let them all through). Only attempts
that took a slot count: a burst of refused ones does not push the delay further, and the
account's own key counts only checked passwords, so an attacker's burst from one address does
not keep the account's owner out from another (``ACCOUNT_FROM_ADDRESS`` is the one that
stops it). Unknown accounts are counted the same way, so behaviour says nothing of which exist.
A key's count is forgotten ``FORGET_AFTER`` its last counted attempt; a successful login
forgets its account-from-address key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

FORGET_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class Limit:
    kind: str  # the key's prefix
    free: int  # attempts checked back to back
    first_delay_s: float
    max_delay_s: float


ACCOUNT_FROM_ADDRESS = Limit("account-address", free=3, first_delay_s=1.0, max_delay_s=900.0)
ADDRESS = Limit("address", free=20, first_delay_s=1.0, max_delay_s=900.0)
ACCOUNT = Limit("account", free=10, first_delay_s=1.0, max_delay_s=900.0)

# The delay set by the n-th counted attempt ($3 free, $4 first delay, $5 at most); the exponent
# is capped so that power() cannot overflow however many attempts a key has had.
_DELAY = (
    "make_interval(secs => CASE WHEN {n} <= $3 THEN 0"
    " ELSE least($5, $4 * power(2, least({n} - $3 - 1, 60))) END)"
)
_TAKE = (
    "INSERT INTO login_attempts AS a (key, attempts, not_before, last_at)"
    f" VALUES ($1, 1, $2::timestamptz + {_DELAY.format(n='1')}, $2)"
    " ON CONFLICT (key) DO UPDATE SET attempts = a.attempts + 1,"
    f" not_before = $2::timestamptz + {_DELAY.format(n='a.attempts + 1')}, last_at = $2"
    " WHERE a.not_before <= $2 RETURNING attempts"
)


def keys(account: str, address: str) -> list[tuple[Limit, str]]:
    """The keys a login attempt counts against, most specific first (see ``allow``)."""
    account = account.lower()
    return [
        (ACCOUNT_FROM_ADDRESS, f"{ACCOUNT_FROM_ADDRESS.kind}:{address}:{account}"),
        (ADDRESS, f"{ADDRESS.kind}:{address}"),
        (ACCOUNT, f"{ACCOUNT.kind}:{account}"),
    ]


async def allow(pool: asyncpg.Pool, account: str, address: str, now: datetime) -> int | None:
    """Take a slot on each key in turn; None when the password may be checked, else the seconds
    to wait. Keys are taken most specific first, so a burst refused on its own account-and-address
    key does not use up the account's key, which the account's owner elsewhere also needs."""
    await pool.execute("DELETE FROM login_attempts WHERE last_at < $1", now - FORGET_AFTER)
    for limit, key in keys(account, address):
        taken = await pool.fetchval(
            _TAKE, key, now, limit.free, limit.first_delay_s, limit.max_delay_s
        )
        if taken is None:
            not_before = await pool.fetchval(
                "SELECT not_before FROM login_attempts WHERE key = $1", key
            )
            wait = (not_before - now).total_seconds() if not_before is not None else 1
            return max(1, math.ceil(wait))
    return None


async def succeeded(pool: asyncpg.Pool, account: str, address: str) -> None:
    """The right password: its account-and-address key starts afresh. The others do not: an
    attacker's own account must not reset the address's count, nor one login the account's."""
    _, key = keys(account, address)[0]
    await pool.execute("DELETE FROM login_attempts WHERE key = $1", key)
