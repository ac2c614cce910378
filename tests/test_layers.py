"""The architecture's rules, checked on the source (docs/ARCHITECTURE.md, "Layout"):

- the UI imports only the services, the composition root's result types, the core and
  ``bitagora_protocol`` (never a driver, a payment or wallet module, provisioning, the store);
- the services do not import each other in a circle, and none calls another's private method;
- SQL runs in ``appliance/store`` only;
- drivers take plain values: they do not read the settings;
- the composition root imports the card and bitcoin stacks only when the settings enable them.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APPLIANCE = ROOT / "appliance"

TUI_MAY_IMPORT = (
    "appliance.tui",
    "appliance.services",
    "appliance.core",
    "appliance.i18n",
    "bitagora_protocol",
)
TUI_MAY_IMPORT_NAMES = {"appliance.bootstrap": {"Capabilities", "Till"}}


def modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, names, line) of every import in ``path``, TYPE_CHECKING ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names], node.lineno))
    return found


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(ROOT)}:{line}"


def test_the_ui_imports_services_and_core_only() -> None:
    wrong = []
    for path in modules(APPLIANCE / "tui"):
        for module, names, line in imports(path):
            if not module.startswith("appliance") and not module.startswith("bitagora_"):
                continue
            if module.startswith(TUI_MAY_IMPORT):
                continue
            allowed = TUI_MAY_IMPORT_NAMES.get(module)
            if allowed is not None and set(names) <= allowed:
                continue
            wrong.append(f"{where(path, line)} imports {module}")
    assert wrong == []


def service_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in modules(APPLIANCE / "services"):
        name = f"appliance.services.{path.stem}"
        graph[name] = {m for m, _, _ in imports(path) if m.startswith("appliance.services.")}
    return graph


def test_services_import_no_cycle() -> None:
    graph = service_graph()
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, "import cycle: " + " -> ".join((*path, name))
        if name in done:
            return
        for dependency in sorted(graph.get(name, ())):
            visit(dependency, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_no_service_calls_a_private_method_of_another_object() -> None:
    wrong = []
    for path in modules(APPLIANCE / "services"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
                continue
            if node.attr.startswith("__"):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            wrong.append(f"{where(path, node.lineno)}: {ast.unparse(node)}")
    assert wrong == []


def test_sql_runs_in_the_store_only() -> None:
    wrong = []
    for folder in ("services", "tui", "payments", "drivers"):
        for path in modules(APPLIANCE / folder):
            text = path.read_text(encoding="utf-8")
            for call in (".execute(", ".execute_fetchall(", ".executemany(", "fetch_one("):
                if call in text:
                    wrong.append(f"{path.relative_to(ROOT)} calls {call}")
    assert wrong == []


def test_drivers_take_plain_values() -> None:
    wrong = []
    for path in modules(APPLIANCE / "drivers"):
        for module, _, line in imports(path):
            if module == "appliance.config":
                wrong.append(where(path, line))
    assert wrong == []


PROBE = """
import asyncio, json, sys
from pathlib import Path
from appliance.bootstrap import open_till
from appliance.config import load_settings

async def main():
    env = {"BITAGORA_PRINTER_KIND": "file", "BITAGORA_PRINTER_FILE_PATH": sys.argv[2]}
    till = await open_till(load_settings(Path(sys.argv[1]), env=env))
    try:
        loaded = sorted({m.split(".")[0] for m in sys.modules} & {"stripe", "embit", "pyln"})
        heavy = ("appliance.wallet", "appliance.payments.bitcoin", "appliance.payments.card.")
        ours = sorted(m for m in sys.modules if (m + ".").startswith(heavy))
        caps = till.capabilities
        print(json.dumps({"loaded": loaded, "ours": ours, "card": caps.card, "btc": caps.bitcoin}))
    finally:
        await till.close()

asyncio.run(main())
"""


def test_a_till_without_card_or_bitcoin_imports_neither(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "device"), str(tmp_path / "receipts")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {"loaded": [], "ours": [], "card": False, "btc": False}
