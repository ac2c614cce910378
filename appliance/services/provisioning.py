"""The device's provisioning as the kiosk shows it: the last status, and a retry of the enrollment
(after a technician fixed the network or wrote a new code). The composition root provides it
(appliance/provision does the work; services do not import it)."""

from __future__ import annotations

from typing import Protocol

from appliance.core.provisioning import ProvisionStatus

__all__ = ["ProvisionStatus", "Provisioning"]


class Provisioning(Protocol):
    def status(self) -> ProvisionStatus | None:
        """The last provisioning's status; None if the device was never provisioned."""

    async def retry(self) -> ProvisionStatus:
        """Enroll again from the same setup file; the new status."""
