"""``provision.json`` in the data directory: how the last provisioning went, for the kiosk.

``state`` is ``ok`` or ``failed``; ``step`` says which step failed and ``message`` why, in words;
``doctor`` is the ``bitagora doctor`` report taken right after. ``setup_sha256`` is the setup
file as left after a successful run (the same file again is nothing to do), or the file a failed
run failed with (the same file again gets a shorter wait for the network).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from appliance.provision.setup_file import write_atomically

STATUS_FILE = "provision.json"


@dataclass(frozen=True)
class ProvisionStatus:
    state: str  # "ok" | "failed"
    step: str
    message: str
    at: str  # UTC, ISO 8601
    setup: str  # the setup file's path, or setup_file.TYPED_ANSWERS's
    root: str
    setup_sha256: str = ""
    device_id: str = ""
    doctor: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"


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
