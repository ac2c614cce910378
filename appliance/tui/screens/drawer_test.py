"""Central asks for a drawer test: the drawer opens only on a manager's (or technician's) PIN
entered here, journalled as a ``test`` opening (``RemoteActionService.drawer_test``). Dismissed
with the ``DrawerOpening``, or None on Cancel, which refuses the test."""

from __future__ import annotations

from appliance.i18n import _
from appliance.services.refunds import Approval
from appliance.services.remote_actions import StoredAction
from appliance.services.till import DrawerOpening, Staff, Till
from appliance.tui.screens.approval import ApprovalScreen


class DrawerTestScreen(ApprovalScreen[DrawerOpening]):
    def __init__(self, till: Till, staff: Staff, action: StoredAction) -> None:
        super().__init__(
            till,
            staff,
            _("Central asks for a drawer test"),
            _("A manager's PIN opens the drawer for the test; Cancel refuses it."),
            self._open,
            failed=_("Drawer not opened"),
            badges=False,  # the till opens the drawer on a PIN only
        )
        self.action = action

    async def _open(self, approval: Approval) -> DrawerOpening:
        assert approval.pin is not None
        return await self.till.remote.drawer_test(self.action, approval.pin)
