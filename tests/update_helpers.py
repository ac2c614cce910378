"""Helpers for the update tests (no tests here): tiny real wheels of a stand-in release whose
``bitagora`` command answers ``--version`` and ``doctor`` as a healthy, broken or hanging release
would, signed bundles of them, a ``systemctl`` that records what it was asked, and a device's
update root, pinned key and data directory (``Device``)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import zipfile
from pathlib import Path

from appliance.config import Settings, UpdateSettings
from appliance.update.bundle import build, generate_key
from appliance.update.slots import CURRENT, confirm, install

PACKAGE = "bitagora-tiny"
DEPENDENCY = "tiny-dep"

RELEASE_SOURCE = """\
import json, os, signal, sys
import tiny_dep

VERSION = {version!r}
MODE = {mode!r}


def main():
    args = sys.argv[1:]
    if args[:1] == ["--version"]:
        print("bitagora", VERSION, tiny_dep.NAME)
        return 0
    if args[:1] == ["doctor"]:
        if MODE == "hang":  # say so where the test listens, then hang until killed
            with open(os.environ["BITAGORA_TEST_HANGING_FIFO"], "w") as told:
                told.write("hanging")
            signal.pause()
        ok = MODE == "healthy"
        checks = [
            {{"name": "database", "status": "OK" if ok else "FAIL",
              "detail": "writable, integrity ok" if ok else "no such table: journal",
              "action": ""}},
            # Hardware trouble is not the release's fault and must not roll it back.
            {{"name": "printer", "status": "FAIL", "detail": "Printer offline", "action": ""}},
        ]
        print(json.dumps({{"checks": checks, "ok": False}}))
        return 1
    return 2
"""

SYSTEMCTL = """#!/bin/sh
echo "$*" >> {log}
if [ "$1" = show ]; then
    state=active; restarts=0
    case "$6" in bitagora-kiosk*)
        if [ -e {down} ]; then state=activating; fi
        if [ -e {crashing} ]; then
            restarts=$(cat {crashing}); echo $((restarts + 1)) > {crashing}
        fi
    esac
    echo "NRestarts=$restarts"; echo "ActiveState=$state"
fi
exit 0
"""


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode("ascii")


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    files: dict[str, str],
    requires: tuple[str, ...] = (),
    scripts: dict[str, str] | None = None,
) -> Path:
    """A real, installable pure-Python wheel (PEP 427), written directly."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents = {
        **files,
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    if scripts:
        contents[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items()
        )
    record = "".join(
        f"{path},{_record_hash(text.encode())},{len(text.encode())}\n"
        for path, text in contents.items()
    )
    contents[f"{info}/RECORD"] = record + f"{info}/RECORD,,\n"
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in contents.items():
            wheel.writestr(member, text)
    return path


def release_wheels(folder: Path, version: str, mode: str = "healthy") -> Path:
    """The stand-in release ``version`` and its dependency, in ``folder``."""
    folder.mkdir(parents=True)
    make_wheel(folder, DEPENDENCY, "1.0", {"tiny_dep.py": "NAME = 'tiny-dep'\n"})
    make_wheel(
        folder,
        PACKAGE,
        version,
        {"tiny_release.py": RELEASE_SOURCE.format(version=version, mode=mode)},
        requires=(DEPENDENCY,),
        scripts={"bitagora": "tiny_release:main"},
    )
    return folder


def signed_bundle(tmp: Path, key: Path, version: str, mode: str = "healthy") -> Path:
    wheels = release_wheels(tmp / f"wheels-{version}-{mode}", version, mode)
    out = tmp / f"bitagora-{version}-{mode}.bundle"
    build(wheels, key, out, PACKAGE)
    return out


def fake_systemctl(folder: Path) -> tuple[Path, Path, Path, Path]:
    """A ``systemctl`` that logs its arguments and shows every service active, never restarted,
    unless the files it also returns exist: ``down``, the kiosk never comes up ("activating");
    ``crashing`` (holding a number), systemd restarts the kiosk between any two looks at it."""
    log, down = folder / "systemctl.log", folder / "services-down"
    crashing, script = folder / "kiosk-crashing", folder / "systemctl"
    script.write_text(SYSTEMCTL.format(log=log, down=down, crashing=crashing))
    script.chmod(0o755)
    return script, log, down, crashing


class Device:
    """A device's update root, pinned key and data directory in a temporary folder."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.root = tmp / "opt-bitagora"
        self.data_dir = tmp / "var-lib-bitagora"
        self.key = tmp / "release.pem"
        pinned = generate_key(self.key)
        self.systemctl, self.log, self.services_down, self.kiosk_crashing = fake_systemctl(tmp)
        self.settings = Settings(
            data_dir=self.data_dir,
            update=UpdateSettings(
                public_key=str(pinned),
                root=str(self.root),
                systemctl=str(self.systemctl),
                health_user="",
                confirm_timeout_s=60,
                settle_s=0.3,
            ),
        )

    def bundle(self, version: str, mode: str = "healthy") -> Path:
        return signed_bundle(self.tmp, self.key, version, mode)

    def running(self) -> str:
        result = subprocess.run(
            [str(self.root / CURRENT / "bin" / "bitagora"), "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return result.stdout.strip()

    def systemctl_calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def data_files(self) -> dict[str, str]:
        return {
            str(p.relative_to(self.data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.data_dir.rglob("*"))
            if p.is_file()
        }

    def installed_and_confirmed(self, version: str) -> None:
        install(self.settings, self.bundle(version))
        assert confirm(self.settings) == (True, f"release {version} confirmed")
