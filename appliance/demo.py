"""``bitagora demo``: the whole path on one machine.

It starts the same processes a shop and its fleet run — central (on an embedded PostgreSQL), the
ESC/POS printer simulator and the uplink daemon — enrolls the demo device, and then either shows the
kiosk (interactive) or drives scripted sales through the real kiosk app and checks that central
acknowledged them and that the chain verifies on both sides (``--headless``).

Everything lives under one folder (``--data-dir``, default ./demo-data): ``device/`` (the device's
data directory), ``central/`` (central's data and PostgreSQL cluster) and ``printer/`` (receipts).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager, closing
from pathlib import Path

import httpx

from appliance.config import load_settings
from appliance.services.till import Till
from appliance.store import outbox
from appliance.store.export import VerifyResult, verify_database, verify_export
from appliance.store.seed import seed_demo

DEFAULT_DEMO_DIR = Path("demo-data")
DEMO_OPS_PASSWORD = "demo-admin"
START_TIMEOUT_S = 60.0
ACK_TIMEOUT_S = 60.0


class DemoError(RuntimeError):
    """A step of the demo failed; the message says which and why."""


def free_port(wanted: int = 0) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", wanted))
        except OSError as err:
            raise DemoError(f"port {wanted} is taken: {err}") from err
        return int(sock.getsockname()[1])


def central_port_for(database: Path) -> int:
    """The port central had when this demo device enrolled: the device keeps talking to that URL."""
    if database.is_file():
        try:
            with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as conn:
                row = conn.execute(
                    "SELECT value FROM uplink_state WHERE key = 'central_url'"
                ).fetchone()
        except sqlite3.Error:
            row = None
        if row and httpx.URL(row[0]).port:
            return free_port(httpx.URL(row[0]).port)
    return free_port()


def bitagora(*args: str) -> list[str]:
    return [sys.executable, "-m", "appliance.cli", *args]


@asynccontextmanager
async def service(
    name: str, argv: list[str], ready: str, log: Path, env: dict[str, str] | None = None
) -> AsyncIterator[str]:
    """Run a child process until the context ends; yield its first stdout line containing
    ``ready``. Its output goes to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as log_file:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            env={**os.environ, **(env or {})},
        )
        assert proc.stdout is not None
        try:
            line = await asyncio.wait_for(_line_with(proc.stdout, ready, log_file), START_TIMEOUT_S)
        except (TimeoutError, EOFError):
            proc.kill()
            await proc.wait()
            raise DemoError(f"{name} did not start (exit {proc.returncode}); see {log}") from None
        # Keep draining stdout into the log so the child never blocks on a full pipe.
        drain = asyncio.create_task(_copy(proc.stdout, log_file))
        try:
            yield line
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
            drain.cancel()
            await asyncio.gather(drain, return_exceptions=True)


async def _line_with(stream: asyncio.StreamReader, marker: str, log_file: object) -> str:
    while True:
        raw = await stream.readline()
        if not raw:
            raise EOFError
        log_file.write(raw)  # type: ignore[attr-defined]
        text = raw.decode(errors="replace").strip()
        if marker in text:
            return text


async def _copy(stream: asyncio.StreamReader, log_file: object) -> None:
    while raw := await stream.readline():
        log_file.write(raw)  # type: ignore[attr-defined]
        log_file.flush()  # type: ignore[attr-defined]


