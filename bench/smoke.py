"""The benchmarks' smoke mode: ``--smoke`` runs each benchmark with a few rounds, so that the test
suite (tests/test_bench_smoke.py) notices one that no longer runs. Its figures are printed but
mean little; options given on the command line still win over the smoke defaults."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def parse_args(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, **smoke: Any
) -> argparse.Namespace:
    """``parser``'s arguments, with ``smoke`` as the defaults when ``--smoke`` is given."""
    parser.add_argument(
        "--smoke", action="store_true", help="a few rounds: check that the benchmark runs"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        parser.set_defaults(**smoke)
        args = parser.parse_args(argv)
    return args
