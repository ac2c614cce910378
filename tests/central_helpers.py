"""Central from a test: the CSRF token of a page's forms, logging in as a browser does (the
login form first, for its token), bearer tokens signed as Supabase Auth signs them, and
``bitagora central …`` run as a process on a database."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from typing import Any

import httpx
import jwt

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF field in the page"
    return found.group(1)


async def log_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    form = await client.get("/login")
    token = csrf_of(form.text) if form.status_code == 200 else ""
    return await client.post(
        "/login", data={"username": username, "password": password, "csrf": token}
    )


async def post_form(
    client: httpx.AsyncClient, page: str, action: str, **fields: str
) -> httpx.Response:
    """Post one of ``page``'s forms with the token the page carries."""
    token = csrf_of((await client.get(page)).text)
    return await client.post(action, data={**fields, "csrf": token})


def supabase_token(
    key: Any,
    app_metadata: dict[str, Any],
    *,
    algorithm: str = "HS256",
    kid: str | None = None,
    **claims: Any,
) -> str:
    """An access token as Supabase Auth issues it, signed with ``key`` (the project's secret for
    HS256, a private key for ES256); ``claims`` replace or add to the usual ones."""
    now = int(time.time())
    payload = {
        "sub": "6f1c2d1e-0000-4000-8000-000000000001",
        "aud": "authenticated",
        "role": "authenticated",
        "email": "someone@example.com",
        "iat": now,
        "exp": now + 3600,
        "app_metadata": app_metadata,
        **claims,
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


async def bitagora_central(database_url: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "BITAGORA_DATA_DIR"}
    env["DATABASE_URL"] = database_url
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "central.cli",
        *args,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
