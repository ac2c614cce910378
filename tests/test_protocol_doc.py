"""The third-party verifier printed in docs/PROTOCOL.md must agree with ours on real exports."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import open_device, write_sales

from appliance.cli import main
from appliance.store.export import export_journal
from bitagora_protocol.strict_json import StrictJsonError, check_values

DOC = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"


def doc_verifier_source() -> str:
    section = DOC.read_text(encoding="utf-8").split("### 1.6", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "PROTOCOL.md 1.6 has no python block"
    return code.group(1)


def doc_verifier(tmp_path: Path) -> Path:
    script = tmp_path / "verify_from_doc.py"
    script.write_text(doc_verifier_source(), encoding="utf-8")
    return script


async def test_documented_verifier_accepts_and_rejects_like_ours(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path / "device")
    await write_sales(conn, identity, 4)
    export = tmp_path / "journal.jsonl"
    await export_journal(conn, export, identity)
    await conn.close()
    script = doc_verifier(tmp_path)

    def run() -> str:
        return subprocess.run(
            [sys.executable, str(script), str(export)], capture_output=True, text=True, check=True
        ).stdout.strip()

    assert run() == "OK: 4 records"
    lines = export.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[3])
    record["body"]["lines"][0]["name"] = "Água"  # a non-ASCII edit must still be caught
    lines[3] = json.dumps(record, ensure_ascii=False)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run() == "FAIL at seq 3"


def _tampered(lines: list[str], how: str) -> list[str]:
    """The export's lines (header first) with one attack of an independent review applied."""
    changed = list(lines)
    second = json.loads(changed[2])  # seq 2
    if how == "deleted":
        del changed[2]
    elif how == "truncated":
        del changed[-1]
    elif how == "unsigned_field":
        changed[2] = json.dumps({**second, "note": "not signed"})
    elif how == "uppercase_hex":
        changed[2] = json.dumps({**second, "hash": second["hash"].upper()})
    elif how == "duplicate_key":
        text = json.dumps(second)
        changed[2] = text.replace('"seq": 2', '"seq": 2, "seq": 2')
        assert changed[2] != text
    return changed


async def _tampered_export(tmp_path: Path, sales: int, how: str) -> Path:
    conn, identity = await open_device(tmp_path / "device")
    await write_sales(conn, identity, sales)
    export = tmp_path / "journal.jsonl"
    await export_journal(conn, export, identity)
    await conn.close()
    lines = _tampered(export.read_text(encoding="utf-8").splitlines(), how)
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return export


def _run_documented(tmp_path: Path, export: Path) -> subprocess.CompletedProcess[str]:
    script = doc_verifier(tmp_path)
    return subprocess.run(
        [sys.executable, str(script), str(export)], capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("how", "first_bad"),
    [("deleted", 2), ("truncated", 4), ("unsigned_field", 2), ("uppercase_hex", 2)],
)
async def test_the_documented_verifier_and_the_cli_name_the_same_first_bad_seq(
    how: str, first_bad: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = await _tampered_export(tmp_path, 4, how)
    documented = _run_documented(tmp_path, export)
    assert documented.stdout.strip() == f"FAIL at seq {first_bad}"
    assert main(["journal", "verify", str(export)]) == 1
    assert capsys.readouterr().out.startswith(f"FAIL: seq {first_bad}: ")


async def test_duplicate_keys_make_an_export_invalid_for_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = await _tampered_export(tmp_path, 2, "duplicate_key")
    documented = _run_documented(tmp_path, export)
    assert documented.returncode != 0 and "duplicate key" in documented.stderr
    assert main(["journal", "verify", str(export)]) == 1
    assert "duplicate key 'seq'" in capsys.readouterr().out


def test_the_documented_nesting_limit_is_ours() -> None:
    # The sample verifier's strict() and the reference agree at the edge of the depth limit.
    namespace: dict = {}
    code = doc_verifier_source().split("def verify(path):")[0]
    exec(code, namespace)  # the helper functions of the documented verifier, nothing run
    for depth in (62, 63, 64):
        body = json.loads("[" * depth + "]" * depth)
        record = {"body": body}
        try:
            check_values(record, "record")
            ours = True
        except StrictJsonError:
            ours = False
        assert namespace["strict"](record) is ours, depth