async def _run(root: Path, headless: bool, sales: int) -> str:
    device_dir, central_dir, printer_dir, logs = (
        root / "device",
        root / "central",
        root / "printer",
        root / "logs",
    )
    for folder in (device_dir, central_dir, printer_dir):
        folder.mkdir(parents=True, exist_ok=True)
    database = load_settings(device_dir, env={}).database_path
    central_port, printer_port = central_port_for(database), free_port()
    central_url = f"http://127.0.0.1:{central_port}"
    ops_password = os.environ.get("BITAGORA_OPS_PASSWORD", DEMO_OPS_PASSWORD)
    (device_dir / "appliance.toml").write_text(
        "# Written by `bitagora demo` on each start.\n"
        '[device]\nmerchant_name = "BitAgora Demo Café"\n'
        'header_lines = ["Rua Augusta 1", "Lisboa"]\n\n'
        f'[printer]\nhost = "127.0.0.1"\nport = {printer_port}\n\n'
        f'[uplink]\ncentral_url = "{central_url}"\nheartbeat_s = 5\nbackoff_max_s = 5\n',
        encoding="utf-8",
    )
    settings = load_settings(device_dir, env={})

    async with AsyncExitStack() as stack:
        await stack.enter_async_context(
            service(
                "central",
                bitagora("central", "--data-dir", str(central_dir), "--port", str(central_port)),
                "central listening",
                logs / "central.log",
                env={"BITAGORA_OPS_PASSWORD": ops_password},
            )
        )
        await stack.enter_async_context(
            service(
                "printer simulator",
                bitagora("sim", "printer", "--port", str(printer_port), "--out", str(printer_dir)),
                "listening",
                logs / "printer.log",
            )
        )
        till = await Till.open(settings)
        stack.push_async_callback(till.close)
        await seed_demo(till.conn, till.currency)
        if await outbox.get_state(till.conn, "device_id") is None:
            await _enroll(central_dir, device_dir)
        await stack.enter_async_context(
            service(
                "uplink",
                bitagora("uplink", "--data-dir", str(device_dir)),
                "uplink running",
                logs / "uplink.log",
            )
        )

        if not headless:
            from appliance.tui.app import KioskApp

            await KioskApp(till).run_async()
            return (
                f"demo stopped; central dashboard was {central_url} (admin / {ops_password}), "
                f"receipts in {printer_dir}"
            )

        from appliance.tui.script import run_scripted_sales

        results = await run_scripted_sales(till, sales)
        problems = [p for r in results for p in r.problems]
        if problems:
            raise DemoError(f"sales committed but devices failed: {problems[0]}")
        await _wait_acknowledged(till)
        local = verify_database(settings.database_path)
        remote = await _verify_on_central(central_url, local.device_id, ops_password, root)
        if remote.last_hash != local.last_hash:
            raise DemoError("central's copy of the chain ends elsewhere than the device's")
        return (
            f"demo OK: {len(results)} cash sales; journal of {local.device_id} verified on "
            f"device ({local.count} records) and central ({remote.count}); "
            f"receipts in {printer_dir}"
        )
    raise AssertionError("unreachable")


async def _enroll(central_dir: Path, device_dir: Path) -> None:
    code_proc = await asyncio.create_subprocess_exec(
        *bitagora(
            "central",
            "enroll-code",
            "--merchant",
            "BitAgora Demo Café",
            "--data-dir",
            str(central_dir),
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await code_proc.communicate()
    if code_proc.returncode != 0:
        raise DemoError(f"enroll-code failed: {err.decode(errors='replace').strip()}")
    code = out.decode().strip().splitlines()[-1]
    enroll = await asyncio.create_subprocess_exec(
        *bitagora("uplink", "enroll", "--code", code, "--data-dir", str(device_dir)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await enroll.communicate()
    if enroll.returncode != 0:
        raise DemoError(f"enrollment failed: {err.decode(errors='replace').strip()}")


async def _wait_acknowledged(till: Till) -> None:
    """Wait (bounded) until central has acknowledged every journal record."""
    async with asyncio.timeout(ACK_TIMEOUT_S):
        # Another process (the uplink) empties the outbox; SQLite cannot signal us across it.
        while (await outbox.backlog(till.conn)).count:  # noqa: ASYNC110
            await asyncio.sleep(0.2)


async def _verify_on_central(
    central_url: str, device_id: str, password: str, root: Path
) -> VerifyResult:
    async with httpx.AsyncClient(base_url=central_url, timeout=30) as http:
        login = await http.post("/login", data={"username": "admin", "password": password})
        if login.status_code != 303:
            raise DemoError("could not log in to central's ops dashboard")
        response = await http.get(f"/devices/{device_id}/journal.jsonl")
        if response.status_code != 200:
            raise DemoError(f"central export failed: HTTP {response.status_code}")
    return await asyncio.to_thread(_verify_downloaded, response.content, root)


def _verify_downloaded(content: bytes, root: Path) -> VerifyResult:
    with tempfile.NamedTemporaryFile("wb", dir=root, suffix=".jsonl", delete=False) as handle:
        handle.write(content)
    path = Path(handle.name)
    try:
        return verify_export(path)
    finally:
        path.unlink()


def demo_root(data_dir: Path | None) -> Path:
    return (data_dir or Path(os.environ.get("BITAGORA_DATA_DIR", DEFAULT_DEMO_DIR))).resolve()


def run_demo(root: Path, headless: bool, sales: int) -> int:
    if headless and sales < 1:
        print("demo FAILED: --sales must be at least 1", file=sys.stderr)
        return 2
    try:
        summary = asyncio.run(_run(root, headless, sales))
    except (DemoError, OSError, TimeoutError) as err:
        reason = str(err) or type(err).__name__
        print(f"demo FAILED: {reason}", file=sys.stderr)
        return 1
    print(summary)
    return 0
