"""Helpers shared by the uplink tests (no tests here): real central servers that can be stopped
and restarted on the same port, a failing proxy in front of central, a scripted HTTP server, and
device stores with journal records in them."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from store_helpers import cash_sale_body, open_device

from appliance.config import Settings, UplinkSettings
from appliance.store import journal
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.journal import WireRecord
from appliance.uplink.backoff import Backoff
from appliance.uplink.client import CentralClient, Enrollment
from appliance.uplink.daemon import EnrollmentState, Uplink, save_enrollment
from bitagora_protocol.journal import Record
from central.serve import RunningServer, start_server

OPS_PASSWORD = "central-test-password"  # as in conftest: the template's ops user exists already


async def wait_until(
    condition: Callable[[], Awaitable[bool]], timeout_s: float = 15.0, what: str = "condition"
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)  # polling interval of a bounded wait, not synchronisation


@dataclass
class Device:
    """A real device store (SQLite, key, journal) in a temporary folder."""

    data_dir: Path
    conn: aiosqlite.Connection
    identity: DeviceIdentity
    written: int = 0

    @classmethod
    async def open(cls, data_dir: Path) -> Device:
        conn, identity = await open_device(data_dir)
        last, _ = await journal.tail(conn)
        return cls(data_dir, conn, identity, last)

    async def close(self) -> None:
        await self.conn.close()

    async def write(self, count: int) -> list[Record]:
        """Append ``count`` real sale records in one transaction (journal + sales + outbox)."""
        records = []
        async with transaction(self.conn):
            for index in range(self.written, self.written + count):
                records.append(
                    await journal.append(self.conn, self.identity, "sale", cash_sale_body(index))
                )
        self.written += count
        return records

    async def outbox_count(self) -> int:
        row = await (await self.conn.execute("SELECT count(*) FROM outbox")).fetchone()
        assert row is not None
        return int(row[0])

    async def all_records(self) -> list[Record]:
        return [record async for record in journal.iterate(self.conn)]

    def settings(self, **uplink: Any) -> Settings:
        values: dict[str, Any] = {"heartbeat_s": 30, **uplink}
        return Settings(data_dir=self.data_dir, uplink=UplinkSettings(**values))

    async def enroll(self, central_url: str, code: str) -> EnrollmentState:
        async with httpx.AsyncClient(timeout=10) as http:
            enrollment = await CentralClient(central_url, self.identity, http).enroll(code)
        return await save_enrollment(self.conn, enrollment, central_url)

    async def mark_enrolled(self, central_url: str) -> EnrollmentState:
        """Enrollment state as if enrolled (for servers that do not implement enrollment)."""
        enrollment = Enrollment(self.identity.device_id, "Scripted Shop", 1, "00" * 32)
        return await save_enrollment(self.conn, enrollment, central_url)


@asynccontextmanager
async def open_device_store(data_dir: Path) -> AsyncIterator[Device]:
    device = await Device.open(data_dir)
    try:
        yield device
    finally:
        await device.close()


def wired(records: Sequence[Record]) -> list[WireRecord]:
    """Records in the form the uplink client sends them."""
    return [journal.wire_of(record) for record in records]


def fast_backoff() -> Backoff:
    return Backoff(0.01, 0.05)


@asynccontextmanager
async def uplink_for(
    device: Device,
    central_url: str,
    backoff: Backoff | None = None,
    http_timeout_s: float = 10,
    **uplink: Any,
) -> AsyncIterator[tuple[Uplink, httpx.AsyncClient]]:
    async with httpx.AsyncClient(timeout=http_timeout_s) as http:
        client = CentralClient(central_url, device.identity, http)
        yield (
            Uplink(
                device.settings(central_url=central_url, **uplink),
                device.conn,
                device.identity,
                client,
                poll_interval_s=0.05,
                backoff=backoff or fast_backoff(),
            ),
            http,
        )


@asynccontextmanager
async def running(uplink: Uplink) -> AsyncIterator[asyncio.Task[None]]:
    """Run the daemon in a task for the block; stop it and wait for it afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(uplink.run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


async def assert_central_matches(db: CentralDb, device: Device) -> None:
    """Central holds exactly the device's journal: every seq once, same hashes, arrived in order."""
    local = await device.all_records()
    held = await db.records(device.identity.device_id)
    assert [(r["seq"], r["hash"]) for r in held] == [(r.seq, r.hash) for r in local]
    arrival = sorted(held, key=lambda r: (r["received_at"], r["seq"]))
    assert [r["seq"] for r in arrival] == [r.seq for r in local]
    assert await db.held_seq(device.identity.device_id) == len(local)


# -- central and its database ----------------------------------------------------------------


class CentralDb:
    def __init__(self, url: str) -> None:
        self.url = url

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def held_seq(self, device_id: str) -> int:
        value = await self.fetchval("SELECT held_seq FROM devices WHERE device_id = $1", device_id)
        return int(value)

    async def records(self, device_id: str) -> list[asyncpg.Record]:
        return await self.fetch(
            "SELECT seq, hash, received_at FROM journal_records WHERE device_id = $1 ORDER BY seq",
            device_id,
        )

    async def make_code(self, merchant: str = "Uplink Test Shop") -> str:
        from central.enroll import create_code

        conn = await asyncpg.connect(self.url)
        try:
            return await create_code(conn, merchant)
        finally:
            await conn.close()

    async def forget_after(self, device_id: str, seq: int) -> None:
        """Central 'restored from a backup': it holds only records up to ``seq``."""
        conn = await asyncpg.connect(self.url)
        try:
            async with conn.transaction():
                await conn.execute(
                    "DELETE FROM journal_records WHERE device_id = $1 AND seq > $2", device_id, seq
                )
                held_hash = await conn.fetchval(
                    "SELECT hash FROM journal_records WHERE device_id = $1 AND seq = $2",
                    device_id,
                    seq,
                )
                await conn.execute(
                    "UPDATE devices SET held_seq = $2, held_hash = $3 WHERE device_id = $1",
                    device_id,
                    seq,
                    held_hash,
                )
        finally:
            await conn.close()


class RestartableCentral:
    """The real central app on a fixed local port that a test can stop and start again."""

    def __init__(
        self,
        database_url: str,
        clock: Callable[[], float] = time.time,
        signing_key: Ed25519PrivateKey | None = None,
    ) -> None:
        self.database_url = database_url
        self.clock = clock
        # One key across restarts, as central keeps its key file: devices pin it.
        self.signing_key = signing_key or Ed25519PrivateKey.generate()
        self.port = 0
        self._running: RunningServer | None = None

    @property
    def base_url(self) -> str:
        assert self.port, "start central once to choose its port"
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        from central.app import create_app

        app = create_app(
            self.database_url,
            secrets.token_urlsafe(16),
            ops_password=OPS_PASSWORD,
            clock=self.clock,
            signing_key=self.signing_key,
        )
        self._running = await start_server(app, "127.0.0.1", self.port)
        self.port = self._running.port

    async def stop(self) -> None:
        if self._running is not None:
            await self._running.stop()
            self._running = None


@asynccontextmanager
async def restartable_central(
    database_url: str,
    clock: Callable[[], float] = time.time,
    signing_key: Ed25519PrivateKey | None = None,
) -> AsyncIterator[RestartableCentral]:
    server = RestartableCentral(database_url, clock, signing_key)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class FlakyProxy:
    """A real HTTP proxy in front of central that answers ``failure`` instead while ``failing``."""

    upstream: str
    failing: bool = True
    failure: tuple[int, dict[str, str]] = (500, {})
    failed: list[str] = field(default_factory=list)
    forwarded: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            path = request.url.path
            if self.failing:
                self.failed.append(path)
                status, headers = self.failure
                return JSONResponse({"error": "internal"}, status_code=status, headers=headers)
            body = await request.body()
            wanted = ("content-type", "content-digest", "signature-input", "signature")
            headers = {k: v for k, v in request.headers.items() if k.lower() in wanted}
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.post(self.upstream + path, content=body, headers=headers)
            self.forwarded.append(path)
            return Response(
                answer.content, answer.status_code, media_type=answer.headers.get("content-type")
            )

        return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])


@dataclass
class ScriptedCentral:
    """A real HTTP server that answers journal pushes from a script and records what it got."""

    script: list[tuple[int, dict[str, Any]]]
    pushes: list[list[int]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    default: tuple[int, dict[str, Any]] | None = None

    def app(self) -> Starlette:
        async def push(request: Request) -> Response:
            records = json.loads(await request.body())["records"]
            self.pushes.append([record["seq"] for record in records])
            if self.script:
                status, payload = self.script.pop(0)
            elif self.default is not None:
                status, payload = self.default
            else:
                status, payload = 200, {"held_seq": records[-1]["seq"] if records else 0}
            return JSONResponse(payload, status_code=status)

        async def heartbeat(request: Request) -> Response:
            self.heartbeats.append(json.loads(await request.body()))
            return JSONResponse({"held_seq": 0, "server_time": int(time.time())})

        return Starlette(
            routes=[
                Route("/api/v1/journal", push, methods=["POST"]),
                Route("/api/v1/heartbeat", heartbeat, methods=["POST"]),
            ]
        )
