"""The audit log on a real PostgreSQL over real HTTP: logins and an ops action are recorded with
who, when, what and from where, shown on the ops page with its filters, and the table refuses
UPDATE and DELETE to the pages' role (no grant) and to its owner (trigger)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from central_helpers import log_in, post_form
from conftest import OPS_PASSWORD, CentralTestServer

from central.tenancy import WEB_ROLE, as_user

OPS = {"role": "authenticated", "app_metadata": {"bitagora_role": "ops"}}


async def test_actions_are_recorded_shown_and_cannot_be_changed(
    central_server: CentralTestServer, central_client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    assert (await log_in(central_client, "admin", "wrong-password")).status_code == 401
    assert (await log_in(central_client, "admin", OPS_PASSWORD)).status_code == 303
    added = await post_form(
        central_client,
        "/users",
        "/users",
        email="ops2@example.org",
        password="a-long-enough-password",
        role="ops",
    )
    assert added.status_code == 200 and "Added ops2@example.org" in added.text
    rows = await db.fetch("SELECT actor, address, action, target FROM audit_log ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("admin", "127.0.0.1", "login", "refused"),
        ("admin", "127.0.0.1", "login", "ok"),
        ("admin", "127.0.0.1", "user.add", "ops2@example.org"),
    ]

    page = await central_client.get("/audit", params={"action": "user.add"})
    assert page.status_code == 200
    assert "ops2@example.org" in page.text and "refused" not in page.text
    everything = (await central_client.get("/audit")).text
    assert everything.count("<code>login</code>") == 2

    pool = await asyncpg.create_pool(central_server.database_url, min_size=1, max_size=1)
    try:
        for change in (
            "UPDATE audit_log SET actor = 'nobody'",
            "UPDATE audit_log SET reason = 'covered up'",
            "DELETE FROM audit_log",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with as_user(pool, OPS) as conn:
                    assert await conn.fetchval("SELECT current_user") == WEB_ROLE
                    await conn.execute(change)
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await db.execute(change)  # the owner too
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await db.execute("TRUNCATE audit_log")
    finally:
        await pool.close()
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE actor = 'admin'") == 3
