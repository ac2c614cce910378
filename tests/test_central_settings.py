"""Central's configuration is checked before anything starts: every problem in one short
message naming its setting, exit status 2, no traceback, no database started."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from appliance.update.bundle import generate_key
from central.settings import SettingsError, check

pytestmark = pytest.mark.timeout(60)
STRONG = "a-long-enough-password-for-prod"


def _run(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith("BITAGORA_") and k != "DATABASE_URL"
    }
    return subprocess.run(
        [sys.executable, "-m", "central.cli", "--data-dir", str(data_dir), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_bad_database_url_and_port_are_both_named_before_anything_starts(
    tmp_path: Path,
) -> None:
    done = _run(tmp_path, "--port", "99999", DATABASE_URL="mysql://user:hunter2@db/central")
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "bitagora central: configuration refused:",
        "  DATABASE_URL: must start with postgresql:// (or postgres://)",
        "  --port: 99999 is not a port number (0-65535)",
    ]
    assert "hunter2" not in done.stderr and done.stdout == ""
    assert not (tmp_path / "central" / "pgdata").exists()


def test_other_commands_refuse_a_bad_database_url_too(tmp_path: Path) -> None:
    done = _run(tmp_path, "migrate", "status", DATABASE_URL="postgresql://db:notaport/x")
    assert done.returncode == 2
    assert done.stderr.startswith("bitagora central: configuration refused:\n  DATABASE_URL: ")
    assert "Traceback" not in done.stderr


def test_every_problem_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "central").mkdir()
    (locked / "central" / "session_secret").write_text("short\n")
    env = {
        "BITAGORA_CENTRAL_ENV": "production",
        "BITAGORA_OPS_PASSWORD": "changeme",
        "BITAGORA_SUPABASE_JWT_SECRET": "too-short",
        "BITAGORA_CENTRAL_MIN_FREE_MB": "lots",
        "BITAGORA_CENTRAL_BACKUP_MAX_AGE_H": "-1",
        "DATABASE_URL": "postgresql://central@db.example:5432/central",
    }
    with pytest.raises(SettingsError) as refused:
        check(locked / "central", 8600, env)
    named = [problem.split(":")[0] for problem in refused.value.problems]
    assert named == [
        "session secret",
        "BITAGORA_OPS_PASSWORD",
        "BITAGORA_SUPABASE_JWT_SECRET",
        "BITAGORA_CENTRAL_MIN_FREE_MB",
        "BITAGORA_CENTRAL_BACKUP_MAX_AGE_H",
    ]
    with pytest.raises(SettingsError, match="BITAGORA_CENTRAL_ENV: must be"):
        check(tmp_path / "central", 8600, {"BITAGORA_CENTRAL_ENV": "prod"})
    # Development takes the same password; production takes a strong one.
    assert not check(tmp_path / "central", 0, {"BITAGORA_OPS_PASSWORD": "changeme"}).production
    settings = check(
        tmp_path / "central",
        0,
        {"BITAGORA_CENTRAL_ENV": "production", "BITAGORA_OPS_PASSWORD": STRONG},
    )
    assert settings.production and settings.health.backup_max_age_s is None


def test_the_release_key_for_update_bundles_is_read_at_start(tmp_path: Path) -> None:
    public = generate_key(tmp_path / "release.pem")
    settings = check(tmp_path / "central", 0, {"BITAGORA_CENTRAL_UPDATE_KEY": str(public)})
    assert settings.update_key is not None
    assert check(tmp_path / "central", 0, {}).update_key is None
    for wrong in (tmp_path / "missing.pub", tmp_path / "release.pem"):  # none, and a private key
        with pytest.raises(SettingsError, match="BITAGORA_CENTRAL_UPDATE_KEY: cannot read"):
            check(tmp_path / "central", 0, {"BITAGORA_CENTRAL_UPDATE_KEY": str(wrong)})


def test_a_data_dir_central_cannot_write_is_named(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(SettingsError, match=r"--data-dir: .* is not writable"):
        check(not_a_folder / "central", 8600, {})


async def test_production_refuses_to_make_a_random_ops_password(
    central_db_url: str, pg_tmp_path: Path
) -> None:
    """No ops user yet, no BITAGORA_OPS_PASSWORD: production stops before serving."""
    conn = await asyncpg.connect(central_db_url)
    try:
        await conn.execute("DELETE FROM web_users")
    finally:
        await conn.close()
    done = await asyncio.to_thread(
        _run,
        pg_tmp_path,
        "--port",
        "0",
        DATABASE_URL=central_db_url,
        BITAGORA_CENTRAL_ENV="production",
    )
    assert done.returncode == 2
    assert "BITAGORA_OPS_PASSWORD: production makes no random first ops password" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (pg_tmp_path / "central" / "ops_password").exists()


async def test_a_port_in_use_is_one_line_not_a_traceback(
    central_db_url: str, pg_tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = await asyncio.to_thread(
            _run, pg_tmp_path, "--port", port, DATABASE_URL=central_db_url
        )
    assert done.returncode == 1
    assert "address already in use" in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.rstrip().endswith(f"see the error above (--host 127.0.0.1 --port {port})")
