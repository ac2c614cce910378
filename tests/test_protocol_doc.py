"""The third-party verifier printed in docs/PROTOCOL.md must agree with ours on real exports."""

import json
import re
import subprocess
import sys
from pathlib import Path

from store_helpers import open_device, write_sales

from appliance.store.export import export_journal

DOC = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"


def doc_verifier(tmp_path: Path) -> Path:
    section = DOC.read_text(encoding="utf-8").split("### 1.6", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "PROTOCOL.md 1.6 has no python block"
    script = tmp_path / "verify_from_doc.py"
    script.write_text(code.group(1), encoding="utf-8")
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
