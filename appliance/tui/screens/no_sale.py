"""No sale: open the cash drawer outside a sale, on a manager's PIN.

Dismissed with the ``DrawerOpening`` once the till has recorded the opening and pulsed the drawer
(its ``problem`` says if the pulse failed), or None on Cancel. The PIN is checked by
``DrawerService.open_no_sale``, so a cashier's PIN is refused by the till itself, not only by this
screen; wrong PINs count against the staff member who asked (``ApprovalScreen``).
"""

from __future__ import annotations

from appliance.i18n import _
from appliance.services.refunds import Approval
from appliance.services.till import DrawerOpening, Staff, Till
from appliance.tui.screens.approval import ApprovalScreen


class NoSaleScreen(ApprovalScreen[DrawerOpening]):
    def __init__(self, till: Till, staff: Staff) -> None:
        super().__init__(
            till,
            staff,
            _("No sale: open the drawer"),
            _("A manager's PIN is needed"),
            self._open,
            failed=_("Drawer not opened"),
            badges=False,  # the till opens the drawer on a PIN only
        )

    async def _open(self, approval: Approval) -> DrawerOpening:
        assert approval.pin is not None
        return await self.till.drawer.open_no_sale(self.staff, approval.pin)


def opening_words(opening: DrawerOpening) -> str:
    """What staff are told after a no-sale opening."""
    if opening.problem:
        return _("Drawer did not open: {problem}").format(problem=opening.problem)
    return _("Drawer opened (no sale, approved by {name})").format(
        name=opening.record.body["approved_by"]["name"]
    )
