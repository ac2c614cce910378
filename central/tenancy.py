"""Run a page's queries as its user, so that PostgreSQL's Row Level Security filters every row.

``as_user`` opens a transaction on a pooled connection, switches to the ``bitagora_web`` role
(which owns nothing, so the policies of migration 0004 apply to it) and sets the user's claims in
``request.jwt.claims``, as Supabase's PostgREST does for each request. Both settings are local to
the transaction and vanish with it, before the connection goes back to the pool. A query that
forgets its merchant filter still returns only the user's merchant's rows; with no claims it
returns nothing.

Claims have Supabase Auth's shape: ``app_metadata.bitagora_role`` (``ops``, ``owner`` or
``manager``) and ``app_metadata.merchant_id`` (owners and managers only).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from central.users import WebUser

WEB_ROLE = "bitagora_web"


def claims_of(user: WebUser) -> dict[str, Any]:
    """The claims of a user who logged in with central's own login."""
    app_metadata: dict[str, Any] = {"bitagora_role": user.role}
    if user.merchant_id is not None:
        app_metadata["merchant_id"] = user.merchant_id
    return {
        "sub": f"central-user-{user.id}",
        "email": user.email,
        "role": "authenticated",
        "app_metadata": app_metadata,
    }


@asynccontextmanager
async def as_user(
    pool: asyncpg.Pool, claims: Mapping[str, Any]
) -> AsyncIterator[asyncpg.Connection]:
    """A connection inside a transaction that runs as ``bitagora_web`` with ``claims``."""
    async with pool.acquire() as conn, conn.transaction():
        # One round trip; set_config(..., true) is SET LOCAL, undone at the transaction's end.
        await conn.execute(
            "SELECT set_config('role', $1, true), set_config('request.jwt.claims', $2, true)",
            WEB_ROLE,
            json.dumps(dict(claims), separators=(",", ":")),
        )
        yield conn
