"""A manager's approval: a PIN on the shared PIN pad, or a badge on the NFC reader.

One modal for everything a manager approves at the till (no sale, refund, void, the day's
closing, paid in/out for a cashier). The screen only collects the PIN or badge and hands it to
``act``, the service call that checks it and does the work, so the rules (who may approve, how
wrong PINs count) are the till's. Dismissed with what ``act`` returned, or None on Cancel.

Wrong PINs count against the staff member who asked (``AccessService.approver``): after five close
together they are locked out, the pad counts the lock down with its keypad disabled, and Cancel
locks the till, since they may not go on selling. A refusal that is not a wrong PIN (a cashier's
PIN, a refund the service refuses) is shown in the service's own words.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.core.lockout import locked_message, staff_subject
from appliance.core.roles import PERMISSIONS, ROLE_NAMES, Action, allowed, roles_for
from appliance.i18n import N_, _
from appliance.services.refunds import Approval
from appliance.services.till import AuthError, LockedOut, Staff, Till
from appliance.tui.screens.sell import SellScreen
from appliance.tui.widgets.pin_pad import PinPad
from appliance.tui.widgets.tap_button import TapButton

log = logging.getLogger(__name__)

T = TypeVar("T")

HOW = N_("A manager's PIN or badge approves it.")


def refusal(staff: Staff, action: Action) -> str:
    """Why ``staff`` may not do ``action`` alone, in the role table's words ("" when they may):
    "Ana is a cashier: a manager must approve a refund.", in the UI's language."""
    if allowed(staff.role, action):
        return ""
    needed = _(" or ").join(_(ROLE_NAMES[role]) for role in roles_for(action))
    return _("{name} is a {role}: a {needed} must {what}.").format(
        name=staff.name,
        role=_(ROLE_NAMES.get(staff.role, staff.role)),
        needed=needed,
        what=_(PERMISSIONS[action].words),
    )


def approval_prompt(staff: Staff, action: Action) -> str:
    """What the approval modal says: the refusal, if any, and how a manager approves."""
    return " ".join(filter(None, [refusal(staff, action), _(HOW)]))


class ApprovalScreen(ModalScreen[T | None]):
    CSS_PATH = "approval.tcss"
    AUTO_FOCUS = None

    def __init__(
        self,
        till: Till,
        staff: Staff,
        title: str,
        prompt: str,
        act: Callable[[Approval], Awaitable[T]],
        *,
        failed: str | None = None,
        badges: bool = True,
    ) -> None:
        """``staff``: who is logged in and asks; ``act``: the service call the approval is for;
        ``failed``: how a refusal other than a wrong PIN starts ("Drawer not opened");
        ``badges``: whether a badge tap approves too (the app passes taps to ``badge_tapped``)."""
        super().__init__()
        self.till = till
        self.staff = staff
        self.title_text = title
        self.prompt = prompt
        self.act = act
        self.failed = failed or _("Not done")
        self.badges = badges
        self.pad = PinPad(till.clock, self._locked, empty_text=_("Enter the manager's PIN first"))

    def _locked(self, left: timedelta) -> str:
        return locked_message(staff_subject(self.staff.id), left, self.staff.name)

    def compose(self) -> ComposeResult:
        with Vertical(id="approval-dialog"):
            yield Static(self.title_text, id="approval-title", markup=False)
            yield Static(self.prompt, id="approval-prompt", markup=False)
            yield self.pad
            yield TapButton(_("Cancel"), "error", id="approval-cancel")

    def on_mount(self) -> None:
        self._ask_lockout()

    @work(exclusive=True, group="lockout", exit_on_error=False)
    async def _ask_lockout(self) -> None:
        try:
            self.pad.lock_for(await self.till.access.lockout_remaining(self.staff))
        except Exception:
            log.exception("could not read the PIN lockout")

    @on(PinPad.Submitted)
    def _pin(self, event: PinPad.Submitted) -> None:
        self._approve(Approval(pin=event.pin), _("Wrong PIN, try again"))

    def badge_tapped(self, uid: str) -> None:
        """A card on the NFC reader: a manager's badge approves (a badge is not a guess, so it
        works while the pad is locked)."""
        if not self.badges or self.pad.checking:
            return
        self.pad.checking = True
        self._approve(Approval(badge=uid), _("Unknown badge"))

    @on(Button.Pressed, "#approval-cancel")
    def cancel(self) -> None:
        if self.pad.checking:
            return
        if self.pad.locked_until:  # locked out: they may not go on selling
            self.app.post_message(SellScreen.LockRequested())
        self.dismiss(None)

    def on_key(self, event: events.Key) -> None:
        self.pad.screen_key(event, self.cancel)

    @work(exclusive=True, group="approval", exit_on_error=False)
    async def _approve(self, approval: Approval, unknown: str) -> None:
        try:
            result = await self.act(approval)
        except LockedOut as err:
            if err.subject == staff_subject(self.staff.id):
                self.pad.lock_for(err.remaining)
                self.pad.finished()
            else:  # the approver is locked out: another manager may still approve
                self.pad.finished(str(err))
            return
        except AuthError as err:  # nobody's PIN or badge, or someone who may not approve
            self.pad.finished(unknown if type(err) is AuthError else str(err))
            return
        except Exception as err:
            log.warning("%s", self.failed, extra={"error": str(err)})
            self.pad.finished(f"{self.failed}: {err}")
            return
        self.pad.finished()
        self.dismiss(result)
