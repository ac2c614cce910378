"""When the till copies its WAL back into the database file (a checkpoint): once enough sales have
gone into the WAL, or when the till has sold nothing for a while; never inside a sale's commit
and not after every sale. A checkpoint that empties the WAL makes the next commit start it
again, which costs that commit a second fsync: after every sale, that was every sale's cost.
SQLite's own automatic checkpoint stays on as a backstop only (``BACKSTOP_CHECKPOINT_PAGES``).
Durability never depends on a checkpoint: a commit is durable once its WAL frames are synced."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiosqlite

from appliance.store.db import checkpoint

log = logging.getLogger(__name__)

# A cash sale adds about ten pages to the WAL: 100 sales are about SQLite's default checkpoint
# size (1,000 pages, 4 MB), a WAL that stays small enough to copy back in a few milliseconds.
SALES_PER_CHECKPOINT = 100
IDLE_S = 20.0  # no sale for this long: the till is idle, copy what the WAL holds


class Checkpoints:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        sales_per_checkpoint: int = SALES_PER_CHECKPOINT,
        idle_s: float = IDLE_S,
    ) -> None:
        self.conn = conn
        self.sales_per_checkpoint = sales_per_checkpoint
        self.idle_s = idle_s
        self._since = 0  # sales committed since the last checkpoint
        self._committed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def sale_committed(self) -> None:
        """A sale is in the WAL (called after its commit, never waits)."""
        self._since += 1
        self._committed.set()

    async def _run(self) -> None:
        while True:
            await self._committed.wait()
            while self._since < self.sales_per_checkpoint:  # wait for the size or a quiet till
                self._committed.clear()
                try:
                    async with asyncio.timeout(self.idle_s):
                        await self._committed.wait()
                except TimeoutError:
                    break
            self._committed.clear()
            self._since = 0
            try:
                await checkpoint(self.conn)
            except (aiosqlite.Error, ValueError) as err:  # the sales are durable in the WAL
                log.warning("checkpoint failed: %s", err, extra={"error": str(err)})
