"""Receive address allocation: fresh per sale, durable before shown, within the gap limit."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from embit import bip32

from appliance.store import addresses
from appliance.store.addresses import GapLimitReached, allocate
from appliance.store.db import open_db
from appliance.wallet.descriptors import WatchOnlyWallet, parse_wallet

ZPRV = (
    "zprvAdG4iTXWBoARxkkzNpNh8r6Qag3irQB8PzEMkAFeTRXxHpbF9z4QgEvBRmfvqWvGp42t42nvgGpNgYSJA9iefm1y"
    "YNZKEm7z6qUWCroSQnE"
)


@pytest.fixture(scope="module")
def wallet() -> WatchOnlyWallet:
    return parse_wallet(bip32.HDKey.from_base58(ZPRV).to_public().to_base58())


async def test_fresh_address_per_sale_and_stable_per_sale(
    tmp_path: Path, wallet: WatchOnlyWallet
) -> None:
    conn = await open_db(tmp_path / "db.sqlite3")
    try:
        first = await allocate(conn, wallet, "sale-1")
        second = await allocate(conn, wallet, "sale-2")
        assert (first.index, second.index) == (0, 1)
        assert first.address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
        assert second.address == wallet.receive_address(1)
        assert await allocate(conn, wallet, "sale-1") == first  # asked again: same, no new index
        assert await addresses.for_sale(conn, "sale-2") == second
        assert await addresses.sales_for_address(conn, first.address) == ["sale-1"]
        assert await addresses.for_sale(conn, "nope") is None
    finally:
        await conn.close()


async def test_gap_limit_refuses_when_every_address_waits(
    tmp_path: Path, wallet: WatchOnlyWallet
) -> None:
    conn = await open_db(tmp_path / "db.sqlite3")
    try:
        for i in range(5):
            await allocate(conn, wallet, f"s{i}", gap_limit=5)
        assert await addresses.unused_in_a_row(conn, wallet) == 5
        with pytest.raises(GapLimitReached, match="5 on-chain sales in a row"):
            await allocate(conn, wallet, "s5", gap_limit=5)
        # Money at index 2 moves the window: indexes 5, 6 and 7 are within 5 of it.
        await addresses.mark_used(conn, wallet.receive_address(2))
        got = [(await allocate(conn, wallet, f"t{i}", gap_limit=5)).index for i in range(3)]
        assert got == [5, 6, 7]
        with pytest.raises(GapLimitReached):
            await allocate(conn, wallet, "t3", gap_limit=5)
    finally:
        await conn.close()


async def test_full_gap_offers_the_oldest_released_unused_address_again(
    tmp_path: Path, wallet: WatchOnlyWallet
) -> None:
    conn = await open_db(tmp_path / "db.sqlite3")
    try:
        for i in range(GAP := 20):
            await allocate(conn, wallet, f"s{i}")
        assert await addresses.release(conn, "s3")
        assert await addresses.release(conn, "s1")
        assert not await addresses.release(conn, "s1")  # once
        again = await allocate(conn, wallet, "late")
        assert (again.index, again.reused) == (1, True)  # the oldest released one first
        assert (await allocate(conn, wallet, "later")).index == 3
        assert await addresses.sales_for_address(conn, again.address) == ["s1", "late"]
        assert (await addresses.for_sale(conn, "s1")) is not None
        with pytest.raises(GapLimitReached, match=f"{GAP} on-chain sales"):
            await allocate(conn, wallet, "one-more")
        # Money at index 0 moves the window by one: fresh index 20 is within the limit again.
        await addresses.mark_used(conn, wallet.receive_address(0))
        assert (await allocate(conn, wallet, "fresh")).index == 20
    finally:
        await conn.close()


async def test_candidate_checked_on_chain_before_it_is_offered_again(
    tmp_path: Path, wallet: WatchOnlyWallet
) -> None:
    conn = await open_db(tmp_path / "db.sqlite3")
    funded = {wallet.receive_address(0)}
    checked: list[str] = []

    async def unused(address: str) -> bool:
        checked.append(address)
        return address not in funded

    try:
        for i in range(3):
            await allocate(conn, wallet, f"s{i}", gap_limit=3)
        await addresses.release(conn, "s0")
        await addresses.release(conn, "s1")
        got = await allocate(conn, wallet, "next", gap_limit=3, check_unused=unused)
        # Index 0 had money on the chain: it is marked used, which opens the window for index 3.
        assert checked == [wallet.receive_address(0)]
        assert (got.index, got.reused) == (3, False)
    finally:
        await conn.close()


async def test_mark_used_of_a_foreign_address_is_an_error(
    tmp_path: Path, wallet: WatchOnlyWallet
) -> None:
    conn = await open_db(tmp_path / "db.sqlite3")
    try:
        with pytest.raises(addresses.AddressError, match="not one of the till's addresses"):
            await addresses.mark_used(conn, "bc1qnotours")
    finally:
        await conn.close()


async def test_another_wallet_has_its_own_index_space(
    tmp_path: Path, wallet: WatchOnlyWallet
) -> None:
    other = parse_wallet(
        "tr(xpub6BgBgsespWvERF3LHQu6CnqdvfEvtMcQjYrcRzx53QJjSxarj2afYWcLteoGVky7D3UKDP9Qyr"
        "LprQ3VCECoY49yfdDEHGCtMMj92pReUsQ/<0;1>/*)"
    )
    conn = await open_db(tmp_path / "db.sqlite3")
    try:
        await allocate(conn, wallet, "a")
        got = await allocate(conn, other, "b")
        assert got.index == 0 and got.wallet_id != addresses.wallet_id(wallet.descriptor)
    finally:
        await conn.close()


CHILD = """
import asyncio, json, os, signal, sys
from pathlib import Path
from appliance.store.addresses import allocate
from appliance.store.db import open_db
from appliance.wallet.descriptors import parse_wallet

async def main():
    conn = await open_db(Path(sys.argv[1]))
    got = await allocate(conn, parse_wallet(sys.argv[2]), "crash-sale")
    print(json.dumps([got.index, got.address]), flush=True)  # "shown" to the customer
    os.kill(os.getpid(), signal.SIGKILL)  # power cut right after showing it

asyncio.run(main())
"""


def test_index_shown_before_a_crash_is_never_given_to_another_sale(
    tmp_path: Path, wallet: WatchOnlyWallet
) -> None:
    db = tmp_path / "db.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), wallet.descriptor],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    index, shown = json.loads(done.stdout)

    async def after_restart() -> None:
        conn = await open_db(db)
        try:
            assert (await allocate(conn, wallet, "crash-sale")).address == shown
            assert (await allocate(conn, wallet, "after")).index == index + 1
        finally:
            await conn.close()

    asyncio.run(after_restart())
