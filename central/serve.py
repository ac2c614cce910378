"""Running central under uvicorn inside an asyncio program that owns the server's lifetime.

uvicorn's ``Server.serve`` installs its own SIGINT/SIGTERM handlers and re-raises the signal
when it returns, which would kill the process before its owner stops the embedded PostgreSQL.
Here the owner handles signals and sets ``should_exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the owner of the server decides when it stops

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit as exit_:  # uvicorn exits the process on bind or lifespan failure
            raise RuntimeError(f"central failed to start (exit {exit_.code})") from None
        self.ready.set()


@dataclass
class RunningServer:
    server: _Server
    task: asyncio.Task[None]
    host: str
    port: int

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop accepting, let requests finish (at most ``grace_s``), run the lifespan shutdown."""
        self.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self.task), grace_s)
        except TimeoutError:
            self.server.force_exit = True
            await self.task


async def start_server(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    start_within_s: float = 30.0,
    log_level: str = "warning",
    sock: socket.socket | None = None,
) -> RunningServer:
    """Start uvicorn in a task; return once it accepts connections (port 0 picks a free one).
    With ``sock``, serve on that listening socket instead (a worker of ``central.workers``)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        log_level=log_level,
        access_log=False,
        log_config=None,
    )
    server = _Server(config)
    task = asyncio.create_task(
        server.serve(None if sock is None else [sock]), name="central-uvicorn"
    )
    ready = asyncio.create_task(server.ready.wait())
    done, _ = await asyncio.wait(
        {task, ready}, timeout=start_within_s, return_when=asyncio.FIRST_COMPLETED
    )
    if ready not in done:
        ready.cancel()
        if task in done:
            task.result()  # raises the start failure
            raise RuntimeError("central stopped during start")
        server.should_exit = True
        await task
        raise TimeoutError(f"central did not start within {start_within_s} s")
    bound = server.servers[0].sockets[0].getsockname()
    return RunningServer(server, task, host, int(bound[1]))
