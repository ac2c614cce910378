"""Every benchmark under bench/ runs in its smoke mode (``--smoke``: a few rounds, bench/smoke.py)
as its own process, so a benchmark that no longer runs fails here rather than on the day someone
needs its figures. Nothing is timed: the figures are printed (``pytest -s``) and not asserted.
A benchmark that takes ``--postgres-url`` (bench/bench_postgres.py) makes its databases on the
session's PostgreSQL rather than starting a server of its own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
# The scripts, not the modules they share (a script runs something when started).
SCRIPTS = sorted(
    path.name for path in BENCH.glob("*.py") if 'if __name__ == "__main__":' in path.read_text()
)
RUN_LIMIT_S = 240  # a bound for a stuck benchmark on a loaded machine, not a timing


def test_every_benchmark_is_found() -> None:
    assert {"sale_finish.py", "bitcoin_pay.py", "touch_tap.py", "fleet.py"} <= set(SCRIPTS)


@pytest.mark.timeout(RUN_LIMIT_S + 30)
@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_in_smoke_mode(
    script: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    command = [sys.executable, str(BENCH / script), "--smoke"]
    if "add_postgres_option(parser)" in (BENCH / script).read_text():
        command += ["--postgres-url", request.getfixturevalue("pg_server").get_uri()]
    done = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.strip(), "a benchmark prints its figures"
