"""Serving central from N processes on one listening socket (``bitagora central --workers N``).

Central keeps nothing in a process that correctness depends on (docs/ARCHITECTURE.md, "What
makes central stateless"), so the parent binds the socket once and forks N workers that each run
the whole app on it: their own connection pool, metrics and pruning task. The kernel hands each
connection to one worker. The parent only supervises: SIGTERM or SIGINT is passed on to every
worker and waited for; a worker that dies on its own stops the others and the parent exits 1, so
that systemd restarts the service whole rather than serving with fewer workers than configured.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)

BACKLOG = 2048  # connections queued while every worker is busy (a fleet reconnecting at once)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every worker accepts on (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG)


def _run_worker(serve: Callable[[], None]) -> None:
    """The body of a forked worker; it never returns into the parent's code (whose cleanup,
    the embedded PostgreSQL's stop for one, belongs to the parent alone)."""
    code = 0
    try:
        serve()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:
        log.exception("central worker %d failed", os.getpid())
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_workers(count: int, serve: Callable[[], None], address: str) -> int:
    """Fork ``count`` workers running ``serve``, announce ``address`` once they exist (the
    socket queues connections until one accepts) and supervise them; return the exit status."""
    live: set[int] = set()
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(live):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:  # already gone; os.wait below collects it
                pass

    stop_signals = {signal.SIGTERM, signal.SIGINT}
    # Held back while forking, so that a stop cannot miss a worker not yet in ``live``.
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    for signum in stop_signals:
        signal.signal(signum, stop_all)
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            for signum in stop_signals:  # the worker's event loop takes them over
                signal.signal(signum, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
            _run_worker(serve)
        live.add(pid)
    print(f"central listening on {address} ({count} workers)", flush=True)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
    failed = False
    while live:
        pid, status = os.wait()
        live.discard(pid)
        if not stopping:
            code = os.waitstatus_to_exitcode(status)
            log.error("central worker %d exited (%d); stopping the others", pid, code)
            failed = True
            stop_all()
    return 1 if failed else 0
