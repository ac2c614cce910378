"""The ``bitagora`` command's groups from other distributions (``bitagora.commands`` entry points):
central from this repository's pyproject, ``demo`` and ``sim`` from the development tools. The
built-in commands never read the entry points; a device without the development tools says so
in one line when asked for one of theirs."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from appliance import cli
from appliance.cli import plugins


def no_entry_points(group: str) -> list[EntryPoint]:
    return []


def must_not_scan(group: str) -> list[EntryPoint]:
    raise AssertionError(f"entry points of {group} read for a built-in command")


@pytest.mark.parametrize(
    "argv",
    [["demo"], ["demo", "--headless", "--sales", "5"], ["sim", "printer", "--port", "0"]],
)
def test_a_device_without_the_dev_tools_says_so_in_one_line(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(plugins, "entry_points", no_entry_points)
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"error: `bitagora {argv[0]}` is a development command, not installed on devices "
        "(in a checkout: pip install -e ./devtools)\n"
    )


def test_seed_demo_without_the_dev_tools_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(plugins, "entry_points", no_entry_points)
    assert cli.main(["kiosk", "--seed-demo", "--data-dir", str(tmp_path)]) == 2
    assert "the demo catalog is a development tool" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing opened, nothing written


@pytest.mark.parametrize("argv", [["kiosk", "--help"], ["journal", "verify", "--help"]])
def test_built_in_commands_do_not_read_entry_points(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins, "entry_points", must_not_scan)
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    assert done.value.code == 0


def test_the_command_asked_for_loads_only_its_own_group(monkeypatch: pytest.MonkeyPatch) -> None:
    points = [
        EntryPoint("central", "no_such_module_for_central:register", plugins.COMMANDS_GROUP),
        EntryPoint("sim", "bitagora_devtools.cli:register_sim", plugins.COMMANDS_GROUP),
    ]
    monkeypatch.setattr(plugins, "entry_points", lambda group: points)
    parser = cli.build_parser(["sim", "printer"])
    args = parser.parse_args(["sim", "printer", "--port", "0"])
    assert args.sim_command == "printer"
    with pytest.raises(SystemExit):  # central was never loaded, so it is no choice
        parser.parse_args(["central"])


def test_a_group_that_cannot_load_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    points = [EntryPoint("central", "no_such_module_for_central:register", plugins.COMMANDS_GROUP)]
    monkeypatch.setattr(plugins, "entry_points", lambda group: points)
    assert cli.main(["central"]) == 2
    assert capsys.readouterr().err == (
        "error: central is not installed here (No module named 'no_such_module_for_central')\n"
    )


def test_installed_groups_as_a_user_runs_them() -> None:
    """The development install: the dev tools' commands and central, through the real entry
    points, in a fresh process (what ``bitagora --help`` lists)."""
    done = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("kiosk", "central", "demo", "sim"):
        assert re.search(rf"^    {command}\s", done.stdout, re.M), command
    sim = subprocess.run(
        [sys.executable, "-m", "appliance.cli", "sim", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert sim.returncode == 0, sim.stderr
    for device in ("printer", "nfc", "esplora", "bitcoind", "rates", "stripe", "lightning"):
        assert re.search(rf"^    {device}\s", sim.stdout, re.M), device


def test_central_without_its_extra_names_the_extra_to_install() -> None:
    """On a device central's package is there but not its extra's libraries (asyncpg...)."""
    (central,) = [p for p in plugins.entry_points(plugins.COMMANDS_GROUP) if p.name == "central"]
    message = plugins._not_loadable(central, ModuleNotFoundError("No module named 'asyncpg'"))
    assert message == (
        "central is not installed here (No module named 'asyncpg'); "
        "pip install 'bitagora-appliance[central]'"
    )
