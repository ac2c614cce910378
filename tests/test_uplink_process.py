"""The `bitagora uplink` process: CLI enrollment, SIGKILL mid-push, SIGTERM, systemd notify."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from uplink_helpers import (
    CentralDb,
    assert_central_matches,
    open_device_store,
    wait_until,
)

from appliance.uplink.daemon import NOT_ENROLLED

if TYPE_CHECKING:
    from conftest import CentralTestServer
    from uplink_helpers import Device

pytestmark = pytest.mark.timeout(90)

RECORDS = 200


def bitagora(*args: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", *args]


def write_config(data_dir: Path, central_url: str, **uplink: object) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    lines = [f'central_url = "{central_url}"'] + [f"{k} = {v}" for k, v in uplink.items()]
    (data_dir / "appliance.toml").write_text("[uplink]\n" + "\n".join(lines) + "\n")


async def run_cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *bitagora(*args), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@asynccontextmanager
async def daemon(
    data_dir: Path, log: Path, extra_env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`bitagora uplink` as a child process; killed at the end if still running."""
    env = {**os.environ, "BITAGORA_DATA_DIR": str(data_dir), **(extra_env or {})}
    env.pop("BITAGORA_CONFIG", None)
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            *bitagora("uplink"), stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def running_line(proc: asyncio.subprocess.Process) -> str:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 20)
    return line.decode().strip()


@contextmanager
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    """A NOTIFY_SOCKET as systemd gives one: a datagram unix socket (on a path short enough)."""
    with (
        tempfile.TemporaryDirectory(dir="/tmp") as short,
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify,
    ):
        path = os.path.join(short, "notify")
        notify.bind(path)
        notify.setblocking(False)
        yield path, notify


def ready_and_watched(received: list[str]) -> bool:
    return "READY=1" in received and received.count("WATCHDOG=1") >= 2


async def read_until(
    notify: socket.socket, received: list[str], done: Callable[[list[str]], bool]
) -> None:
    """Collect sd_notify messages into ``received`` until ``done`` holds (20 s per message)."""
    loop = asyncio.get_running_loop()
    while not done(received):
        data = await asyncio.wait_for(loop.sock_recv(notify, 256), 20)
        received.append(data.decode())


async def test_sigkill_mid_push_loses_nothing_and_duplicates_nothing(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    db = CentralDb(central_server.database_url)
    data_dir, log = tmp_path / "device", tmp_path / "uplink.log"
    # batch_size 1: a push per record, so the kill lands mid-way through many pushes.
    write_config(
        data_dir,
        central_server.base_url,
        batch_size=1,
        heartbeat_s=60,
        backoff_min_s=0,
        backoff_max_s=1,
    )

    code = await central_server.make_code("Kiosk 7")
    status, out, err = await run_cli(
        "uplink", "enroll", "--code", code, "--data-dir", str(data_dir)
    )
    assert status == 0, err
    device_id = out.strip().splitlines()[-1]
    assert device_id.startswith("dev-") and "Kiosk 7" in out
    status, _, err = await run_cli("uplink", "enroll", "--code", code, "--data-dir", str(data_dir))
    assert status == 1 and "used" in err

    async with open_device_store(data_dir) as device:
        assert device.identity.device_id == device_id
        await device.write(RECORDS)

        async with daemon(data_dir, log) as proc:
            assert await running_line(proc) == (
                f"uplink running for {device_id} -> {central_server.base_url}"
            )
            await wait_until(lambda: _held_at_least(db, device_id, 1), what="the first push")
            proc.send_signal(signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
        held = await db.held_seq(device_id)
        assert 1 <= held < RECORDS, "the kill should land mid-push"
        # Acknowledged only what central holds (perhaps less: killed before the acknowledgement).
        assert RECORDS - held <= await device.outbox_count() <= RECORDS

        async with daemon(data_dir, log) as proc:
            assert (await running_line(proc)).startswith("uplink running for")
            await wait_until(
                lambda: _held_at_least(db, device_id, RECORDS),
                timeout_s=30,
                what="every record at central",
            )
            await wait_until(lambda: _outbox_empty(device), what="the outbox to empty")
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
        await assert_central_matches(db, device)
        assert (
            await db.fetchval("SELECT sales FROM device_sales WHERE device_id = $1", device_id)
            == RECORDS
        )
    assert "uplink stopped" in log.read_text()


async def _held_at_least(db: CentralDb, device_id: str, seq: int) -> bool:
    return await db.held_seq(device_id) >= seq


async def _outbox_empty(device: Device) -> bool:
    return await device.outbox_count() == 0


async def test_not_enrolled_daemon_says_so_and_stops_on_sigterm(tmp_path: Path) -> None:
    data_dir, log = tmp_path / "device", tmp_path / "uplink.log"
    write_config(data_dir, "http://127.0.0.1:9")
    async with daemon(data_dir, log) as proc:

        async def said_so() -> bool:
            return NOT_ENROLLED in log.read_text()

        await wait_until(said_so, what="the not-enrolled message")
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        assert proc.stdout is not None
        assert b"uplink running" not in await proc.stdout.read()


async def test_not_enrolled_daemon_is_ready_for_systemd_and_pings_the_watchdog(
    tmp_path: Path,
) -> None:
    # Under Type=notify a daemon that only said READY once enrolled would be timed out by
    # systemd (and restarted into the start limit) before a technician could enroll it.
    data_dir, log = tmp_path / "device", tmp_path / "uplink.log"
    write_config(data_dir, "http://127.0.0.1:9")
    with notify_socket() as (path, notify):
        systemd = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
        async with daemon(data_dir, log, systemd) as proc:
            received: list[str] = []
            await read_until(
                notify, received, lambda r: "READY=1" in r and r.count("WATCHDOG=1") >= 2
            )

            async def said_so() -> bool:
                return NOT_ENROLLED in log.read_text()

            await wait_until(said_so, what="the not-enrolled message")
            proc.send_signal(signal.SIGTERM)
            await read_until(notify, received, lambda r: "STOPPING=1" in r)
            assert await asyncio.wait_for(proc.wait(), 20) == 0


async def test_enroll_with_an_unreachable_central_fails_clearly(tmp_path: Path) -> None:
    status, _, err = await run_cli(
        "uplink",
        "enroll",
        "--code",
        "AAAA-BBBB-CCCC",
        "--central-url",
        "http://127.0.0.1:9",
        "--data-dir",
        str(tmp_path),
    )
    assert status == 1 and "cannot reach central at http://127.0.0.1:9" in err
    status, _, err = await run_cli(
        "uplink", "--data-dir", str(tmp_path), "enroll", "--code", "X", "--central-url", "ftp://x"
    )
    assert status == 1 and "not an http(s) URL" in err


async def test_systemd_notify_ready_watchdog_and_stopping(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    data_dir, log = tmp_path / "device", tmp_path / "uplink.log"
    write_config(data_dir, central_server.base_url)
    async with open_device_store(data_dir) as device:
        await device.enroll(central_server.base_url, await central_server.make_code())
    with notify_socket() as (path, notify):
        systemd = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
        async with daemon(data_dir, log, systemd) as proc:
            received: list[str] = []
            await read_until(
                notify, received, lambda r: "READY=1" in r and r.count("WATCHDOG=1") >= 2
            )
            proc.send_signal(signal.SIGTERM)
            await read_until(notify, received, lambda r: "STOPPING=1" in r)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
