"""`bitagora demo --headless`: the one command anyone runs to check the whole path, as a user
runs it (a subprocess with its own central, printer simulator and uplink)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)


def demo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITAGORA_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance.cli",
            "demo",
            "--headless",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        check=False,
    )


def test_headless_demo_sells_and_central_verifies_twice_over(tmp_path: Path) -> None:
    first = demo(tmp_path, "--sales", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("demo OK: 2 cash sales")
    # Each cash sale is two records: the sale and its drawer opening.
    assert "verified on device (4 records) and central (4)" in first.stdout
    assert len(list((tmp_path / "printer").glob("receipt-*.txt"))) == 2
    # A second start reuses the enrolled device and the chain continues on central.
    second = demo(tmp_path, "--sales", "1")
    assert second.returncode == 0, second.stderr
    assert "verified on device (6 records) and central (6)" in second.stdout


def test_headless_demo_refuses_zero_sales(tmp_path: Path) -> None:
    result = demo(tmp_path, "--sales", "0")
    assert result.returncode == 2
    assert "--sales must be at least 1" in result.stderr
