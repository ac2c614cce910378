"""Liveness and readiness over real HTTP: ``/readyz`` names each check that fails (database,
migrations, disk, last backup) with 503, and answers within 200 ms with PostgreSQL stopped;
``/healthz`` (liveness) stays 200 throughout."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from conftest import OPS_PASSWORD
from starlette.applications import Starlette

from central.app import create_app
from central.db import EmbeddedPostgres
from central.schema import apply_migrations, migration_files, roll_back
from central.serve import RunningServer, start_server
from central.settings import HealthLimits

pytestmark = pytest.mark.timeout(90)
HOUR = 3600.0


async def _serve(url: str, limits: HealthLimits) -> tuple[Starlette, RunningServer]:
    app = create_app(url, secrets.token_urlsafe(32), ops_password=OPS_PASSWORD, health=limits)
    return app, await start_server(app)


async def _ready(client: httpx.AsyncClient) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    answer = await client.get("/readyz")
    return answer.status_code, answer.json(), time.monotonic() - started


@pytest.fixture
async def watched(
    central_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[Starlette, httpx.AsyncClient, asyncpg.Connection]]:
    app, running = await _serve(central_db_url, HealthLimits(tmp_path, 1, 26 * HOUR))
    conn = await asyncpg.connect(central_db_url)
    try:
        async with httpx.AsyncClient(base_url=running.base_url, timeout=5) as client:
            yield app, client, conn
    finally:
        await conn.close()
        await running.stop()


async def test_each_failed_check_is_named(
    watched: tuple[Starlette, httpx.AsyncClient, asyncpg.Connection],
) -> None:
    app, client, conn = watched
    status, body, _ = await _ready(client)
    assert (status, body["failed"], body["checks"]["backup"]) == (
        503,
        ["backup"],
        "no backup recorded",
    )

    await conn.execute(
        "INSERT INTO central_backups (file, bytes, sha256, rows, started_at)"
        " VALUES ('central-1.dump.age', 1, 'x', 1, now())"
    )
    status, body, _ = await _ready(client)
    assert (status, body["ready"], body["failed"]) == (200, True, [])
    assert set(body["checks"]) == {"database", "migrations", "backup", "disk"}

    await conn.execute("UPDATE central_backups SET finished_at = now() - interval '27 hours'")
    status, body, _ = await _ready(client)
    assert (status, body["failed"]) == (503, ["backup"])
    assert body["checks"]["backup"].startswith("last good backup 27.0 h ago, more than 26 h")
    await conn.execute("UPDATE central_backups SET finished_at = now()")

    step = await conn.fetchrow("SELECT * FROM schema_migrations WHERE version = '0003'")
    await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = '0003'")
    status, body, _ = await _ready(client)
    assert (status, body["failed"]) == (503, ["migrations"])
    assert "0003_device_catalogs.sql was edited" in body["checks"]["migrations"]
    await conn.execute("DELETE FROM schema_migrations WHERE version = '0003'")
    status, body, _ = await _ready(client)
    assert body["checks"]["migrations"] == "0003_device_catalogs.sql is pending"
    await conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
        step["version"],
        step["name"],
        step["checksum"],
    )

    limits = app.state.central.health
    app.state.central.health = dataclasses.replace(limits, min_free_bytes=2**62)
    status, body, _ = await _ready(client)
    assert (status, body["failed"]) == (503, ["disk"])
    assert body["checks"]["disk"].endswith(f"below {2**62 // 2**20} MiB")
    app.state.central.health = limits
    assert (await _ready(client))[0] == 200

    # Before migration 0008 there is nowhere to record a backup: a pending migration, no error.
    versions = [m.version for m in migration_files()]
    await roll_back(conn, versions[versions.index("0008") - 1])
    status, body, _ = await _ready(client)
    assert (status, body["failed"]) == (503, ["migrations", "backup"])
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"].startswith("0008_backups.sql is pending")
    await apply_migrations(conn)


async def test_with_postgresql_stopped_readiness_fails_fast(pg_tmp_path: Path) -> None:
    server = EmbeddedPostgres(pg_tmp_path / "pgdata")
    try:
        url = server.url()
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn)
        finally:
            await conn.close()
        _, running = await _serve(url, HealthLimits(pg_tmp_path, 1, None))
        try:
            async with httpx.AsyncClient(base_url=running.base_url, timeout=5) as client:
                status, body, _ = await _ready(client)
                assert (status, body["checks"]) == (
                    200,
                    {"database": "ok", "migrations": "ok", "disk": body["checks"]["disk"]},
                )
                server.close()  # the pool's connections now lead nowhere
                for _attempt in range(3):
                    status, body, took = await _ready(client)
                    assert (status, body["failed"]) == (503, ["database"])
                    assert took < 0.2, f"readiness took {took * 1000:.0f} ms"
                live = await client.get("/healthz")
                assert (live.status_code, live.text) == (200, "ok")
        finally:
            await running.stop()
    finally:
        server.close()
