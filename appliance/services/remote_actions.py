"""The remote actions the kiosk runs (docs/PROTOCOL.md 2.7; docs/OPERATIONS.md, "Remote
actions"): a test print, a drawer test on a manager's PIN, a restart. The uplink verified and
stored them (uplink/actions.py); the UI takes one between sales (tui/remote.py), and the result
written here is what the uplink reports to central.

- A test print goes through the print worker, between two receipts.
- A drawer test opens the drawer only on a manager's (or technician's) PIN entered at the till,
  journalled as every opening is (a ``drawer_open`` record, reason ``test``); without one it is
  refused, and the drawer stays shut, as it does when the PIN comes after the action expired.
- A restart leaves the action running and the kiosk exits: systemd starts it again
  (``Restart=always``), and the new kiosk finds the action running and reports it done
  (``after_restart``). Any other action found running then was cut short, and fails.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from appliance.drivers.printer import PrinterError
from appliance.services.drawer import DrawerError, DrawerOpening, DrawerService
from appliance.services.receipts import ReceiptService
from appliance.store import remote_actions as store
from appliance.store.remote_actions import StoredAction
from bitagora_protocol.remote_action import KIOSK_KINDS

__all__ = ["ActionExpired", "RemoteActionService", "StoredAction"]

log = logging.getLogger(__name__)


class ActionExpired(DrawerError):
    """The action's time ran out before it could be done."""


class RemoteActionService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        receipts: ReceiptService,
        drawer: DrawerService,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: unix seconds, against which an action's expiry is checked."""
        self.conn = conn
        self.receipts = receipts
        self.drawer = drawer
        self.clock = clock

    async def next(self, kinds: Sequence[str] = KIOSK_KINDS) -> StoredAction | None:
        """The oldest waiting action of ``kinds``, now taken (running)."""
        action = await store.claim(self.conn, kinds, self.clock())
        if action is not None:
            log.info("remote action taken", extra={"id": action.id, "kind": action.kind})
        return action

    async def test_print(self, action: StoredAction) -> str:
        """Print the test page; return what happened, in words."""
        try:
            status = await self.receipts.print_test_page()
        except PrinterError as err:
            await store.finish(self.conn, action.id, "failed", {"error": str(err)})
            return f"Test print for central failed: {err}"
        printer = {"online": status.online, "paper": status.paper}
        await store.finish(self.conn, action.id, "done", {"printed": True, "printer": printer})
        return "Test page printed for central"

    async def drawer_test(self, action: StoredAction, pin: str) -> DrawerOpening:
        """Open the drawer on ``pin`` (the service's rules: AuthError and the like leave the
        action running, for another PIN or a refusal) and record the outcome. A test whose
        expiry passed while it waited for a PIN opens nothing: ``ActionExpired``."""
        if self.clock() >= action.expires_at:
            error = "expired before a manager approved it"
            await store.finish(self.conn, action.id, "failed", {"error": error})
            raise ActionExpired(f"central's drawer test {error}: nothing was opened")
        opening = await self.drawer.test(pin)
        approver = opening.record.body["approved_by"]["name"]
        result: dict[str, Any] = {
            "opened": opening.problem is None,
            "seq": opening.record.seq,
            "approved_by": approver,
            "problem": opening.problem,
        }
        await store.finish(self.conn, action.id, "failed" if opening.problem else "done", result)
        return opening

    async def refuse(self, action: StoredAction, reason: str) -> None:
        """Not done, and why (nobody approved a drawer test; the till has no drawer)."""
        log.info("remote action refused", extra={"id": action.id, "reason": reason})
        await store.finish(self.conn, action.id, "failed", {"refused": reason})

    @property
    def has_drawer(self) -> bool:
        return self.drawer.present

    async def after_restart(self) -> None:
        """At the kiosk's start: a restart it was asked for is done; anything else it was
        running when it stopped failed."""
        for action in await store.running(self.conn, KIOSK_KINDS):
            if action.kind == "restart":
                await store.finish(self.conn, action.id, "done", {"restarted": True})
            else:
                error = "interrupted: the kiosk stopped while running it"
                await store.finish(self.conn, action.id, "failed", {"error": error})
