"""A serial barcode scanner's far end for tests: a pty pair whose slave the driver opens.

The driver is given a stable symlink (as udev's /dev/bitagora/scanner would be), so "unplug"
closes the pty and "plug" makes a new one and points the link at it, the way a USB scanner
comes back as a new /dev/ttyACMn."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TypeVar

from appliance.drivers.scanner import ScannerEvent

E = TypeVar("E")

WAIT_S = 10.0


class PtyScanner:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master: int | None = None
        self.slave: int | None = None

    @property
    def slave_path(self) -> str:
        assert self.slave is not None
        return os.ttyname(self.slave)

    def plug(self) -> None:
        assert self.master is None, "already plugged"
        self.master, self.slave = os.openpty()
        # Keep the slave open here too, as a device node stays while it is plugged in.
        staging = self.link.with_name(self.link.name + ".new")
        staging.unlink(missing_ok=True)
        staging.symlink_to(self.slave_path)
        os.replace(staging, self.link)

    def unplug(self) -> None:
        for fd in (self.master, self.slave):
            if fd is not None:
                os.close(fd)
        self.master = self.slave = None

    def send(self, data: bytes) -> None:
        assert self.master is not None, "not plugged"
        view = memoryview(data)
        while view:
            view = view[os.write(self.master, view) :]

    def __enter__(self) -> PtyScanner:
        self.plug()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.unplug()


class Events:
    """What a scanner emitted, in order, to wait on with a bound."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[ScannerEvent] = asyncio.Queue()
        self.seen: list[ScannerEvent] = []

    def __call__(self, event: ScannerEvent) -> None:
        self.seen.append(event)
        self.queue.put_nowait(event)

    async def next(self, kind: type[E]) -> E:
        """The next event of ``kind``, skipping others (retries repeat Disconnected), within
        ``WAIT_S``."""
        async with asyncio.timeout(WAIT_S):
            while True:
                event = await self.queue.get()
                if isinstance(event, kind):
                    return event
