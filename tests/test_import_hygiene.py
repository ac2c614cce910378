"""The headless parts of the appliance never import the UI toolkit (as harlequin checks too):
the uplink daemon must not pay for Textual/Rich, and the core must stay pure.

One exception is outside our code: ``import httpx`` imports its own command-line client
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

PROBE = """
import importlib, importlib.util, json, pkgutil, sys
sys.modules["httpx._main"] = None  # httpx's CLI; see the module docstring
imported = []
for name in sys.argv[1:]:
    if importlib.util.find_spec(name) is None:
        continue
    package = importlib.import_module(name)
    imported.append(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        importlib.import_module(info.name)
        imported.append(info.name)
ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
print(json.dumps({"imported": imported, "ui": ui}))
"""


def test_headless_packages_do_not_import_textual_or_rich() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *HEADLESS_PACKAGES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "appliance.services.till" in report["imported"]
    assert "appliance.core.cart" in report["imported"]
    assert report["ui"] == [], f"headless modules pulled in {report['ui'][:5]}"
