import asyncio
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from store_helpers import cash_sale_body, open_device, write_sales

from appliance.store import journal, outbox, sales
from appliance.store import lightning as ln_store
from appliance.store.db import StoreError, migrations, open_db, transaction
from appliance.store.device import DeviceMismatch, bind
from appliance.store.export import verify_database
from appliance.store.identity import IdentityError, load_identity, load_or_create_identity
from bitagora_protocol.journal import verify_chain


async def test_store_is_wal_full_and_migrated_once(tmp_path: Path) -> None:
    conn = await open_db(tmp_path / "a.sqlite3")
    assert (await (await conn.execute("PRAGMA journal_mode")).fetchone())[0] == "wal"
    assert (await (await conn.execute("PRAGMA synchronous")).fetchone())[0] == 2  # FULL
    version = (await (await conn.execute("PRAGMA user_version")).fetchone())[0]
    assert version == migrations()[-1][0]
    await conn.close()
    again = await open_db(tmp_path / "a.sqlite3")  # re-open must not re-run migrations
    assert (await (await again.execute("PRAGMA user_version")).fetchone())[0] == version
    await again.close()


async def test_a_transaction_inside_one_of_the_same_task_is_a_savepoint(tmp_path: Path) -> None:
    """Store calls that each take a transaction, wrapped in one more, land together or not at
    all (the first start's seeding, issue 15 item 14): the inner ones join the outer one."""
    conn = await open_db(tmp_path / "a.sqlite3")
    try:
        await conn.execute("CREATE TABLE t (x INTEGER)")
        async with transaction(conn):
            async with transaction(conn):
                await conn.execute("INSERT INTO t VALUES (1)")
            with pytest.raises(RuntimeError):
                async with transaction(conn):  # its own part undone, the rest goes on
                    await conn.execute("INSERT INTO t VALUES (2)")
                    raise RuntimeError
        assert [tuple(r) for r in await conn.execute_fetchall("SELECT x FROM t")] == [(1,)]
        with pytest.raises(RuntimeError):
            async with transaction(conn):
                async with transaction(conn):
                    await conn.execute("INSERT INTO t VALUES (3)")
                raise RuntimeError  # after the inner one finished: all of it undone
        assert [tuple(r) for r in await conn.execute_fetchall("SELECT x FROM t")] == [(1,)]

        # Another task still waits for the transaction rather than joining it.
        inside, order = asyncio.Event(), []

        async def other() -> None:
            await inside.wait()
            async with transaction(conn):
                order.append("other")

        waiting = asyncio.create_task(other())
        async with transaction(conn):
            inside.set()
            await asyncio.sleep(0)  # the other task runs up to its wait for the lock
            order.append("first")
        await asyncio.wait_for(waiting, 10)
        assert order == ["first", "other"]
    finally:
        await conn.close()


async def test_a_migration_failing_half_way_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    """Each migration is one transaction with its version number (issue 15 item 14, "any
    multi-step migration step: same rule"): here 0014 meets a table it makes in its third
    statement already there (a real SQLite error after two of its statements ran)."""
    database = tmp_path / "a.sqlite3"
    await (await open_db(database)).close()
    with closing(sqlite3.connect(database)) as db:
        db.execute("DROP TABLE split_sale")  # as before 0014, but for split_part
        db.execute("PRAGMA user_version = 13")
        db.commit()
    with pytest.raises(sqlite3.OperationalError, match="split_part already exists"):
        await open_db(database)
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 13
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "split_sale" not in tables and "split_sale_open" not in tables  # undone


def test_a_gap_in_the_migration_numbers_is_refused(tmp_path: Path) -> None:
    for name in ("0001_init.sql", "0003_later.sql"):
        (tmp_path / name).write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(StoreError, match=r"without gaps, found \[1, 3\]"):
        migrations(tmp_path)


async def test_a_sale_writes_sale_journal_and_outbox_together(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path)
    records = await write_sales(conn, identity, 3)
    assert [r.seq for r in records] == [1, 2, 3]
    assert await sales.sale_count(conn) == 3
    assert (await outbox.backlog(conn)).count == 3
    stored = await journal.read_range(conn, 1, 10)
    assert stored == records
    assert verify_chain(stored, identity.public_key, identity.device_id) == 3
    # the sale rows are exactly what the signed record says
    body = stored[1].body
    lines = await conn.execute_fetchall(
        "SELECT sku, quantity, amount FROM sale_lines WHERE sale_id = ? ORDER BY line_no",
        (body["sale_id"],),
    )
    assert [tuple(r) for r in lines] == [
        (ln["sku"], ln["quantity"], ln["amount"]) for ln in body["lines"]
    ]
    (total, seq) = await (
        await conn.execute(
            "SELECT total, journal_seq FROM sales WHERE sale_id = ?", (body["sale_id"],)
        )
    ).fetchone()
    assert (total, seq) == (body["total"]["minor"], 2)
    await conn.close()


async def test_a_failed_sale_leaves_nothing_behind(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path)
    await write_sales(conn, identity, 1)
    duplicate = cash_sale_body(0)  # same sale_id: the sales insert fails after the journal append
    with pytest.raises(sqlite3.IntegrityError):
        await sales.record_sale(conn, identity, duplicate)
    assert (await journal.tail(conn))[0] == 1
    assert (await outbox.backlog(conn)).count == 1
    assert await sales.sale_count(conn) == 1
    await conn.close()


async def test_journal_rows_cannot_be_updated_or_deleted(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path)
    await write_sales(conn, identity, 1)
    for statement in ("UPDATE journal SET body = '{}'", "DELETE FROM journal"):
        with pytest.raises(sqlite3.IntegrityError, match="never"):
            async with transaction(conn):
                await conn.execute(statement)
    await conn.close()


