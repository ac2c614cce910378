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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

StartServer = Callable[..., Awaitable[Any]]


class CutAnswer:
    """An answer whose connection is cut halfway: headers promise more body than is sent, and
    the app returns without finishing, so the server closes the connection."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body) + 100).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body[:7], "more_body": True})


@dataclass
class Drop:
    """A cut connection asked of a simulator (its ``/_sim/drop`` control): the next ``count``
    ``method`` requests to a path under ``path`` are cut ``before`` they are handled (the
    provider never heard them) or ``after`` (it did, and the answer is lost)."""

    method: str
    path: str
    when: str  # after | before
    count: int


def drop_asked(body: dict[str, Any]) -> tuple[str, str, str, int]:
    """The drop a ``/_sim/drop`` body asks for: (method, path, when, count)."""
    return (
        str(body.get("method", "POST")),
        str(body["path"]),
        str(body.get("when", "after")),
        int(body.get("count", 1)),
    )


async def answer_or_cut(
    drops: list[Drop],
    method: str,
    path: str,
    answer: Callable[[], Awaitable[Response]],
    cut_before: bytes,
) -> Response | CutAnswer:
    """``answer()``, unless one of ``drops`` matches the request (it counts down, and goes
    when spent): then the connection is cut before the request is handled (``cut_before``
    being the answer the client never gets whole) or after (the handled answer, cut)."""
    drop = next((d for d in drops if d.method == method and path.startswith(d.path)), None)
    if drop is not None:
        drop.count -= 1
        if drop.count <= 0:
            drops.remove(drop)
        if drop.when == "before":
            return CutAnswer(cut_before)
    response = await answer()
    if drop is not None:
        return CutAnswer(bytes(response.body))
    return response


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
