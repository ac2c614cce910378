"""``bitagora central backup`` and ``restore`` with the real pg_dump and pg_restore: a backup of a
central that devices pushed journals to, encrypted to an age key, restored into a scratch
database that then holds exactly the same rows; the checks a restore runs catch what they
should; retention keeps what it should."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import pytest
from central_helpers import bitagora_central
from conftest import CentralTestServer, SimDevice
from pyrage import x25519

from central.backup import prune
from central.restore import check_chains

pytestmark = pytest.mark.timeout(120)


async def _fingerprint(url: str) -> dict[str, tuple[int, str]]:
    """Each table's row count and a digest of every row."""
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {
            t["tablename"]: tuple(
                await conn.fetchrow(
                    f"SELECT count(*), md5(coalesce(string_agg(r::text, '|' ORDER BY r::text),"
                    f" '')) FROM \"{t['tablename']}\" AS r"
                )
            )
            for t in tables
        }
    finally:
        await conn.close()


async def test_backup_then_restore_into_a_scratch_database_holds_the_same_rows(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    empty_db_url: str,
    tmp_path: Path,
) -> None:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        for sales in (3, 5):
            device = make_device()
            assert (
                await device.enroll(client, await central_server.make_code())
            ).status_code == 201
            for minor in range(sales):
                device.sale(100 + minor)
            assert (await device.push(client)).status_code == 200
    identity = x25519.Identity.generate()
    (tmp_path / "backup.pub").write_text(f"# public key\n{identity.to_public()}\n")
    (tmp_path / "backup.key").write_text(f"# created: now\n{identity}\n")
    source = central_server.database_url

    code, out, err = await bitagora_central(
        source,
        "backup",
        "--recipients-file",
        str(tmp_path / "backup.pub"),
        "--out",
        str(tmp_path / "b"),
    )
    assert code == 0, err
    (backup,) = (tmp_path / "b").glob("central-*.dump.age")
    assert out.startswith(f"backup {backup}: ")
    data = backup.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n") and device.device_id.encode() not in data
    conn = await asyncpg.connect(source)
    try:
        recorded = await conn.fetchrow("SELECT file, bytes FROM central_backups")
        assert tuple(recorded) == (backup.name, len(data))
    finally:
        await conn.close()

    wrong = tmp_path / "wrong.key"
    wrong.write_text(f"{x25519.Identity.generate()}\n")
    code, _, err = await bitagora_central(
        empty_db_url, "restore", str(backup), "--identity", str(wrong)
    )
    assert (code, "Traceback" in err) == (1, False)
    assert "wrong identity" in err
    code, out, err = await bitagora_central(
        empty_db_url, "restore", str(backup), "--identity", str(tmp_path / "backup.key")
    )
    assert code == 0, err
    assert "8 journal records of 2 devices checked" in out
    before = await _fingerprint(source)
    before.pop("central_backups")  # this backup's own record came after its snapshot
    after = await _fingerprint(empty_db_url)
    assert after.pop("central_backups")[0] == 0
    assert after == before and before["journal_records"][0] == 8

    code, _, err = await bitagora_central(
        empty_db_url, "restore", str(backup), "--identity", str(tmp_path / "backup.key")
    )
    assert code == 1 and "the database is not empty" in err


async def test_the_chain_check_names_an_altered_or_missing_record(
    central_server: CentralTestServer, make_device: Callable[[], SimDevice]
) -> None:
    device = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        assert (await device.enroll(client, await central_server.make_code())).status_code == 201
        for minor in (100, 200, 300):
            device.sale(minor)
        assert (await device.push(client)).status_code == 200
    conn = await asyncpg.connect(central_server.database_url)
    try:
        assert await check_chains(conn) == (1, 3, [])
        await conn.execute(
            "UPDATE journal_records SET body_json = replace(body_json, '200', '2') WHERE seq = 2"
        )
        _, _, problems = await check_chains(conn)
        altered = "journal record seq 2: hash does not match the record's content"
        assert problems == [f"device {device.device_id}: {altered}"]
        await conn.execute("DELETE FROM journal_records WHERE seq >= 2")
        _, _, problems = await check_chains(conn)
        assert problems == [f"device {device.device_id}: journal ends at seq 1, central held 3"]
    finally:
        await conn.close()


def test_retention_keeps_the_newest_by_count_and_age(tmp_path: Path) -> None:
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    ages_h = [1, 5, 9, 24 * 20, 24 * 31, 24 * 40]
    for age in ages_h:
        stamp = (now - timedelta(hours=age)).strftime("%Y%m%dT%H%M%S%fZ")
        (tmp_path / f"central-{stamp}.dump.age").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a backup")
    removed = prune(tmp_path, keep=4, keep_days=30, now=now)
    assert len(removed) == 2 and len(list(tmp_path.iterdir())) == 5  # 31 and 40 days old
    removed = prune(tmp_path, keep=2, keep_days=30, now=now)
    assert len(removed) == 2 and len(list(tmp_path.glob("central-*"))) == 2
    # Everything too old: the newest stays all the same.
    assert len(prune(tmp_path, keep=2, keep_days=30, now=now + timedelta(days=90))) == 1
    assert len(list(tmp_path.glob("central-*"))) == 1
