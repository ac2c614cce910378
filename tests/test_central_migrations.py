"""Central's migrations on a real PostgreSQL: every step rolls back to exactly the schema before
it and applies again; an applied file edited afterwards is refused; an older central's
schema_migrations gains checksums; ``bitagora central migrate`` drives it all."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import asyncpg
import pytest
from central_helpers import bitagora_central

from central.schema import (
    MigrationError,
    apply_migrations,
    list_migrations,
    migration_files,
    roll_back,
    status,
)

pytestmark = pytest.mark.timeout(90)

# Everything a migration can change that central relies on, one line per fact.
SCHEMA = """
SELECT coalesce(string_agg(fact, E'\n' ORDER BY fact), '') FROM (
  SELECT format('column %s.%s %s %s %s', table_name, column_name, data_type, is_nullable,
                column_default) AS fact
  FROM information_schema.columns WHERE table_schema = 'public'
  UNION ALL
  SELECT format('constraint %s %s', conrelid::regclass, pg_get_constraintdef(oid))
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT format('index %s', indexdef) FROM pg_indexes WHERE schemaname = 'public'
  UNION ALL
  SELECT format('policy %s.%s %s %s %s', tablename, policyname, roles, qual, with_check)
  FROM pg_policies WHERE schemaname = 'public'
  UNION ALL
  SELECT format('function %s', oid::regprocedure) FROM pg_proc
  WHERE pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT format('rls %s %s', relname, relrowsecurity) FROM pg_class
  WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
  UNION ALL
  SELECT format('grant %s %s %s', table_name, grantee, privilege_type)
  FROM information_schema.role_table_grants WHERE table_schema = 'public'
  UNION ALL
  SELECT format('column grant %s.%s %s %s', table_name, column_name, grantee, privilege_type)
  FROM information_schema.column_privileges
  WHERE table_schema = 'public' AND grantee = 'bitagora_web'
  UNION ALL
  SELECT format('schema usage %s', has_schema_privilege('bitagora_web', 'public', 'USAGE'))
) AS facts
"""


async def _state(conn: asyncpg.Connection) -> tuple[str, str | None]:
    """The schema, and the ops users: made before tenancy in ops_users, after it in web_users;
    rollbacks keep them."""
    if await conn.fetchval("SELECT to_regclass('web_users') IS NOT NULL"):
        users = await conn.fetchval("SELECT string_agg(email, ',') FROM web_users")
    elif await conn.fetchval("SELECT to_regclass('ops_users') IS NOT NULL"):
        users = await conn.fetchval("SELECT string_agg(username, ',') FROM ops_users")
    else:
        users = None
    return await conn.fetchval(SCHEMA), users


async def test_all_apply_roll_back_and_apply_again(empty_db_url: str) -> None:
    versions = ["0000", *(m.version for m in migration_files())]
    conn = await asyncpg.connect(empty_db_url)
    try:
        await status(conn)  # the runner's own table, before any step
        # Roles belong to the server and outlive a rollback (0004): have it from the start.
        await conn.execute(
            "DO $$ BEGIN CREATE ROLE bitagora_web NOLOGIN;"
            " EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        seen = {"0000": await _state(conn)}
        for version in versions[1:]:
            assert len(await apply_migrations(conn, to=version)) == 1
            if version == "0001":
                await conn.execute(
                    "INSERT INTO ops_users (username, password_hash) VALUES ('admin', 'h')"
                )
            seen[version] = await _state(conn)
        assert seen[versions[-1]][1] == "admin"
        assert "web_users" in seen[versions[-1]][0] and "web_users" not in seen["0003"][0]

        for below in reversed(versions[:-1]):
            assert len(await roll_back(conn, below)) == 1
            assert await _state(conn) == seen[below], f"rolling back to {below}"
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 0

        assert len(await apply_migrations(conn)) == len(versions) - 1
        schema, _ = await _state(conn)
        assert schema == seen[versions[-1]][0]
        assert (await status(conn)).pending == []
    finally:
        await conn.close()


def _copy_migrations(folder: Path) -> Path:
    folder.mkdir()
    for path in migration_files():
        shutil.copy(path.path, folder)
        shutil.copy(path.down_path, folder)
    return folder


async def test_an_edited_applied_migration_is_refused(empty_db_url: str, tmp_path: Path) -> None:
    folder = _copy_migrations(tmp_path / "migrations")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, folder)
        edited = next(folder.glob("0003_*.sql"))
        edited.write_text(edited.read_text() + "\n-- a change\n")
        with pytest.raises(MigrationError, match=f"{edited.name} was edited after it was applied"):
            await apply_migrations(conn, folder)
        with pytest.raises(MigrationError, match="edited"):
            await roll_back(conn, "0000", folder)
        assert (await status(conn, folder)).problems
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == len(
            list_migrations(folder)
        )
    finally:
        await conn.close()


async def test_a_rollback_without_its_file_undoes_nothing(
    empty_db_url: str, tmp_path: Path
) -> None:
    folder = _copy_migrations(tmp_path / "migrations")
    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn, folder)
        next(folder.glob("0002_*.down.sql")).unlink()
        with pytest.raises(MigrationError, match=r"no rollback file: 0002_\w+\.down\.sql"):
            await roll_back(conn, "0000", folder)
        assert (await status(conn, folder)).applied[-1].version == migration_files()[-1].version
    finally:
        await conn.close()


async def test_an_older_schema_migrations_gains_checksums(empty_db_url: str) -> None:
    first = list_migrations()[0]
    conn = await asyncpg.connect(empty_db_url)
    try:
        # As a central from before checksums left it: the table without the column.
        await conn.execute(
            "CREATE TABLE schema_migrations (version text PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute(first.read_text())
        await conn.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ('0001', $1)", first.name
        )
        assert len(await apply_migrations(conn)) == len(list_migrations()) - 1
        recorded = await conn.fetchval(
            "SELECT checksum FROM schema_migrations WHERE version = '0001'"
        )
        assert recorded == hashlib.sha256(first.read_bytes()).hexdigest()
    finally:
        await conn.close()


async def test_migrate_command(empty_db_url: str) -> None:
    names = [path.name for path in list_migrations()]
    assert (await bitagora_central(empty_db_url, "migrate", "up", "--to", "2"))[:2] == (
        0,
        f"applied {names[0]}\napplied {names[1]}\n",
    )
    code, out, _ = await bitagora_central(empty_db_url, "migrate", "status")
    assert code == 0
    assert out.splitlines() == [f"{names[0]}  applied", f"{names[1]}  applied"] + [
        f"{name}  pending" for name in names[2:]
    ]
    assert (await bitagora_central(empty_db_url, "migrate", "down"))[:2] == (
        0,
        f"rolled back {names[1]}\n",
    )
    code, out, _ = await bitagora_central(empty_db_url, "migrate", "up")
    assert code == 0 and out.splitlines() == [f"applied {name}" for name in names[1:]]
    code, out, _ = await bitagora_central(empty_db_url, "migrate", "down", "--to", "0")
    assert code == 0 and out.splitlines() == [f"rolled back {name}" for name in reversed(names)]

    conn = await asyncpg.connect(empty_db_url)
    try:
        await apply_migrations(conn)
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = '0002'")
    finally:
        await conn.close()
    code, out, err = await bitagora_central(empty_db_url, "migrate", "status")
    assert code == 1 and f"error: migration {names[1]} was edited" in err
    code, out, err = await bitagora_central(empty_db_url, "migrate", "down")
    assert (code, out) == (1, "") and "was edited" in err and "Traceback" not in err


async def test_central_refuses_to_start_over_an_edited_migration(
    central_db_url: str, pg_tmp_path: Path
) -> None:
    conn = await asyncpg.connect(central_db_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = '0002'")
    finally:
        await conn.close()
    code, out, err = await bitagora_central(
        central_db_url, "--data-dir", str(pg_tmp_path), "--port", "0"
    )
    name = list_migrations()[1].name
    assert (code, out) == (1, "")
    assert err.startswith(f"bitagora central: cannot start: migration {name} was edited after")
    assert "Traceback" not in err
