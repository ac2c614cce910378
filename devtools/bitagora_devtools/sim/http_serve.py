"""Running an HTTP simulator from the command line (``bitagora sim esplora|bitcoind|rates|stripe``):
the same import check, start, announcement, signal handling and stop for each.

The simulators need uvicorn and starlette (the ``central`` extra or the dev install); a device
installed without them gets a one-line error instead of a traceback.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

StartServer = Callable[..., Awaitable[Any]]


def run_http(what: str, serve: Callable[[StartServer], Coroutine[Any, Any, int]]) -> int:
    """``serve(start_server)`` in a fresh event loop; exit status 2 without uvicorn."""
    try:
        from central.serve import start_server
    except ImportError:
        print(
            f"error: {what} needs uvicorn and starlette: pip install 'bitagora-appliance[central]'",
            file=sys.stderr,
        )
        return 2
    return asyncio.run(serve(start_server))


async def serve_until_stopped(
    start_server: StartServer,
    app: Any,
    host: str,
    port: int,
    announce: Callable[[str], Iterable[str]],
    on_stop: Callable[[], None] | None = None,
) -> int:
    """Serve ``app`` until SIGTERM or SIGINT. ``announce(base_url)`` gives the stdout lines,
    printed once the server accepts (tests and the demo wait for the first one)."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    running = await start_server(app, host, port)
    for line in announce(running.base_url):
        print(line, flush=True)
    try:
        await stopping.wait()
    finally:
        if on_stop is not None:
            on_stop()
        await running.stop()
    return 0
