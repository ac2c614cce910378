"""Sale invoices and settlement watching: the store, the watcher and the simulator over the real
unix socket. The restart test pays while no watcher runs and checks the payment is taken once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiosqlite
import pytest

from appliance.store import lightning as store
from appliance.store.db import open_db
from appliance.wallet.lightning import LabelExists, SocketNode
from appliance.wallet.ln_watch import InvoiceWatcher
from bitagora_devtools.sim.lightning import LightningSim
from tests.lightning_helpers import ln_sim

__all__ = ["ln_sim"]


# How long one step may take: each is a second or two (the watcher waits in 1 s chunks, then
# asks the node again), many times that on a machine running two test suites at once.
STEP_S = 30


class Till:
    """A watcher running the way the kiosk runs it: one owned task, stopped by cancelling."""

    def __init__(self, node: SocketNode, conn: aiosqlite.Connection) -> None:
        self.paid: asyncio.Queue[store.LnInvoice] = asyncio.Queue()
        self.watcher = InvoiceWatcher(
            node, conn, self.paid.put, wait_s=1, retry_min_s=0.05, retry_max_s=0.2
        )
        self.task: asyncio.Task[None] | None = None
        self.node_lost = asyncio.Event()
        self.watcher.on_status = lambda error: self.node_lost.set() if error else None

    def start(self) -> None:
        self.task = asyncio.create_task(self.watcher.run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def next_paid(self) -> store.LnInvoice:
        return await asyncio.wait_for(self.paid.get(), STEP_S)

    async def settle_down(self) -> None:
        """Wait until a catch-up completes after the current moment: every payment the node
        had by now has been processed."""
        self.watcher.caught_up.clear()
        await asyncio.wait_for(self.watcher.caught_up.wait(), STEP_S)
        self.watcher.caught_up.clear()
        await asyncio.wait_for(self.watcher.caught_up.wait(), STEP_S)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Callable[[], Awaitable[aiosqlite.Connection]]]:
    opened: list[aiosqlite.Connection] = []

    async def connect() -> aiosqlite.Connection:
        conn = await open_db(tmp_path / "appliance.sqlite3")
        opened.append(conn)
        return conn

    yield connect
    for conn in opened:
        await conn.close()


async def test_payment_while_stopped_is_taken_once_after_restart(
    ln_sim: tuple[LightningSim, Path], db: Callable[[], Awaitable[aiosqlite.Connection]]
) -> None:
    sim, path = ln_sim
    node = SocketNode(str(path), wait_chunk_s=1)
    conn = await db()
    till = Till(node, conn)
    for sale in ("s1", "s2", "s3"):
        await till.watcher.issue(sale, 21_000, f"sale {sale}", 600)
    till.start()
    await sim.pay("bitagora-s1")
    assert (await till.next_paid()).label == "bitagora-s1"
    await till.stop()
    await conn.close()

    # While the till is off: our sale is paid, and so is an invoice that is not the till's.
    await sim.pay("bitagora-s2")
    await sim.rpc_invoice(5000, "someone-else", "not ours", 600)
    await sim.pay("someone-else")

    conn = await db()  # the kiosk restarts: a new connection, a new watcher
    # 1 if waitanyinvoice reported s1, 0 if the first catch-up did (it never moves the cursor).
    assert await store.last_pay_index(conn) in (0, 1)
    till = Till(node, conn)
    till.start()
    paid = await till.next_paid()
    assert (paid.label, paid.sale_id, paid.status) == ("bitagora-s2", "s2", "paid")
    assert (paid.pay_index, paid.amount_received_msat) == (2, 21_000)
    await sim.pay("bitagora-s3")
    assert (await till.next_paid()).label == "bitagora-s3"
    await till.settle_down()
    await till.stop()

    assert till.paid.empty()  # s2 was seen by catch-up and by waitanyinvoice, taken once
    assert await store.last_pay_index(conn) == 4
    assert await store.pending(conn) == []

    # A second restart with nothing new: no payment reported again.
    till = Till(node, conn)
    till.start()
    await till.settle_down()
    await till.stop()
    assert till.paid.empty()


async def test_expired_and_cancelled_invoices(
    ln_sim: tuple[LightningSim, Path], db: Callable[[], Awaitable[aiosqlite.Connection]]
) -> None:
    sim, path = ln_sim
    conn = await db()
    till = Till(SocketNode(str(path), wait_chunk_s=1), conn)
    for sale in ("old", "keep", "drop", "raced"):
        await till.watcher.issue(sale, 1000, sale, 600)
    sim.expire("bitagora-old")
    await till.watcher.catch_up()
    old = await store.get(conn, "bitagora-old")
    assert old is not None and old.status == "expired"

    # The customer pays another way: the invoice is deleted on the node and closed here.
    assert await till.watcher.cancel("drop") is True
    assert "bitagora-drop" not in sim.invoices
    dropped = await store.get(conn, "bitagora-drop")
    assert dropped is not None and dropped.status == "cancelled"

    # Paid just before the cancel reached the node: the payment wins and is taken.
    await sim.pay("bitagora-raced")
    assert await till.watcher.cancel("raced") is False
    assert (await till.next_paid()).label == "bitagora-raced"
    assert [inv.label for inv in await store.pending(conn)] == ["bitagora-keep"]


async def test_issue_after_a_crash_takes_the_nodes_invoice(
    ln_sim: tuple[LightningSim, Path], db: Callable[[], Awaitable[aiosqlite.Connection]]
) -> None:
    sim, path = ln_sim
    conn = await db()
    node = SocketNode(str(path))
    till = Till(node, conn)
    # The node made the invoice but the till stopped before recording it.
    first = await node.invoice(7000, "bitagora-s9", "sale s9", 600)
    again = await till.watcher.issue("s9", 7000, "sale s9", 600)
    assert again == first
    recorded = await store.get(conn, "bitagora-s9")
    assert recorded is not None and recorded.bolt11 == first.bolt11
    # Recorded now: asking once more is a mistake, not a recovery.
    with pytest.raises(LabelExists):
        await till.watcher.issue("s9", 7000, "sale s9", 600)


async def test_node_down_then_back_misses_nothing(
    ln_sim: tuple[LightningSim, Path], db: Callable[[], Awaitable[aiosqlite.Connection]]
) -> None:
    sim, path = ln_sim
    conn = await db()
    till = Till(SocketNode(str(path), wait_chunk_s=1), conn)
    await till.watcher.issue("s1", 1000, "s1", 600)
    await sim.set_reachable(False)
    till.start()
    try:
        await asyncio.wait_for(till.node_lost.wait(), STEP_S)
        assert "no Lightning node at" in (till.watcher.last_error or "")
        await sim.pay("bitagora-s1")  # paid while the till cannot see the node
        await sim.set_reachable(True)
        assert (await till.next_paid()).label == "bitagora-s1"
        assert till.watcher.last_error is None
    finally:
        await till.stop()


async def test_a_store_error_does_not_stop_the_watcher(
    ln_sim: tuple[LightningSim, Path], db: Callable[[], Awaitable[aiosqlite.Connection]]
) -> None:
    sim, path = ln_sim
    conn = await db()
    till = Till(SocketNode(str(path), wait_chunk_s=1), conn)
    await till.watcher.issue("s1", 21_000, "sale s1", 600)
    await conn.execute("PRAGMA query_only = ON")  # the store refuses writes for a while
    await sim.pay("bitagora-s1")
    till.start()
    try:
        await asyncio.wait_for(till.node_lost.wait(), STEP_S)
        assert "cannot record Lightning payments" in (till.watcher.last_error or "")
        await conn.execute("PRAGMA query_only = OFF")
        paid = await till.next_paid()
        assert paid.label == "bitagora-s1" and paid.status == "paid"
    finally:
        await till.stop()


async def test_a_replaced_node_counting_from_one_again_is_taken(
    ln_sim: tuple[LightningSim, Path], db: Callable[[], Awaitable[aiosqlite.Connection]]
) -> None:
    """The node behind the socket is rebuilt: its pay_index starts at 1 again, below the till's
    cursor and equal to settlements the till already holds. Its payments are still taken, in a
    new epoch of the count, and waitanyinvoice follows the new count."""
    sim, path = ln_sim
    conn = await db()
    till = Till(SocketNode(str(path), wait_chunk_s=1), conn)
    for sale in ("s1", "s2"):
        await till.watcher.issue(sale, 1000, sale, 600)
    till.start()
    try:
        for sale in ("s1", "s2"):
            await sim.pay(f"bitagora-{sale}")
            assert (await till.next_paid()).pay_index == int(sale[1])
        await till.settle_down()
        assert await store.last_pay_index(conn) == 2

        await sim.close()
        rebuilt = LightningSim()
        await rebuilt.start_socket(path)
        try:
            for sale in ("s3", "s4"):
                await till.watcher.issue(sale, 1000, sale, 600)
            await rebuilt.pay("bitagora-s3")  # pay_index 1 again
            paid = await till.next_paid()
            assert (paid.label, paid.pay_index, paid.status) == ("bitagora-s3", 1, "paid")
            await rebuilt.pay("bitagora-s4")
            paid = await till.next_paid()
            assert (paid.label, paid.pay_index) == ("bitagora-s4", 2)
            await till.settle_down()
        finally:
            await till.stop()
            await rebuilt.close()
    finally:
        if till.task is not None and not till.task.done():
            await till.stop()

    epochs = {
        label: (epoch, pay_index)
        for label, epoch, pay_index in await conn.execute_fetchall(
            "SELECT label, epoch, pay_index FROM ln_invoice ORDER BY label"
        )
    }
    assert epochs == {
        "bitagora-s1": (0, 1),
        "bitagora-s2": (0, 2),
        "bitagora-s3": (1, 1),
        "bitagora-s4": (1, 2),
    }
    assert await store.last_pay_index(conn) == 2  # the new count's cursor, not the old one
    assert till.paid.empty()  # every payment taken once
