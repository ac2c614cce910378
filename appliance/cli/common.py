"""What every ``bitagora`` command group shares: the device options, the settings they name,
and how a command says it failed."""

from __future__ import annotations

import argparse
import os
import pwd
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


def refuse_root(device: Settings) -> str | None:
    """Why a tool that writes the device's store must not run as root here, or None.

    The store belongs to the services' user: root writing it would leave files (SQLite's
    ``-wal`` and ``-shm``, a new journal file) that user cannot open, and the kiosk would not
    start. Root may still work on a data folder of its own (an image being prepared, a test)."""
    if os.geteuid() != 0:
        return None
    try:
        owner = device.data_dir.stat().st_uid
    except OSError:
        return None  # nothing there yet: the command itself says so
    if owner == 0:
        return None
    try:
        user = pwd.getpwuid(owner).pw_name
    except KeyError:
        user = str(owner)
    return (
        f"run as the user the services run as ({user}), not as root: the device's data in "
        f"{device.data_dir} is theirs, and files root wrote there would stop the kiosk. "
        f"E.g. sudo -u {user} /opt/bitagora/current/bin/bitagora …"
    )
