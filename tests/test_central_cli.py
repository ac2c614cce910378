"""``bitagora central`` as a process: embedded PostgreSQL, enroll-code beside a running server,
clean stop on SIGTERM; plus the migration runner and the argument parser."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from central_helpers import log_in
from conftest import SimDevice

from central.cli import add_central_parser, load_session_secret
from central.schema import apply_migrations, list_migrations

pytestmark = pytest.mark.timeout(90)
CODE = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "BITAGORA_OPS_PASSWORD", "BITAGORA_DATA_DIR")
    }
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _cli(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "central.cli",
        *args,
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_serve_enroll_code_and_stop(pg_tmp_path: Path) -> None:
    data_dir = pg_tmp_path / "data"
    pgdata = data_dir / "central" / "pgdata"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "central.cli",
        "--data-dir",
        str(data_dir),
        "--port",
        "0",
        env=_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not (lines and lines[-1].startswith("central listening on ")):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "central exited: " + (await proc.stderr.read()).decode()  # type: ignore[union-attr]
            lines.append(line.strip())
        base_url = lines[-1].removeprefix("central listening on ")
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        # The random first password is in a file only central's user reads, never in its output
        # (its log: the system journal under systemd).
        password_file = data_dir / "central" / "ops_password"
        assert any(
            f"created ops user 'admin'; its password is in {password_file}" in line
            for line in lines
        )
        assert password_file.stat().st_mode & 0o777 == 0o600
        password = password_file.read_text(encoding="utf-8").strip()
        assert len(password) >= 12 and not any(password in line for line in lines)
        secret = data_dir / "central" / "session_secret"
        assert secret.stat().st_mode & 0o777 == 0o600

        # enroll-code attaches to the running embedded server and leaves it running.
        status, out, err = await _cli(
            "enroll-code", "--merchant", "CLI Shop", "--data-dir", str(data_dir)
        )
        assert status == 0, err
        code = out.strip()
        assert CODE.match(code)

        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            assert (await client.get("/healthz")).text == "ok"
            enrolled = await SimDevice().enroll(client, code, version="1")
            assert enrolled.status_code == 201, enrolled.text
            assert enrolled.json()["merchant"] == "CLI Shop"
            login = await log_in(client, "admin", password)
            assert login.status_code == 303

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        assert proc.stderr is not None
        assert password not in (await proc.stdout.read() + await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert not (pgdata / "postmaster.pid").exists()  # the server central started is stopped

    # Without a running server, enroll-code starts the embedded one, then stops it again.
    status, out, err = await _cli("--data-dir", str(data_dir), "enroll-code", "--merchant", "B")
    assert status == 0, err
    assert CODE.match(out.strip())
    assert not (pgdata / "postmaster.pid").exists()


def test_parser_registers_serve_and_enroll_code() -> None:
    parser = argparse.ArgumentParser(prog="bitagora")
    add_central_parser(parser.add_subparsers(dest="command"))
    serve = parser.parse_args(["central", "--port", "9000"])
    assert (serve.port, serve.host, serve.data_dir) == (9000, "127.0.0.1", None)
    assert serve.func.__name__ == "cmd_serve"
    code = parser.parse_args(["central", "--data-dir", "/x", "enroll-code", "--merchant", "M"])
    assert code.func.__name__ == "cmd_enroll_code"
    assert (code.data_dir, code.merchant, code.ttl_hours) == (Path("/x"), "M", 24.0)
    code = parser.parse_args(
        ["central", "enroll-code", "--merchant", "M", "--data-dir", "/y", "--ttl-hours", "2"]
    )
    assert (code.data_dir, code.ttl_hours) == (Path("/y"), 2.0)


def test_session_secret_is_made_once(tmp_path: Path) -> None:
    first = load_session_secret(tmp_path / "central")
    assert len(first) >= 32
    assert load_session_secret(tmp_path / "central") == first


async def test_migrations_apply_once_and_are_recorded(pg_server: object) -> None:
    uri = pg_server.get_uri()  # type: ignore[attr-defined]
    admin = await asyncpg.connect(uri)
    try:
        await admin.execute("CREATE DATABASE migrate_check")
        conn = await asyncpg.connect(pg_server.get_uri("migrate_check"))  # type: ignore[attr-defined]
        try:
            names = [path.name for path in list_migrations()]
            assert names and names[0].startswith("0001_")
            assert await apply_migrations(conn) == names
            assert await apply_migrations(conn) == []
            recorded = await conn.fetch("SELECT version, name FROM schema_migrations")
            assert [r["name"] for r in recorded] == names
        finally:
            await conn.close()
        await admin.execute("DROP DATABASE migrate_check WITH (FORCE)")
    finally:
        await admin.close()
