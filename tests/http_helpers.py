"""A real HTTP server on a free local port for tests (no tests here), whose handlers can be held
until the test lets them go (a slow server, without sleeps); and the simulators' own commands."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from starlette.applications import Starlette

from central.serve import start_server


@asynccontextmanager
async def serve(app: Starlette, hold: asyncio.Event | None = None) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port>; yields the base URL. ``hold`` is set before the
    server stops, so handlers waiting on it return and the server can shut down."""
    running = await start_server(app, "127.0.0.1", 0)
    try:
        yield running.base_url
    finally:
        if hold is not None:
            hold.set()
        await running.stop()


def closed_port() -> int:
    """A local port nothing listens on (bound for a moment by the OS's choice, then freed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def sim_command(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``bitagora sim ARGS`` as a subprocess; yields it and its first stdout line, which a
    simulator prints once it accepts connections. Terminated and waited for at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "sim", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first, proc.stderr.read() if proc.stderr else "no output"
        yield proc, first
    finally:
        proc.terminate()
        proc.wait(timeout=30)
