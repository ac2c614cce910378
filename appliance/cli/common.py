"""What every ``bitagora`` command group shares: the device options, the settings they name,
and how a command says it failed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TypeAlias

from appliance.config import Settings, load_settings

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_device_options(parser: argparse.ArgumentParser, default: Any = None) -> None:
    """``--data-dir`` and ``--config``. A sub-command that repeats them passes
    ``argparse.SUPPRESS``, so they work before and after it (a sub-parser's default would
    overwrite the value given before)."""
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=default,
        help="where all device state lives (default: $BITAGORA_DATA_DIR or /var/lib/bitagora)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=default,
        help="settings file (default: $BITAGORA_CONFIG, <data-dir>/appliance.toml "
        "or /etc/bitagora/appliance.toml)",
    )


def settings(args: argparse.Namespace) -> Settings:
    """The settings the device options of ``args`` name."""
    return load_settings(getattr(args, "data_dir", None), getattr(args, "config", None))


def fail(message: str, status: int = 2) -> int:
    """Say ``message`` on standard error; the command's exit status."""
    print(f"error: {message}", file=sys.stderr)
    return status
