"""Backups and restores of the device store: an online copy while sales are written, a round
trip, damaged and forged backups refused, a backup older than what a real central holds refused
(and accepted with --force), and no restore while a service holds the store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from conftest import CentralTestServer
from http_helpers import closed_port
from store_helpers import tamper_amount
from uplink_helpers import CentralDb, open_device_store, wait_until, wired

from appliance.config import Settings
from appliance.services.restore import Refused, restore
from appliance.store import lock
from appliance.store.backup import (
    DATABASE,
    MANIFEST,
    BackupError,
    Manifest,
    take_backup,
    verify_backup,
)
from appliance.store.export import verify_database
from appliance.store.identity import load_identity
from appliance.uplink.client import CentralClient
from appliance.uplink.daemon import NOT_ENROLLED


def chain(database: Path) -> list[tuple[int, str]]:
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return [
            (int(s), str(h)) for s, h in conn.execute("SELECT seq, hash FROM journal ORDER BY seq")
        ]
    finally:
        conn.close()


def back_up(data_dir: Path, dest: Path, version: str = "test") -> tuple[Path, Manifest]:
    return take_backup(data_dir / DATABASE, dest, version, load_identity(data_dir))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_backup_while_sales_are_appended_is_a_verified_prefix(tmp_path: Path) -> None:
    dest = tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(tmp_path / "device") as device:
        await device.write(200)
        stop = asyncio.Event()

        async def keep_selling() -> None:
            while not stop.is_set():
                await device.write(3)

        seller = asyncio.create_task(keep_selling())
        backups = []
        try:
            for _ in range(3):
                written = device.written
                backups.append(await asyncio.to_thread(back_up, device.data_dir, dest, "test-1.0"))

                async def sold_more(since: int = written) -> bool:
                    return device.written > since + 6

                # Sales go on between (and during) the copies.
                await wait_until(sold_more, what="more sales")
        finally:
            stop.set()
            await seller
        live = chain(device.data_dir / DATABASE)

    heads = [manifest.head_seq for _, manifest in backups]
    assert heads == sorted(set(heads)) and heads[0] >= 200 and live[-1][0] > heads[-1]
    for folder, manifest in backups:
        assert verify_backup(folder) == manifest
        copy = chain(folder / DATABASE)
        assert copy == live[: len(copy)] and len(copy) == manifest.head_seq
        assert manifest.head_hash == copy[-1][1] and manifest.app_version == "test-1.0"
        assert folder.name.startswith(f"bitagora-{manifest.device_id}-")
        assert f"-seq{manifest.head_seq}" in folder.name
        assert sorted(p.name for p in folder.iterdir()) == [DATABASE, MANIFEST]  # no -wal


async def test_restore_round_trip_keeps_the_replaced_database(tmp_path: Path) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(data_dir) as device:
        await device.write(20)
        folder, manifest = back_up(data_dir, dest)
        records = chain(data_dir / DATABASE)
    # The SD card damages the database.
    (data_dir / DATABASE).write_bytes(b"not a database any more" * 100)
    settings = Settings(data_dir=data_dir)
    service_user = 4321  # the data directory's owner; the restore runs as root
    if os.geteuid() == 0:
        os.chown(data_dir, service_user, service_user)

    message = await restore(settings, folder)

    assert f"restored {manifest.device_id} up to seq 20" in message
    assert "not enrolled" in message
    assert chain(data_dir / DATABASE) == records
    assert verify_database(data_dir / DATABASE).count == 20
    (aside,) = (data_dir / "replaced").iterdir()
    assert (aside / DATABASE).read_bytes() == b"not a database any more" * 100
    assert str(aside) in message
    if os.geteuid() == 0:  # what the services open must stay theirs
        for name in (DATABASE, lock.LOCK_FILE):
            assert (data_dir / name).stat().st_uid == service_user, name
        assert (data_dir / DATABASE).stat().st_mode & 0o777 == 0o600
    async with open_device_store(data_dir) as device:  # the same key opens it and sells on
        (record,) = await device.write(1)
        assert record.seq == 21 and record.prev_hash == records[-1][1]


async def test_damaged_or_forged_backup_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(data_dir) as device:
        await device.write(10)
    folder, _ = back_up(data_dir, dest)
    before = digest(data_dir / DATABASE)
    settings = Settings(data_dir=data_dir)

    copy = folder / DATABASE
    damaged = bytearray(copy.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    copy.write_bytes(bytes(damaged))
    with pytest.raises(BackupError, match="does not match the checksum"):
        await restore(settings, folder)

    # A forger who also fixes the checksum (here: adds a manager whose PIN they know) is caught
    # by the manifest's signature.
    folder, _ = back_up(data_dir, dest)
    with sqlite3.connect(folder / DATABASE) as conn:
        conn.execute(
            "INSERT INTO staff (id, name, role, pin_hash) VALUES ('eve', 'Eve', 'manager', 'x')"
        )
    conn.close()
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["sha256"] = digest(folder / DATABASE)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BackupError, match="manifest's signature does not verify with the key"):
        await restore(settings, folder)

    # Even a manifest signed with the device key does not get an altered journal past the
    # journal's own hashes and signatures.
    folder, signed = back_up(data_dir, dest)
    tamper_amount(folder / DATABASE, 4)
    resigned = replace(signed, sha256=digest(folder / DATABASE)).signed(load_identity(data_dir))
    (folder / MANIFEST).write_text(resigned.to_json())
    with pytest.raises(BackupError, match="journal does not verify: seq 4"):
        await restore(settings, folder)

    with pytest.raises(BackupError, match="has no manifest.json"):
        await restore(settings, tmp_path)
    assert digest(data_dir / DATABASE) == before
    assert not (data_dir / "replaced").exists()


async def test_a_bad_read_from_the_stick_is_caught_in_the_copy_put_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(data_dir) as device:
        await device.write(5)
    folder, _ = back_up(data_dir, dest)
    before = digest(data_dir / DATABASE)
    copyfile = shutil.copyfile

    def flaky_read(src: Path, dst: Path) -> Path:  # the stick verified well, then misreads
        copyfile(src, dst)
        damaged = bytearray(Path(dst).read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        Path(dst).write_bytes(bytes(damaged))
        return dst

    monkeypatch.setattr(shutil, "copyfile", flaky_read)
    with pytest.raises(BackupError, match="does not match the checksum"):
        await restore(Settings(data_dir=data_dir), folder)
    assert digest(data_dir / DATABASE) == before
    assert not (data_dir / f"{DATABASE}.restoring").exists()
    assert not (data_dir / "replaced").exists()


async def test_a_power_cut_before_the_swap_leaves_the_old_database_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(data_dir) as device:
        await device.write(3)
        folder, _ = back_up(data_dir, dest)
        await device.write(1)
    records = chain(data_dir / DATABASE)
    # A process that died after a write left it in the WAL only, not yet in the file itself.
    died = (
        "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]);"
        " c.execute('PRAGMA wal_autocheckpoint=0');"
        ' c.execute("INSERT INTO staff (id, name, role, pin_hash)'
        " VALUES ('bo', 'Bo', 'cashier', 'x')\");"
        " c.commit(); os._exit(0)"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", died, str(data_dir / DATABASE)
    )
    assert await process.wait() == 0
    assert (data_dir / f"{DATABASE}-wal").stat().st_size

    def power_cut(src: Path, dst: Path) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(os, "replace", power_cut)
    with pytest.raises(OSError, match="power cut"):
        await restore(Settings(data_dir=data_dir), folder, force=True)
    # The old database is still where the till opens it (and a link of it is kept aside): a
    # boot now finds the old chain, not an empty store starting a second chain from seq 1.
    assert chain(data_dir / DATABASE) == records
    (aside,) = (data_dir / "replaced").iterdir()
    assert (aside / DATABASE).stat().st_ino == (data_dir / DATABASE).stat().st_ino
    with sqlite3.connect(f"file:{data_dir / DATABASE}?mode=ro", uri=True) as conn:
        assert conn.execute("SELECT name FROM staff WHERE id = 'bo'").fetchone() == ("Bo",)
    conn.close()
    monkeypatch.undo()

    await restore(Settings(data_dir=data_dir), folder, force=True)
    assert chain(data_dir / DATABASE) == records[:3]
    async with open_device_store(data_dir) as device:
        (record,) = await device.write(1)
        assert record.seq == 4


async def test_backup_of_another_device_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "usb"
    dest.mkdir()
    for name in ("a", "b"):
        async with open_device_store(tmp_path / name) as device:
            await device.write(2)
    folder, manifest = back_up(tmp_path / "a", dest)
    with pytest.raises(Refused, match=f"belongs to {manifest.device_id}, but this device is"):
        await restore(Settings(data_dir=tmp_path / "b"), folder)


async def test_backup_older_than_central_holds_is_refused_unless_forced(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()
    db = CentralDb(central_server.database_url)
    async with open_device_store(data_dir) as device:
        await device.enroll(central_server.base_url, await central_server.make_code())
        await device.write(5)
        folder, _ = back_up(data_dir, dest)
        await device.write(4)
        async with httpx.AsyncClient(timeout=10) as http:
            client = CentralClient(central_server.base_url, device.identity, http)
            assert await client.push(wired(await device.all_records())) == 9
        device_id = device.identity.device_id
    assert await db.held_seq(device_id) == 9
    (data_dir / DATABASE).unlink()  # lost: only central and the backup remain
    settings = Settings(data_dir=data_dir)

    with pytest.raises(Refused, match="central holds this device's journal up to seq 9, the"):
        await restore(settings, folder)
    assert not (data_dir / DATABASE).exists()

    message = await restore(settings, folder, force=True)
    assert "up to seq 5" in message and len(chain(data_dir / DATABASE)) == 5


async def test_central_that_cannot_answer_or_will_not(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "device")
    dest = tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(settings.data_dir) as device:
        await device.mark_enrolled(f"http://127.0.0.1:{closed_port()}")
        await device.write(2)
        offline, _ = back_up(settings.data_dir, dest)
        # Enrolled as far as the device knows, but central has never heard of this key.
        await device.mark_enrolled(central_server.base_url)
        stranger, _ = back_up(settings.data_dir, dest)
    (settings.data_dir / DATABASE).unlink()

    with pytest.raises(Refused, match="would not say what it holds .*unknown_device.*--force"):
        await restore(settings, stranger)
    message = await restore(settings, stranger, force=True)
    assert "note: central at" in message and "unknown_device" in message

    (settings.data_dir / DATABASE).unlink()
    message = await restore(settings, offline)  # the shop may have to restore while offline
    assert "restored" in message and "could not be asked what it holds" in message


async def test_newer_live_database_is_not_overwritten_without_force(tmp_path: Path) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(data_dir) as device:
        await device.write(3)
        folder, _ = back_up(data_dir, dest)
        await device.write(2)
    with pytest.raises(Refused, match="up to seq 5, the backup only up to seq 3"):
        await restore(Settings(data_dir=data_dir), folder)
    assert len(chain(data_dir / DATABASE)) == 5


async def test_no_restore_while_the_uplink_runs_and_no_service_starts_during_one(
    tmp_path: Path,
) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()
    async with open_device_store(data_dir) as device:
        await device.write(1)
    folder, _ = back_up(data_dir, dest)
    settings = Settings(data_dir=data_dir)
    env = {**os.environ, "BITAGORA_DATA_DIR": str(data_dir)}
    env.pop("BITAGORA_CONFIG", None)
    uplink = [sys.executable, "-m", "appliance.cli", "uplink"]
    log = tmp_path / "uplink.log"
    with log.open("wb") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *uplink, stdout=asyncio.subprocess.DEVNULL, stderr=stderr, env=env
        )
    try:

        async def waiting_for_enrollment() -> bool:  # up, and holding the store
            return NOT_ENROLLED in log.read_text()

        await wait_until(waiting_for_enrollment, 30, "the uplink to start")
        with pytest.raises(lock.StoreBusy, match="the kiosk or the uplink is running"):
            await restore(settings, folder)
    finally:
        proc.terminate()
        await proc.wait()

    kiosk = [sys.executable, "-m", "appliance.cli", "kiosk"]
    with lock.hold(data_dir, exclusive=True):  # what a restore holds
        for command, status in ((uplink, 1), (kiosk, 2)):
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            _, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == status and b"is being restored" in err, command
    assert "restored" in await restore(settings, folder)  # with the uplink gone, it goes ahead


def test_cli_backs_up_and_refuses_in_words(tmp_path: Path) -> None:
    data_dir, dest = tmp_path / "device", tmp_path / "usb"
    dest.mkdir()

    async def sell() -> None:
        async with open_device_store(data_dir) as device:
            await device.write(3)

    asyncio.run(sell())

    def bitagora(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "appliance.cli", *args, "--data-dir", str(data_dir)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    made = bitagora("backup", str(dest))
    assert made.returncode == 0, made.stderr
    (folder,) = dest.iterdir()
    assert f"up to seq 3 in {folder}" in made.stdout
    (folder / DATABASE).write_bytes(b"x")
    refused = bitagora("restore", str(folder))
    assert refused.returncode == 1
    assert "restore refused:" in refused.stderr and "checksum" in refused.stderr
    missing = bitagora("backup", str(tmp_path / "no-stick"))
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
