"""The device's wheel (what `make image` installs into a release slot) holds the appliance and
central, and none of the development tools: no simulator, no demo, no scripted kiosk, no demo
catalog. Those are the bitagora-devtools distribution (devtools/), never on a device."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",  # hatchling from the dev extra: no network
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        timeout=110,
        capture_output=True,
    )
    (built,) = out.glob("bitagora_appliance-*.whl")
    return zipfile.ZipFile(built)


def test_the_device_wheel_holds_the_appliance_and_central(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for expected in (
        "bitagora_protocol/journal.py",
        "appliance/cli/__init__.py",
        "appliance/cli/kiosk.py",
        "appliance/kiosk.py",
        "appliance/tui/app.py",
        "appliance/store/catalog.py",
        "central/cli.py",
        "central/serve.py",
        "central/templates/base.html",
        "central/static/central.css",  # the pages' style: the CSP allows no inline one
        # The compiled catalogs central's pages are translated with (docs/TRANSLATING.md).
        "central/locale/es/LC_MESSAGES/central.mo",
        "central/locale/pt_BR/LC_MESSAGES/central.mo",
        "central/locale/pt_PT/LC_MESSAGES/central.mo",
    ):
        assert expected in names
    migrations = {n for n in names if n.startswith("central/migrations/") and n.endswith(".sql")}
    ups = {n for n in migrations if not n.endswith(".down.sql")}
    assert ups
    # Every step carries its rollback, for `bitagora central migrate down` on an installed central.
    assert {n.removesuffix(".sql") + ".down.sql" for n in ups} == migrations - ups


def test_the_device_wheel_has_no_development_tools(wheel: zipfile.ZipFile) -> None:
    names = wheel.namelist()
    dev = [
        n
        for n in names
        if n.startswith(("bitagora_devtools/", "appliance/sim/", "devtools/", "tests/"))
        or n in ("appliance/demo.py", "appliance/tui/script.py", "appliance/store/seed.py")
    ]
    assert dev == []
    packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert packages == {"bitagora_protocol", "appliance", "central"}


def test_the_device_wheel_registers_central_and_no_dev_command(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode()
    assert "[bitagora.commands]" in text
    assert "central = central.cli:add_central_parser" in text
    assert "demo" not in text and "sim =" not in text and "bitagora.seeds" not in text


def test_appliance_imports_neither_central_nor_the_dev_tools() -> None:
    """Not even lazily inside a function: central and the dev tools reach `bitagora` through its
    entry points only (appliance/cli.py), so a device without them loses nothing else."""
    found = []
    for path in sorted((ROOT / "appliance").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ("central", "bitagora_devtools"):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert found == []
