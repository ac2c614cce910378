"""`bitagora doctor`'s touchscreen line: missing, unreadable, not an input device, a replay."""

from __future__ import annotations

import os
from pathlib import Path

from appliance.config import load_settings
from appliance.doctor import touch_check


def check(tmp_path: Path, device: str) -> tuple[str, str, str]:
    settings = load_settings(tmp_path, env={"BITAGORA_TOUCH_DEVICE": device} if device else {})
    found = touch_check(settings)
    return found.status, found.detail, found.action


def test_no_touchscreen_is_skipped(tmp_path: Path) -> None:
    assert check(tmp_path, "")[0] == "SKIP"


def test_a_missing_device_says_what_to_check(tmp_path: Path) -> None:
    status, detail, action = check(tmp_path, str(tmp_path / "event9"))
    assert status == "FAIL" and detail.endswith("event9 does not exist")
    assert "udev rule" in action


def test_a_device_that_is_not_a_touchscreen_fails(tmp_path: Path) -> None:
    status, detail, action = check(tmp_path, "/dev/null")  # a character device, not input
    assert status == "FAIL" and "/dev/null is not an input device" in detail
    assert "/dev/input/event" in action
    plain = tmp_path / "file"
    plain.write_bytes(b"")
    assert check(tmp_path, str(plain))[:2] == ("FAIL", f"{plain} is not a device")


def test_a_fifo_is_a_replay(tmp_path: Path) -> None:
    fifo = tmp_path / "touch"
    os.mkfifo(fifo)
    status, detail, _action = check(tmp_path, str(fifo))
    assert status == "OK" and "FIFO" in detail
