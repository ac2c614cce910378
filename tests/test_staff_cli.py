"""`bitagora staff`: adding people, binding and forgetting badges, against a real store."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest

from appliance.cli import main
from appliance.config import load_settings
from appliance.core.lockout import LockoutPolicy, utc_now
from appliance.store import journal, lockout
from appliance.store.db import open_db
from appliance.store.identity import load_or_create_identity
from bitagora_protocol.journal import Record


def staff(tmp_path: Path, *args: str) -> int:
    return main(["staff", *args, "--data-dir", str(tmp_path)])


def test_add_bind_list_and_forget(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("4321\n"))
    assert (
        staff(tmp_path, "add", "teo", "--name", "Teo", "--role", "technician", "--pin-stdin") == 0
    )
    assert staff(tmp_path, "badge", "teo", "04:a2:24:b2:c3:5e:99") == 0
    assert staff(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert "teo          technician Teo  badges …5E99" in out
    assert "04A224B2C35E99" not in out  # a whole UID is enough to clone a simple badge

    assert staff(tmp_path, "unbadge", "04A224B2C35E99") == 0
    assert staff(tmp_path, "unbadge", "04A224B2C35E99") == 1
    assert "not bound" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("badge", "nobody", "04A224B2C35E99"), "no staff member 'nobody'"),
        (("badge", "nobody", "xyz"), "is not a card UID"),
    ],
)
def test_bad_input_is_refused_in_words(
    tmp_path: Path, capsys, args: tuple[str, ...], error: str
) -> None:  # type: ignore[no-untyped-def]
    assert staff(tmp_path, *args) == 1
    assert error in capsys.readouterr().err


def test_a_badge_and_a_pin_belong_to_one_person_and_pins_are_digits(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    for who, pin in (("ana", "1111"), ("bea", "2222")):
        monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
        assert staff(tmp_path, "add", who, "--name", who, "--role", "cashier", "--pin-stdin") == 0
    assert staff(tmp_path, "badge", "ana", "04A224B2C35E99") == 0
    assert staff(tmp_path, "badge", "bea", "04A224B2C35E99") == 1
    assert "already bound to ana" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("2222\n"))  # bea's PIN: whose would it be?
    assert staff(tmp_path, "add", "cy", "--name", "Cy", "--role", "cashier", "--pin-stdin") == 1
    assert "already belongs to someone else" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("2222\n"))  # bea may keep her own PIN
    assert staff(tmp_path, "add", "bea", "--name", "Bea", "--role", "manager", "--pin-stdin") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("12ab\n"))
    assert staff(tmp_path, "add", "cy", "--name", "Cy", "--role", "cashier", "--pin-stdin") == 1
    assert "4 to 8 digits" in capsys.readouterr().err


async def lock_out(tmp_path: Path, subject: str, who: tuple[str, str] | None) -> None:
    """Five wrong PINs against ``subject`` in the store the CLI reads (now, by the wall clock)."""
    settings = load_settings(tmp_path, env={})
    identity = load_or_create_identity(settings.data_dir)
    conn = await open_db(settings.database_path)
    try:
        for _ in range(5):
            await lockout.fail(conn, identity, subject, utc_now(), LockoutPolicy(), "unlock", who)
    finally:
        await conn.close()


async def records(tmp_path: Path, kind: str) -> list[Record]:
    conn = await open_db(load_settings(tmp_path, env={}).database_path)
    try:
        return [r async for r in journal.iterate(conn) if r.kind == kind]
    finally:
        await conn.close()


def test_unlock_lifts_a_lockout_and_journals_it(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("sys.stdin", io.StringIO("1111\n"))
    assert staff(tmp_path, "add", "ana", "--name", "Ana", "--role", "cashier", "--pin-stdin") == 0
    asyncio.run(lock_out(tmp_path, "staff:ana", ("ana", "Ana")))
    asyncio.run(lock_out(tmp_path, "till", None))
    capsys.readouterr()

    assert staff(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert re.search(r"^ana +cashier +Ana  LOCKED OUT for [01]:\d\d$", out, re.M)
    assert "the PIN pad is locked out for" in out

    assert staff(tmp_path, "unlock", "ana") == 0
    assert "Ana (ana) unlocked (journal record" in capsys.readouterr().out
    assert staff(tmp_path, "unlock", "ana") == 1
    assert "Ana (ana) is not locked out" in capsys.readouterr().err
    assert staff(tmp_path, "unlock", "--till") == 0
    assert staff(tmp_path, "unlock", "nobody") == 1
    assert "no staff member 'nobody'" in capsys.readouterr().err
    assert staff(tmp_path, "unlock") == 1
    assert "--till" in capsys.readouterr().err

    bodies = [r.body for r in asyncio.run(records(tmp_path, "staff_lockout"))]
    assert [(b["event"], b["subject"]) for b in bodies] == [
        ("locked", "staff"),
        ("locked", "till"),
        ("unlocked", "staff"),
        ("unlocked", "till"),
    ]
    assert bodies[2] == {
        "event": "unlocked",
        "subject": "staff",
        "staff": {"id": "ana", "name": "Ana"},
        "via": "cli",
        "by": None,
    }
    assert staff(tmp_path, "list") == 0
    assert "LOCKED" not in capsys.readouterr().out


def test_pin_deactivate_and_activate_are_journalled(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def with_pin(pin: str, *args: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
        return staff(tmp_path, *args, "--pin-stdin")

    assert with_pin("9999", "add", "marco", "--name", "Marco", "--role", "manager") == 0
    assert with_pin("1111", "add", "ana", "--name", "Ana", "--role", "cashier") == 0
    assert "Ana (ana) is a cashier (journal record 2)" in capsys.readouterr().out
    assert with_pin("2222", "pin", "ana") == 0
    assert "Ana (ana) has a new PIN (journal record 3)" in capsys.readouterr().out
    assert with_pin("9999", "pin", "ana") == 1  # Marco's
    assert "already belongs to someone else" in capsys.readouterr().err

    assert staff(tmp_path, "deactivate", "ana") == 0
    assert "Ana (ana) is deactivated" in capsys.readouterr().out
    assert staff(tmp_path, "deactivate", "marco") == 1
    assert "last active manager" in capsys.readouterr().err
    assert staff(tmp_path, "list") == 0
    out = capsys.readouterr().out
    assert re.search(r"^ana +cashier +Ana  DEACTIVATED$", out, re.M)
    assert re.search(r"^marco +manager +Marco$", out, re.M)

    assert with_pin("3333", "activate", "ana") == 0
    assert "Ana (ana) is active again" in capsys.readouterr().out
    assert staff(tmp_path, "activate", "ana", "--pin-stdin") == 1
    assert "4 to 8 digits" in capsys.readouterr().err  # nothing on standard input

    bodies = [r.body for r in asyncio.run(records(tmp_path, "staff"))]
    assert [(b["action"], b["staff"]["id"], b["staff"]["active"]) for b in bodies] == [
        ("added", "marco", True),
        ("added", "ana", True),
        ("pin_set", "ana", True),
        ("deactivated", "ana", False),
        ("reactivated", "ana", True),
    ]
    assert all(b["by"] == {"via": "cli"} for b in bodies)


def test_a_persons_own_language_is_set_kept_and_given_back_to_the_shops(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    def add(*args: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO("1111\n"))
        return staff(tmp_path, "add", "ana", "--name", "Ana", "--role", "cashier", *args)

    assert add("--language", "es", "--pin-stdin") == 0
    assert "Ana (ana) is a cashier, speaking es" in capsys.readouterr().out
    assert add("--pin-stdin") == 0  # left out: Ana keeps hers
    assert staff(tmp_path, "list") == 0
    assert re.search(r"^ana +cashier +Ana  speaks es$", capsys.readouterr().out, re.M)
    assert add("--language", "shop", "--pin-stdin") == 0
    with pytest.raises(SystemExit):
        add("--language", "fr", "--pin-stdin")
    assert "invalid choice: 'fr'" in capsys.readouterr().err

    bodies = [r.body for r in asyncio.run(records(tmp_path, "staff"))]
    assert [b["staff"].get("language") for b in bodies] == ["es", "es", None]
    assert [b.get("previous") for b in bodies[1:]] == [
        {"name": "Ana", "role": "cashier", "language": "es"},
        {"name": "Ana", "role": "cashier", "language": "es"},
    ]
