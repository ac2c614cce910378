"""PostgreSQL for a benchmark: databases of its own, created on the server ``--postgres-url``
names and dropped afterwards, or else on an embedded server the benchmark starts (and stops) in
its temporary folder. The test suite's smoke run (tests/test_bench_smoke.py) passes its own
running server, so that a smoke run does not pay for a cluster's initdb and start."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from central.db import EmbeddedPostgres

OPTION = "--postgres-url"


def add_postgres_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        OPTION,
        help="a PostgreSQL server (the URL of any database on it, as a role that may create"
        " databases) to make the benchmark's databases on, instead of an embedded server",
    )


class BenchPostgres:
    """Databases on one server, each dropped at ``close``; the server stopped then if it is
    the benchmark's own."""

    def __init__(self, server_url: str, embedded: EmbeddedPostgres | None) -> None:
        self._server_url = server_url
        self._embedded = embedded
        self._made: list[str] = []

    @classmethod
    async def open(cls, server_url: str | None, folder: Path) -> BenchPostgres:
        if server_url is not None:
            return cls(server_url, None)
        embedded = EmbeddedPostgres(folder / "pgdata")
        return cls(embedded.url(), embedded)

    def server_pid(self) -> int | None:
        """The embedded server's postmaster (its backends are its children); None on a
        server the benchmark was given."""
        if self._embedded is None:
            return None
        return int((self._embedded.pgdata / "postmaster.pid").read_text().split()[0])

    async def database(self, name: str) -> str:
        """The URL of a new empty database; its name is ``name`` and a random suffix, so that
        benchmarks sharing a server never meet."""
        unique = f"{name}_{secrets.token_hex(6)}"
        await self._admin(f'CREATE DATABASE "{unique}"')
        self._made.append(unique)
        return urlsplit(self._server_url)._replace(path=f"/{unique}").geturl()

    async def close(self) -> None:
        try:
            for name in self._made:
                await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            if self._embedded is not None:
                self._embedded.close()

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self._server_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()
