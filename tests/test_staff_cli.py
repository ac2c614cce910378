"""`bitagora staff`: adding people, binding and forgetting badges, against a real store."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from appliance.cli import main


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


def test_a_badge_belongs_to_one_person_and_pins_are_digits(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    for who, pin in (("ana", "1111"), ("bea", "2222")):
        monkeypatch.setattr("sys.stdin", io.StringIO(pin + "\n"))
        assert staff(tmp_path, "add", who, "--name", who, "--role", "cashier", "--pin-stdin") == 0
    assert staff(tmp_path, "badge", "ana", "04A224B2C35E99") == 0
    assert staff(tmp_path, "badge", "bea", "04A224B2C35E99") == 1
    assert "already bound to ana" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("12ab\n"))
    assert staff(tmp_path, "add", "cy", "--name", "Cy", "--role", "cashier", "--pin-stdin") == 1
    assert "4 to 8 digits" in capsys.readouterr().err
