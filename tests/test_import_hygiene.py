"""The headless parts of the appliance never import the UI toolkit (as harlequin checks too):
the uplink daemon must not pay for Textual/Rich; and the core stays pure, pulling in no I/O
library and nothing else of the project.

The same rules are import contracts in pyproject.toml (``lint-imports`` in ``make lint``), which
see our own import statements. This test imports the modules for real, so it also catches a
library that imports a forbidden one on our behalf.

One such path is outside our code: ``import httpx`` imports its own command-line client
(``httpx._main``), which imports Rich whenever Rich, click and pygments are installed, as they
are on a device (Textual needs Rich). The probe blocks that module, which httpx allows for (it
falls back when the import fails), so that any other path to Rich still fails this test."""

from __future__ import annotations

import json
import subprocess
import sys

HEADLESS_PACKAGES = [
    "bitagora_protocol",
    "appliance.core",
    "appliance.store",
    "appliance.uplink",
    "appliance.services",
    "appliance.wallet",
    "appliance.payments",
    "appliance.provision",
    "appliance.update",
]

# What importing all of appliance.core must not load: an I/O library, or another part of the
# project (the [tool.importlinter] contract "core-pure" states the same for our own imports).
CORE_FORBIDDEN = [
    "aiosqlite",
    "sqlite3",
    "asyncpg",
    "httpx",
    "httpcore",
    "socket",
    "ssl",
    "asyncio",
    "subprocess",
    "serial",
    "escpos",
    "usb",
    "gpiozero",
    "stripe",
    "pyln",
    "qrcode",
    "textual",
    "rich",
    "central",
]

PROBE = """
import importlib, importlib.util, json, pkgutil, sys
sys.modules["httpx._main"] = None  # httpx's CLI; see the module docstring
imported = []
for name in json.loads(sys.argv[1]):
    if importlib.util.find_spec(name) is None:
        continue
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
loaded = sorted(name for name, module in sys.modules.items() if module is not None)
print(json.dumps({"imported": imported, "loaded": loaded}))
"""


def _import_all(packages: list[str]) -> tuple[list[str], list[str]]:
    """Import ``packages`` and all their modules in a fresh interpreter: (what was imported,
    every module then loaded)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(packages)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return report["imported"], report["loaded"]


def test_headless_packages_do_not_import_textual_or_rich() -> None:
    imported, loaded = _import_all(HEADLESS_PACKAGES)
    assert "appliance.services.till" in imported
    assert "appliance.core.cart" in imported
    ui = [m for m in loaded if m.split(".")[0] in ("textual", "rich")]
    assert ui == [], f"headless modules pulled in {ui[:5]}"


def test_core_loads_no_io_library_and_nothing_else_of_the_project() -> None:
    """Core and the protocol package: pure rules, nothing of the project but the protocol."""
    imported, loaded = _import_all(["bitagora_protocol", "appliance.core"])
    assert "bitagora_protocol.journal" in imported and "appliance.core.cart" in imported
    io = [m for m in loaded if m.split(".")[0] in CORE_FORBIDDEN]
    assert io == [], f"appliance.core or bitagora_protocol pulled in {io[:5]}"
    project = [
        m
        for m in loaded
        if m.split(".")[0] in ("appliance", "central", "bitagora_devtools")
        and not m.startswith(("appliance.core", "appliance.__init__"))
        and m != "appliance"
    ]
    assert project == [], f"appliance.core or bitagora_protocol pulled in {project[:5]}"
