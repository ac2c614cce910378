"""The till's checkpoints (services/checkpoints.py) on a real device store: the WAL is copied back
into the database file once enough sales are in it, or when the till has been idle, and not
after every sale. What the database file alone holds (a copy of it without its WAL) shows what
was checkpointed."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from store_helpers import open_device, write_sales
from uplink_helpers import wait_until

from appliance.services.checkpoints import Checkpoints
from appliance.store.db import BACKSTOP_CHECKPOINT_PAGES, checkpoint


def sales_in_file(data_dir: Path) -> int:
    """Sales the database file holds without its WAL (what has been checkpointed); -1 for a copy
    taken while a checkpoint was writing it."""
    copy = data_dir.parent / "copy.sqlite3"
    shutil.copyfile(data_dir / "appliance.sqlite3", copy)
    conn = sqlite3.connect(copy)
    try:
        return int(conn.execute("SELECT count(*) FROM sales").fetchone()[0])
    except sqlite3.DatabaseError:
        return -1
    finally:
        conn.close()


def holds(data_dir: Path, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return sales_in_file(data_dir) == count

    return check


async def test_the_wal_is_copied_back_after_enough_sales_not_after_each(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path / "device", BACKSTOP_CHECKPOINT_PAGES)
    await checkpoint(conn)  # the schema into the file
    checkpoints = Checkpoints(conn, sales_per_checkpoint=5, idle_s=3600)
    checkpoints.start()
    try:
        for start in range(4):
            await write_sales(conn, identity, 1, start)
            checkpoints.sale_committed()
        await conn.execute_fetchall("SELECT 1")  # the connection's queue has run past them
        assert sales_in_file(tmp_path / "device") == 0
        await write_sales(conn, identity, 1, 4)
        checkpoints.sale_committed()
        await wait_until(holds(tmp_path / "device", 5), what="the fifth sale's checkpoint")
    finally:
        await checkpoints.close()
        await conn.close()


async def test_an_idle_till_copies_back_what_its_wal_holds(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path / "device", BACKSTOP_CHECKPOINT_PAGES)
    await checkpoint(conn)  # the schema into the file
    checkpoints = Checkpoints(conn, sales_per_checkpoint=1000, idle_s=0.2)
    checkpoints.start()
    try:
        await write_sales(conn, identity, 3)
        checkpoints.sale_committed()
        await wait_until(holds(tmp_path / "device", 3), what="the idle till's checkpoint")
    finally:
        await checkpoints.close()
        await conn.close()
