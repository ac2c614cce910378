"""``provision.json`` in the data directory: how the last provisioning went, for the kiosk.

``state`` is ``ok`` or ``failed``; ``step`` says which step failed and ``message`` why, in words;
``doctor`` is the ``bitagora doctor`` report taken right after. ``setup_sha256`` is the setup
file as left after a successful run (the same file again is nothing to do), or the file a failed
run failed with (the same file again gets a shorter wait for the network).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from appliance.core.provisioning import ProvisionStatus
from appliance.provision.setup_file import write_atomically

__all__ = ["STATUS_FILE", "ProvisionStatus", "read_status", "status_path", "write_status"]

STATUS_FILE = "provision.json"


def status_path(data_dir: Path) -> Path:
    return data_dir / STATUS_FILE


def read_status(data_dir: Path) -> ProvisionStatus | None:
    """The last status, or None if the device was never provisioned (or the file is unreadable:
    then provisioning simply runs again)."""
    try:
        data = json.loads(status_path(data_dir).read_text(encoding="utf-8"))
        return ProvisionStatus(**data)
    except (OSError, ValueError, TypeError):
        return None


def write_status(data_dir: Path, status: ProvisionStatus) -> None:
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = json.dumps(asdict(status), indent=2, ensure_ascii=False) + "\n"
    write_atomically(status_path(data_dir), text.encode("utf-8"), 0o600)
