"""The device's provisioning, as the kiosk shows it: the last status, and a retry of the
enrollment (after a technician fixed the network or wrote a new code)."""

from __future__ import annotations

from pathlib import Path

from appliance.provision.status import ProvisionStatus, read_status

__all__ = ["ProvisionStatus", "Provisioning"]


class Provisioning:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def status(self) -> ProvisionStatus | None:
        """The last provisioning's status; None if the device was never provisioned."""
        return read_status(self.data_dir)

    async def retry(self) -> ProvisionStatus:
        # Imported here: enrollment's HTTP client and the doctor are not needed to start selling.
        from appliance.provision.apply import retry_enrollment

        return await retry_enrollment(self.data_dir)
