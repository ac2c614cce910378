"""``bitagora central merchant …`` and ``user …`` as processes against a real PostgreSQL
(``DATABASE_URL``); and the tenancy migration moving the ops users and device rows of an older
central."""

from __future__ import annotations

import argparse
import shutil
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from central_helpers import bitagora_central

from central.cli import add_central_parser
from central.schema import apply_migrations, list_migrations
from central.users import LoginResult, check_login, hash_password

pytestmark = pytest.mark.timeout(120)


async def login(database_url: str, email: str, password: str) -> LoginResult:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        return (await check_login(pool, email, password))[0]
    finally:
        await pool.close()


@pytest.mark.long
async def test_merchants_and_users_from_the_command_line(central_db_url: str) -> None:
    run = bitagora_central
    assert await run(
        central_db_url, "merchant", "add", "Café Lisboa", "--currency", "EUR", "--country", "PT"
    ) == (0, "merchant 'Café Lisboa' added\n", "")
    status, _, err = await run(central_db_url, "merchant", "add", "Café Lisboa")
    assert status == 1 and "exists already" in err
    status, _, err = await run(central_db_url, "merchant", "add", "X", "--currency", "euro")
    assert status == 1 and "--currency" in err

    status, out, err = await run(
        central_db_url,
        "user",
        "add",
        "ana@lisboa.example",
        "--merchant",
        "Café Lisboa",
        "--role",
        "owner",
        "--password-stdin",
        stdin="ana-password\n",
    )
    assert status == 0, err
    assert out == "user ana@lisboa.example added: owner of 'Café Lisboa'\n"
    status, _, err = await run(
        central_db_url,
        "user",
        "add",
        "ops@central.example",
        "--role",
        "ops",
        "--password-stdin",
        stdin="ops-password\n",
    )
    assert status == 0, err
    refusals = [
        (
            ("user", "add", "x@y.example", "--role", "ops", "--merchant", "Café Lisboa"),
            "no --merchant",
        ),
        (
            ("user", "add", "x@y.example", "--role", "owner", "--merchant", "Nowhere"),
            "no merchant named",
        ),
        (("user", "add", "ana@lisboa.example", "--role", "ops"), "exists already"),
        (("user", "add", "not-an-email", "--role", "ops"), "not an email"),
        (("user", "add", "x@y.example", "--role", "ops"), "at least 8"),
    ]
    for args, reason in refusals:
        password = "short\n" if reason == "at least 8" else "long-enough-password\n"
        status, _, err = await run(central_db_url, *args, "--password-stdin", stdin=password)
        assert status == 1 and reason in err, (args, err)

    status, out, _ = await run(central_db_url, "user", "list")
    assert status == 0
    assert out.splitlines() == [
        "email\trole\tmerchant\tstate",
        "admin\tops\t-\tactive",
        "ops@central.example\tops\t-\tactive",
        "ana@lisboa.example\towner\tCafé Lisboa\tactive",
    ]
    assert await login(central_db_url, "ana@lisboa.example", "ana-password") is LoginResult.OK

    status, out, err = await run(
        central_db_url,
        "user",
        "reset-password",
        "ANA@lisboa.example",
        "--password-stdin",
        stdin="new-ana-password\n",
    )
    assert status == 0, err
    assert await login(central_db_url, "ana@lisboa.example", "ana-password") is LoginResult.REFUSED
    assert await login(central_db_url, "ana@lisboa.example", "new-ana-password") is LoginResult.OK

    assert (await run(central_db_url, "user", "deactivate", "ana@lisboa.example"))[0] == 0
    assert (
        await login(central_db_url, "ana@lisboa.example", "new-ana-password")
        is LoginResult.INACTIVE
    )
    status, _, err = await run(central_db_url, "user", "deactivate", "nobody@x.example")
    assert status == 1 and "no user" in err
    conn = await asyncpg.connect(central_db_url)
    try:
        row = await conn.fetchrow(
            "SELECT s.currency, m.country FROM merchants m"
            " JOIN merchant_settings s ON s.merchant_id = m.id WHERE m.name = 'Café Lisboa'"
        )
    finally:
        await conn.close()
    assert tuple(row) == ("EUR", "PT")


def test_parser_registers_merchant_and_user_actions() -> None:
    parser = argparse.ArgumentParser(prog="bitagora")
    add_central_parser(parser.add_subparsers(dest="command"))
    add = parser.parse_args(
        ["central", "--data-dir", "/x", "merchant", "add", "M", "--country", "PT"]
    )
    assert (add.name, add.currency, add.country, add.data_dir) == ("M", None, "PT", Path("/x"))
    assert add.func.__name__ == "cmd_merchant_add"
    user = parser.parse_args(
        ["central", "user", "add", "a@b.example", "--merchant", "M", "--role", "manager"]
    )
    assert (user.email, user.merchant, user.role, user.password_stdin) == (
        "a@b.example",
        "M",
        "manager",
        False,
    )
    assert parser.parse_args(["central", "user", "list"]).func.__name__ == "cmd_user_list"
    with pytest.raises(SystemExit):
        parser.parse_args(["central", "user", "add", "a@b.example", "--role", "admin"])


async def test_the_tenancy_migration_keeps_ops_users_and_gives_rows_their_merchant(
    pg_server: Any, tmp_path: Path
) -> None:
    before = tmp_path / "before"
    before.mkdir()
    for path in list_migrations():
        if path.name < "0004":
            shutil.copy(path, before)
    name = f"tenancy_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.get_uri())
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = pg_server.get_uri(name)
        conn = await asyncpg.connect(url)
        try:
            await apply_migrations(conn, before)
            await conn.execute(
                "INSERT INTO ops_users (username, password_hash) VALUES ('admin', $1)",
                await hash_password("old-admin-password"),
            )
            shop = await conn.fetchval("INSERT INTO merchants (name) VALUES ('Old') RETURNING id")
            await conn.execute(
                "INSERT INTO devices (device_id, merchant_id, public_key) VALUES ('dev-1', $1, $2)",
                shop,
                bytes(32),
            )
            await conn.execute(
                "INSERT INTO device_sales (device_id, currency, sales, total_minor)"
                " VALUES ('dev-1', 'EUR', 3, 4500)"
            )
            applied = await apply_migrations(conn)
            assert applied[0] == "0004_tenancy.sql"
            assert await conn.fetchval("SELECT merchant_id FROM device_sales") == shop
            assert await conn.fetchval("SELECT to_regclass('ops_users')") is None
        finally:
            await conn.close()
        assert await login(url, "admin", "old-admin-password") is LoginResult.OK
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()
