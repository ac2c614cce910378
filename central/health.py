"""Liveness and readiness.

``/healthz`` is liveness: the process answers, nothing else is asked (a restart would not fix a
database outage, so it must not fail for one). ``/readyz`` is readiness: the database answers a
real query, every migration file is applied unedited, central's data directory has room, and,
when backups are watched, the last good one is recent. It answers 503 naming what failed, within
``CHECK_TIMEOUT_S`` plus a little, whatever state the database is in.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from central.context import central
from central.schema import Applied, compare, migration_files

CHECK_TIMEOUT_S = 0.15  # readiness answers within 200 ms: probes time out at about 1 s


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    ctx = central(request)
    limits = ctx.health
    checks: dict[str, str] = {}
    failed: list[str] = []

    def result(name: str, problem: str | None, fine: str = "ok") -> None:
        checks[name] = problem or fine
        if problem:
            failed.append(name)

    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            async with ctx.pool.acquire() as conn:
                rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
                last_backup = None  # also when the table is still to come (a pending migration)
                if limits.backup_max_age_s is not None and await conn.fetchval(
                    "SELECT to_regclass('central_backups') IS NOT NULL"
                ):
                    last_backup = await conn.fetchval(
                        "SELECT max(finished_at) FROM central_backups"
                    )
    except TimeoutError:
        result("database", f"no answer within {CHECK_TIMEOUT_S * 1000:.0f} ms")
    except Exception as err:  # whatever the database does wrong, central is not ready
        result("database", f"{type(err).__name__}: {err}")
    else:
        result("database", None)
        result("migrations", _migrations_problem(rows))
        if limits.backup_max_age_s is not None:
            result("backup", _backup_problem(last_backup, limits.backup_max_age_s))
    if limits.directory is not None:
        free = shutil.disk_usage(limits.directory).free
        low = free < limits.min_free_bytes
        result(
            "disk",
            f"{free // 2**20} MiB free, below {limits.min_free_bytes // 2**20} MiB"
            if low
            else None,
            f"ok: {free // 2**20} MiB free",
        )
    body: dict[str, Any] = {"ready": not failed, "failed": failed, "checks": checks}
    return JSONResponse(body, status_code=503 if failed else 200)


def _migrations_problem(rows: list[Any]) -> str | None:
    applied = [Applied(r["version"], r["name"], r["checksum"]) for r in rows]
    status = compare(applied, migration_files())
    problems = status.problems + [f"{m.name} is pending" for m in status.pending]
    return "; ".join(problems) or None


def _backup_problem(last: Any, max_age_s: float) -> str | None:
    if last is None:
        return "no backup recorded"
    age_s = time.time() - last.timestamp()
    if age_s > max_age_s:
        return f"last good backup {age_s / 3600:.1f} h ago, more than {max_age_s / 3600:g} h"
    return None
