"""`bitagora demo --headless` as a user runs it: a subprocess with its own central, printer,
Esplora, Lightning and rates simulators and uplink. ``two_demo_runs`` makes the two runs that
the tests of a process share (the ``demo_runs`` fixture, tests/conftest.py): a run costs a
quarter of a minute or more. No test here."""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1  # Linux 6.3+


def deny_write_execute() -> None:
    """The kernel's MemoryDenyWriteExecute rule (MDWE) for this process and its children: no
    mapping may be made both writable and executable."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE) needs Linux 6.3 or later")


def demo(
    data_dir: Path,
    *args: str,
    ops_password: str | None = None,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """A headless demo run, with none of this process's BITAGORA_ settings but ``env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITAGORA_")} | (env or {})
    if ops_password is not None:
        env["BITAGORA_OPS_PASSWORD"] = ops_password
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
        preexec_fn=preexec_fn,
        check=False,
    )


def journal(data_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    database = data_dir / "device" / "appliance.sqlite3"
    with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT kind, body FROM journal ORDER BY seq").fetchall()
    return [(kind, json.loads(body)) for kind, body in rows]


@dataclass(frozen=True)
class DemoRuns:
    """Two headless demo runs in one folder (the second reuses the enrolled device). The first
    runs under the kernel's MDWE rule (``deny_write_execute``), as the appliance's units run
    it (MemoryDenyWriteExecute=yes, tests/test_systemd_units.py)."""

    root: Path
    ops_password: str
    first: subprocess.CompletedProcess[str]
    first_records: list[tuple[str, dict[str, Any]]]
    first_receipts: int
    second: subprocess.CompletedProcess[str]


def two_demo_runs(root: Path) -> DemoRuns:
    """The two runs of DemoRuns in ``root``, a folder outside pytest's base folder (the
    demo's central runs an embedded PostgreSQL in it: tests/conftest.py, ``outside_basetemp``)."""
    password = "ops-" + secrets.token_urlsafe(12)  # unique, so that finding it means a leak
    first = demo(root, "--sales", "2", ops_password=password, preexec_fn=deny_write_execute)
    records = journal(root) if first.returncode == 0 else []
    receipts = len(list((root / "printer").glob("receipt-*.txt")))
    second = demo(root, "--sales", "1", ops_password=password)
    return DemoRuns(root, password, first, records, receipts, second)
