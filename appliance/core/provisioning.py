"""How the device's last provisioning went (``provision.json``, written by appliance/provision):
a value the kiosk's technician screen shows."""

from __future__ import annotations

from dataclasses import dataclass


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
    # The catalog file (the setup's [catalog] file) provisioning imported last: the same file
    # again is not imported again, so a catalog imported by hand since stays.
    catalog_sha256: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"