async def test_acknowledge_drops_only_held_records(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path)
    await write_sales(conn, identity, 5)
    assert await outbox.acknowledge(conn, 3) == 3
    backlog = await outbox.backlog(conn)
    assert (backlog.count, backlog.first_seq) == (2, 4)
    assert [r.seq for r in await outbox.pending(conn, 10)] == [4, 5]
    assert await outbox.get_state(conn, "acked_seq") == "3"
    await conn.close()


async def test_database_refuses_another_device_key(tmp_path: Path) -> None:
    conn, _ = await open_device(tmp_path)
    other = load_or_create_identity(tmp_path / "other")
    with pytest.raises(DeviceMismatch, match="belongs to"):
        await bind(conn, other)
    await conn.close()


def test_key_file_is_private(tmp_path: Path) -> None:
    identity = load_or_create_identity(tmp_path)
    assert identity.path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_identity(tmp_path).device_id == identity.device_id
    identity.path.chmod(0o644)
    with pytest.raises(IdentityError, match="0600"):
        load_identity(tmp_path)


WRITER = """
import asyncio, sys
sys.path.insert(0, sys.argv[2])
from pathlib import Path
from store_helpers import open_device, write_sales

async def main():
    conn, identity = await open_device(Path(sys.argv[1]))
    i = 0
    while True:
        record = (await write_sales(conn, identity, 1, start=i))[0]
        print(record.seq, flush=True)  # reported only after the commit returned
        i += 1

asyncio.run(main())
"""


def test_power_cut_mid_sales_keeps_every_committed_sale(tmp_path: Path) -> None:
    """SIGKILL a process that is writing sales: every sale it saw committed is there, intact."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path), str(Path(__file__).parent)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    committed = 0
    for line in proc.stdout:
        committed = int(line)
        if committed >= 25:
            break
    os.kill(proc.pid, 9)
    proc.wait()
    result = verify_database(tmp_path / "appliance.sqlite3")
    assert result.count >= committed
    conn = sqlite3.connect(tmp_path / "appliance.sqlite3")
    (sale_count,) = conn.execute("SELECT count(*) FROM sales").fetchone()
    (outbox_count,) = conn.execute("SELECT count(*) FROM outbox").fetchone()
    conn.close()
    assert sale_count == outbox_count == result.count  # all or nothing per sale


async def test_lightning_settlements_stored_before_count_epochs_keep_their_cursor_both_ways(
    tmp_path: Path,
) -> None:
    """A till upgraded from version 11: its paid invoices and its cursor become epoch 0 of the
    node's count, so waitanyinvoice resumes where it stood."""
    path = tmp_path / "a.sqlite3"
    with closing(sqlite3.connect(path)) as old:
        for version, sql in migrations():
            if version <= 11:
                old.executescript(sql)
        old.executescript(
            "INSERT INTO ln_invoice (label, sale_id, payment_hash, bolt11, amount_msat,"
            " expires_at, created_at, status, pay_index) VALUES"
            " ('bitagora-s1', 's1', 'h1', 'lnbc1', 1000, 0, 'then', 'paid', 7),"
            " ('bitagora-s2', 's2', 'h2', 'lnbc2', 1000, 0, 'then', 'pending', NULL);"
            " UPDATE ln_cursor SET pay_index = 9; PRAGMA user_version = 11;"
        )
    conn = await open_db(path)
    try:
        rows = await conn.execute_fetchall("SELECT label, epoch, pay_index FROM ln_invoice")
        assert sorted(map(tuple, rows)) == [("bitagora-s1", 0, 7), ("bitagora-s2", None, None)]
        assert await ln_store.last_pay_index(conn) == 9
    finally:
        await conn.close()
    # An update rolled back: the release before this migration still records its payments here.
    with closing(sqlite3.connect(path)) as old:
        old.executescript(
            "UPDATE ln_invoice SET status = 'paid', pay_index = 8, amount_received_msat = 1000,"
            " paid_at = 1, settled_at = 'now' WHERE label = 'bitagora-s2' AND status = 'pending';"
            " UPDATE ln_cursor SET pay_index = max(pay_index, 8) WHERE id = 1;"
        )
        paid = old.execute("SELECT status, pay_index FROM ln_invoice WHERE label = 'bitagora-s2'")
        assert paid.fetchone() == ("paid", 8)


async def test_highest_pay_index_is_the_cursor_or_a_payment_taken_above_it(tmp_path: Path) -> None:
    """What the demo tells its simulated node to count on from (store.lightning)."""
    conn = await open_db(tmp_path / "a.sqlite3")
    try:
        assert await ln_store.highest_pay_index(conn) == 0
        for n in (1, 2, 3):
            await ln_store.add_invoice(
                conn,
                sale_id=f"s{n}",
                label=f"bitagora-s{n}",
                payment_hash=f"h{n}",
                bolt11=f"lnbc{n}",
                amount_msat=1000,
                expires_at=0,
            )

        async def pay(n: int, advance: bool) -> None:
            await ln_store.record_payment(
                conn,
                label=f"bitagora-s{n}",
                pay_index=n,
                amount_received_msat=1000,
                paid_at=1,
                advance=advance,
            )

        await pay(1, advance=True)
        assert await ln_store.highest_pay_index(conn) == 1
        await pay(3, advance=False)  # taken on catch-up: the cursor stays at 1
        assert await ln_store.last_pay_index(conn) == 1
        assert await ln_store.highest_pay_index(conn) == 3
    finally:
        await conn.close()
