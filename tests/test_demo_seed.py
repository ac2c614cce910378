"""The demo catalog, staff and badges (`bitagora demo`, `bitagora kiosk --seed-demo`): seeded
whole or not at all, so a kill during a first start never leaves a till nobody can unlock
(issue 15 item 14)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from appliance.store import catalog
from appliance.store import staff as staff_store
from appliance.store.db import open_db
from bitagora_devtools.seed import (
    DEMO_BADGES,
    DEMO_PRODUCTS,
    DEMO_STAFF,
    demo_products,
    seed_demo,
)

pytestmark = pytest.mark.timeout(60)


async def assert_fully_seeded(database: Path) -> None:
    conn = await open_db(database)
    try:
        assert len(await catalog.products(conn)) == len(DEMO_PRODUCTS)
        people = await staff_store.all_staff(conn)
        assert sorted(staff.id for staff, _ in people) == sorted(s[0] for s in DEMO_STAFF)
        assert sorted(uid for _, uids in people for uid in uids) == sorted(
            uid for _, uid in DEMO_BADGES
        )
        ana = await staff_store.staff_by_pin(conn, "1234")
        assert ana is not None and ana.name == "Ana"
    finally:
        await conn.close()


async def test_a_seed_failing_half_way_leaves_nothing_and_the_next_start_seeds_it_all(
    tmp_path: Path,
) -> None:
    database = tmp_path / "appliance.sqlite3"
    conn = await open_db(database)
    try:
        # A real SQLite error at the first staff row, after the products were written.
        await conn.execute(
            "CREATE TEMP TRIGGER fail_staff BEFORE INSERT ON staff "
            "BEGIN SELECT RAISE(ABORT, 'the power went'); END"
        )
        with pytest.raises(sqlite3.Error, match="the power went"):
            await seed_demo(conn, "EUR")
        assert await catalog.products(conn) == []  # not a catalog without staff
        assert await staff_store.all_staff(conn) == []
        await conn.execute("DROP TRIGGER temp.fail_staff")
    finally:
        await conn.close()
    conn = await open_db(database)  # the next start
    try:
        await seed_demo(conn, "EUR")
    finally:
        await conn.close()
    await assert_fully_seeded(database)


# A first start's seeding in a process of its own, stopped at its first staff row (products
# written, staff not yet) by a SQLite function that says so on stdout and then blocks.
SEEDING = textwrap.dedent(
    """
    import asyncio, sys, threading
    from pathlib import Path
    from appliance.store.db import open_db
    from bitagora_devtools.seed import seed_demo

    def at_staff() -> int:
        print("seeding staff", flush=True)
        threading.Event().wait()  # here until killed
        return 0

    async def main() -> None:
        conn = await open_db(Path(sys.argv[1]))
        await conn.create_function("at_staff", 0, at_staff)
        await conn.execute(
            "CREATE TEMP TRIGGER stop_at_staff BEFORE INSERT ON staff BEGIN SELECT at_staff(); END"
        )
        await seed_demo(conn, "EUR")

    asyncio.run(main())
    """
)


async def test_a_kill_during_the_first_seeding_leaves_a_till_that_seeds_again(
    tmp_path: Path,
) -> None:
    database = tmp_path / "appliance.sqlite3"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SEEDING,
        str(database),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert line.strip() == b"seeding staff", (line, await proc.stderr.read())  # type: ignore[union-attr]
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL

    conn = await open_db(database)  # the next start
    try:
        await seed_demo(conn, "EUR")
    finally:
        await conn.close()
    await assert_fully_seeded(database)


async def test_a_store_an_older_release_left_half_seeded_gets_what_it_lacks(
    tmp_path: Path,
) -> None:
    database = tmp_path / "appliance.sqlite3"
    conn = await open_db(database)
    try:
        await catalog.save_products(conn, demo_products("EUR"))  # products, and then the kill
        await seed_demo(conn, "EUR")
    finally:
        await conn.close()
    await assert_fully_seeded(database)


async def test_seeding_twice_changes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "appliance.sqlite3"
    conn = await open_db(database)
    try:
        await seed_demo(conn, "EUR")
        await staff_store.add_staff(conn, "marco", "Marco", "manager", "4321")  # a changed PIN
        await seed_demo(conn, "EUR")
        assert await staff_store.staff_by_pin(conn, "4321") is not None  # kept
    finally:
        await conn.close()
