import json
from pathlib import Path

import pytest
from store_helpers import open_device, tamper_amount, write_sales

from appliance.cli import main


@pytest.fixture
async def device_db(tmp_path: Path) -> Path:
    conn, identity = await open_device(tmp_path)
    await write_sales(conn, identity, 6)
    await conn.close()
    return tmp_path / "appliance.sqlite3"


def test_verify_accepts_an_untouched_database(device_db: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["journal", "verify", str(device_db)]) == 0
    assert capsys.readouterr().out.startswith("OK: 6 records of dev-")


def test_verify_names_the_tampered_seq(device_db: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    tamper_amount(device_db, 4)
    assert main(["journal", "verify", str(device_db)]) == 1
    assert capsys.readouterr().out.strip() == (
        "FAIL: seq 4: hash does not match the record's content"
    )


def test_export_verifies_and_a_tampered_export_fails(
    device_db: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "journal.jsonl"
    assert main(["journal", "export", str(device_db), "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["format"] == "bitagora-journal/1" and len(lines) == 7
    assert main(["journal", "verify", str(out)]) == 0

    record = json.loads(lines[2])  # seq 2
    record["body"]["total"]["minor"] += 1
    lines[2] = json.dumps(record)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["journal", "verify", str(out)]) == 1
    assert "seq 2" in capsys.readouterr().out

    del lines[2]  # a deleted record: the first bad seq is the one missing
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["journal", "verify", str(out)]) == 1
    assert "seq 2: record 2 is missing (found 3)" in capsys.readouterr().out


def test_verify_explains_a_file_that_is_not_a_journal(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n", encoding="utf-8")
    assert main(["journal", "verify", str(junk)]) == 1
    assert "no export header" in capsys.readouterr().out


def test_an_export_must_carry_the_head_its_device_signed(
    device_db: Path, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "journal.jsonl"
    assert main(["journal", "export", str(device_db), "--out", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    assert header["head"]["seq"] == 6 and header["head"]["hash"] == json.loads(lines[6])["hash"]
    capsys.readouterr()

    # Cutting the export short and claiming an earlier head: the head's signature fails.
    claimed = {**header, "head": {**header["head"], "seq": 5, "hash": json.loads(lines[5])["hash"]}}
    out.write_text("\n".join([json.dumps(claimed), *lines[1:6]]) + "\n", encoding="utf-8")
    assert main(["journal", "verify", str(out)]) == 1
    assert capsys.readouterr().out.strip() == "FAIL: the chain head's signature does not verify"

    # Dropping the head as well: completeness cannot be shown, so it does not verify.
    headless = {k: v for k, v in header.items() if k != "head"}
    out.write_text("\n".join([json.dumps(headless), *lines[1:6]]) + "\n", encoding="utf-8")
    assert main(["journal", "verify", str(out)]) == 1
    assert "no signed chain head" in capsys.readouterr().out
