"""README's "By hand" and TECHNICIAN's "Install": what a newcomer types on a fresh Debian 12.

Walked on a clean Debian 12 (issue 15 item 13), the old steps failed: `/var/lib/bitagora` made
by `sudo mkdir` was root's, so a non-sudo `uplink enroll` could not write it, and `install` into
`/etc/sysusers.d` failed because a fresh Debian has no such folder. These checks keep the steps
in the shape that worked there: the user and the folders come from the shipped sysusers and
tmpfiles files, and every tool that touches the device's state runs as the service user.
"""

from __future__ import annotations

import asyncio
import json
import re
import shlex
from pathlib import Path

import pytest
from store_helpers import open_device

from appliance.cli import main
from appliance.config import load_settings

REPO = Path(__file__).resolve().parent.parent
PROGRAM = "/opt/bitagora/current/bin/bitagora"
AS_SERVICE_USER = f"sudo -u bitagora {PROGRAM} "


def shell_block(path: Path, after: str) -> str:
    """The first ```sh block after the text ``after``."""
    text = path.read_text(encoding="utf-8")
    start = text.index("```sh\n", text.index(after)) + len("```sh\n")
    return text[start : text.index("```\n", start)]


def commands(block: str) -> list[str]:
    """The block's command lines: continuations joined, comments, heredoc bodies left out."""
    lines: list[str] = []
    heredoc_end = None
    for raw in block.replace("\\\n", " ").splitlines():
        if heredoc_end is not None:
            if raw.strip() == heredoc_end:
                heredoc_end = None
            continue
        line = raw.split("  #")[0].strip()
        if not line or line.startswith("#"):
            continue
        lines.append(line)
        if match := re.search(r"<<'?(\w+)'?", line):
            heredoc_end = match.group(1)
    return lines


BLOCKS = {
    "README By hand": (REPO / "README.md", "**By hand**"),
    "TECHNICIAN Install": (REPO / "docs/TECHNICIAN.md", "## Install"),
}


@pytest.mark.parametrize("name", BLOCKS)
def test_the_user_and_its_folders_come_from_the_shipped_files(name: str) -> None:
    lines = commands(shell_block(*BLOCKS[name]))
    assert not any("mkdir" in line and "/var/lib/bitagora" in line for line in lines)
    installed = {}
    for line in lines:
        argv = shlex.split(line)
        if argv[:2] == ["sudo", "install"]:
            installed[argv[-1]] = argv[-2]
            if re.match(r"/etc/\w+\.d/", argv[-1]):
                # /etc/sysusers.d does not exist on a fresh Debian 12: install must make it.
                assert "-D" in argv, line
    assert installed["/etc/sysusers.d/bitagora.conf"] == "systemd/bitagora.sysusers"
    assert installed["/etc/tmpfiles.d/bitagora.conf"] == "systemd/bitagora.tmpfiles"
    for source in installed.values():
        if source.startswith("systemd/"):
            assert (REPO / source).is_file(), source
    order = [
        next(n for n, line in enumerate(lines) if line.startswith(prefix))
        for prefix in ("sudo systemd-sysusers", "sudo systemd-tmpfiles --create")
    ]
    assert order == sorted(order)
    # The folders exist before anything is put into them.
    assert all(n > order[1] for n, line in enumerate(lines) if "/etc/bitagora/" in line)


def test_by_hand_runs_every_device_tool_as_the_service_user() -> None:
    lines = commands(shell_block(*BLOCKS["README By hand"]))
    tools = [line for line in lines if PROGRAM + " " in line]
    assert {shlex.split(line)[4] for line in tools} >= {"uplink", "kiosk", "staff", "catalog"}
    for line in tools:
        assert line.startswith(AS_SERVICE_USER), line
    # The uplink logs to stderr: in the kiosk's terminal it would write over the till's screen.
    (daemon,) = [line for line in tools if line.rstrip().endswith("&")]
    assert "2>" in daemon


def test_by_hand_settings_are_accepted(tmp_path: Path) -> None:
    block = shell_block(*BLOCKS["README By hand"])
    toml = re.search(r"<<'TOML'\n(.*?)\nTOML\n", block, re.S)
    assert toml is not None
    (tmp_path / "appliance.toml").write_text(toml.group(1), encoding="utf-8")
    settings = load_settings(tmp_path, tmp_path / "appliance.toml", env={})
    assert settings.printer.host == "192.168.1.50"


def test_by_hand_ends_with_a_till_that_sells_the_shops_own_products(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The block's own steps after enrollment, run through the command line against a store
    (made here as enrollment makes it): a first manager and the catalog file it installs. No
    demo seed and no development tools: a shop's till has neither."""
    lines = commands(shell_block(*BLOCKS["README By hand"]))
    assert not any("--seed-demo" in line or "devtools" in line for line in lines)
    copies = {
        shlex.split(line)[-1]: REPO / shlex.split(line)[-2]
        for line in lines
        if line.startswith("sudo install") and "/etc/bitagora/" in line
    }
    tools = [shlex.split(line)[4:] for line in lines if line.startswith(AS_SERVICE_USER)]
    assert [argv[0] for argv in tools][-1] == "kiosk" and "--seed-demo" not in tools[-1]

    async def enrolled() -> None:
        conn, _identity = await open_device(tmp_path)
        await conn.close()

    asyncio.run(enrolled())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "2580")
    ran = set()
    for argv in tools:
        if argv[0] in ("staff", "catalog"):
            argv = [str(copies.get(word, word)) for word in argv]
            assert main([*argv, "--data-dir", str(tmp_path)]) == 0, argv
            ran.add(argv[0])
    assert ran == {"staff", "catalog"}

    capsys.readouterr()
    assert main(["staff", "list", "--data-dir", str(tmp_path)]) == 0
    (person,) = capsys.readouterr().out.splitlines()
    assert person.split()[1] == "manager"
    assert main(["catalog", "show", "--json", "--data-dir", str(tmp_path)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == 1 and shown["for_sale"] == 4
