"""A tool run as a user who may not write the device's data says so, and who should run it."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.cli import main


def test_permission_denied_names_the_path_and_the_service_user(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `bitagora uplink enroll` met as a login user on a fresh install: /var/lib/bitagora
    # made by root (or owned by bitagora), the tool run without sudo. Root can write anywhere,
    # so the refusal is raised by hand here; on a real system it comes from the kernel.
    def refuse(*_args: object) -> int:
        raise PermissionError(13, "Permission denied", "/var/lib/bitagora/identity")

    monkeypatch.setattr("appliance.cli.staff.run", refuse)
    assert main(["staff", "list", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "permission denied: /var/lib/bitagora/identity" in err
    assert "sudo -u bitagora /opt/bitagora/current/bin/bitagora" in err
    assert "Traceback" not in err
