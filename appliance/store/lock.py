"""Who holds the device store: a lock file next to the database.

The kiosk and the uplink each hold a shared lock on ``<data_dir>/store.lock`` for as long as they
run; a restore takes it exclusively, so it cannot swap the database under a process that has it
open, and neither service can start halfway through a restore. ``flock`` locks belong to the open
file, so the kernel drops them when a process dies, however it dies: a crash never leaves a stale
lock behind.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = "store.lock"


class StoreBusy(RuntimeError):
    """Another process holds the store in a way that conflicts with what was asked."""


@contextmanager
def flocked(path: Path, *, exclusive: bool, busy: Exception) -> Iterator[None]:
    """Hold a ``flock`` on ``path`` for the block; ``busy`` is raised at once, never a wait, if
    another process holds it in a conflicting way."""
    # Read-only is enough for flock. A process run as root may be the first to make the file:
    # it goes to its folder's owner, so the services can still open it.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if os.geteuid() == 0:
            owner = path.parent.stat()
            os.fchown(fd, owner.st_uid, owner.st_gid)
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(fd)


@contextmanager
def hold(data_dir: Path, *, exclusive: bool = False) -> Iterator[None]:
    """Hold the store's lock (shared, or exclusive for a restore) for the block; StoreBusy at
    once if it conflicts with a holder."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if exclusive:
        busy = StoreBusy(
            f"the device store in {data_dir} is in use (the kiosk or the uplink is running); "
            "stop them first: systemctl stop bitagora-kiosk bitagora-uplink"
        )
    else:
        busy = StoreBusy(
            f"the device store in {data_dir} is being restored; start again when the restore "
            "has finished"
        )
    with flocked(data_dir / LOCK_FILE, exclusive=exclusive, busy=busy):
        yield
