"""The architecture's rules that a linter cannot state, and proof that the ones it states bite.

- Only ``appliance/store`` runs SQL: an AST scan of every other module of the appliance for
  database calls (``.execute(``, ``.executemany(``, ``.executescript(``, aiosqlite's
  ``.execute_fetchall(`` / ``.execute_insert(``) and for SQL statements in string literals.
- The import contracts in pyproject.toml (``[tool.importlinter]``, run by ``make lint``) fail
  when broken: a scratch package with a forbidden import, checked against the project's own
  contracts, fails with the rule's name.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPLIANCE = ROOT / "appliance"
STORE = APPLIANCE / "store"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

# Modules outside the store that still run SQL, and what they run. The target is an empty list:
# each one's queries move into appliance/store (issue 12). A module may leave the list (the test
# says when one must), none may join it.
SQL_OUTSIDE_STORE: dict[str, str] = {}

SQL_CALLS = frozenset(
    {"execute", "executemany", "executescript", "execute_fetchall", "execute_insert"}
)
# A statement as this code base writes them: the keyword in capitals, first in the string.
SQL_STATEMENT = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK"
    r"|SAVEPOINT|RELEASE|VACUUM|ATTACH|WITH)\b"
)


def _text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with ``{}`` for each value put in."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    return None


def sql_in(path: Path) -> list[str]:
    """Where ``path`` runs SQL: ``line: what`` for each database call and SQL literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in SQL_CALLS:
                found.append(f"{node.lineno}: .{node.func.attr}(")
        text = _text(node)
        if text is not None and SQL_STATEMENT.match(text):
            found.append(f"{node.lineno}: {text.strip().splitlines()[0][:60]!r}")
    return found


def test_the_scan_finds_sql() -> None:
    found = sql_in(STORE / "outbox.py")
    assert any(".execute" in line for line in found)
    assert any("SELECT" in line or "INSERT" in line or "DELETE" in line for line in found)


def test_only_the_store_runs_sql() -> None:
    running = {
        path.relative_to(ROOT).as_posix(): found
        for path in sorted(APPLIANCE.rglob("*.py"))
        if not path.is_relative_to(STORE) and (found := sql_in(path))
    }
    newcomers = {name: found for name, found in running.items() if name not in SQL_OUTSIDE_STORE}
    assert not newcomers, (
        "SQL outside appliance/store: put the query in a store module and call that "
        f"(docs/ARCHITECTURE.md, 'Checked in CI'): {newcomers}"
    )
    # The allow-list only shrinks: a module that has moved its queries to the store leaves it.
    done = [name for name in SQL_OUTSIDE_STORE if (ROOT / name).exists() and name not in running]
    assert not done, f"these run no SQL any more: remove them from SQL_OUTSIDE_STORE: {done}"


def _contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    linter = config["tool"]["importlinter"]
    assert linter["include_external_packages"] is True
    return {contract["id"]: contract for contract in linter["contracts"]}


def _toml_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lint_scratch(tmp_path: Path, files: dict[str, str], contract: dict[str, Any]) -> str:
    """Run lint-imports over a scratch copy of the project's layout (``appliance`` renamed
    ``scratchapp``) with one of the project's contracts, renamed the same way."""
    for name, source in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    renamed = {
        key: (
            [item.replace("appliance", "scratchapp") for item in value]
            if isinstance(value, list)
            else value
        )
        for key, value in contract.items()
    }
    # The scratch layout has no protocol package: a contract's other sources stay out.
    if "source_modules" in renamed:
        renamed["source_modules"] = [
            m for m in renamed["source_modules"] if m.startswith("scratchapp")
        ]
    lines = [
        "[tool.importlinter]",
        'root_packages = ["scratchapp"]',
        "include_external_packages = true",
        "",
        "[[tool.importlinter.contracts]]",
        *(f"{key} = {_toml_value(value)}" for key, value in renamed.items()),
    ]
    (tmp_path / "pyproject.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    done = subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


SCRATCH = {
    "scratchapp/__init__.py": "",
    "scratchapp/core/__init__.py": "",
    "scratchapp/core/money.py": "from __future__ import annotations\n",
    "scratchapp/store/__init__.py": "",
    "scratchapp/store/sales.py": "import sqlite3\n\nfrom scratchapp.core import money\n",
    "scratchapp/services/__init__.py": "",
    "scratchapp/services/till.py": "from scratchapp.store import sales\n",
    "scratchapp/tui/__init__.py": "",
    "scratchapp/tui/app.py": "from scratchapp.services import till\n",
}


@pytest.mark.parametrize(
    ("contract_id", "breach", "message"),
    [
        (
            "core-pure",
            {"scratchapp/core/money.py": "import sqlite3\n"},
            "scratchapp.core is not allowed to import sqlite3",
        ),
        (
            "core-pure",
            {"scratchapp/core/money.py": "from scratchapp.store import sales\n"},
            "scratchapp.core is not allowed to import scratchapp.store",
        ),
        (
            "store-below",
            {
                "scratchapp/store/sales.py": (
                    "from scratchapp.core import money\nfrom scratchapp.services import till\n"
                )
            },
            "scratchapp.store is not allowed to import scratchapp.services",
        ),
        (
            "layers",
            {"scratchapp/store/sales.py": "from scratchapp.tui import app\n"},
            "scratchapp.store is not allowed to import scratchapp.tui",
        ),
    ],
)
def test_a_broken_contract_fails_naming_its_rule(
    tmp_path: Path, contract_id: str, breach: dict[str, str], message: str
) -> None:
    contract = _contracts()[contract_id]
    if contract_id == "layers":  # the scratch package has four of the layers
        contract = {**contract, "layers": [f"appliance.{n}" for n in ("tui", "services", "store")]}
        contract["layers"].append("appliance.core")
    kept = _lint_scratch(tmp_path / "kept", SCRATCH, contract)
    assert kept.startswith("exit 0") and f"{contract['name']} KEPT" in " ".join(kept.split())
    broken = _lint_scratch(tmp_path / "broken", {**SCRATCH, **breach}, contract)
    assert broken.startswith("exit 1"), broken
    flat = " ".join(broken.split())  # lint-imports wraps long names
    assert f"{contract['name']} BROKEN" in flat, broken
    assert message in flat, broken
