"""Taking central's remote actions between sales (services/remote_actions.py).

Every ``poll_s`` the app looks for a waiting action, but only when nobody is in the middle of
anything: on the lock screen (a test print, a restart), or on the sell screen with an empty
cart and nothing over it (those, and a drawer test, which needs the logged-in staff to ask a
manager for the PIN). Never during a sale, a payment or a modal. One action at a time.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from appliance.services.remote_actions import StoredAction
from appliance.tui.screens.drawer_test import DrawerTestScreen
from appliance.tui.screens.lock import LockScreen
from bitagora_protocol.remote_action import KIOSK_KINDS

if TYPE_CHECKING:
    from appliance.tui.app import KioskApp

log = logging.getLogger(__name__)

POLL_S = 5.0
LOCKED_KINDS = ("test_print", "restart")  # nobody logged in: no one to ask for a PIN


class RemoteActionPoller:
    def __init__(self, app: KioskApp, poll_s: float = POLL_S) -> None:
        self.app = app
        self.poll_s = poll_s
        self._busy = False

    def start(self) -> None:
        self._busy = True  # until what the last run left is settled
        self.app.run_worker(self._settle_restart(), group="remote-actions", exit_on_error=False)
        self.app.set_interval(self.poll_s, self._tick)

    async def _settle_restart(self) -> None:
        try:
            await self.app.till.remote.after_restart()
        except Exception:
            log.exception("could not settle the remote actions of the last run")
        finally:
            self._busy = False

    def _kinds_now(self) -> tuple[str, ...]:
        screen, sell = self.app.screen, self.app.sell
        if isinstance(screen, LockScreen) and len(self.app.screen_stack) == 2:
            return LOCKED_KINDS
        if screen is sell and sell.cart.is_empty and sell.staff is not None:
            return KIOSK_KINDS
        return ()

    def _tick(self) -> None:
        kinds = self._kinds_now()
        if self._busy or not kinds:
            return
        self._busy = True
        self.app.run_worker(self._take(kinds), group="remote-actions", exit_on_error=False)

    async def _take(self, kinds: tuple[str, ...]) -> None:
        try:
            action = await self.app.till.remote.next(kinds)
            if action is not None:
                await self._run(action)
        except Exception:
            log.exception("remote action failed")
        finally:
            self._busy = False

    async def _run(self, action: StoredAction) -> None:
        remote, sell = self.app.till.remote, self.app.sell
        if action.kind == "test_print":
            words = await remote.test_print(action)
            if self.app.screen is sell:
                sell.show_notice(words)
        elif action.kind == "drawer_test":
            if not remote.has_drawer:
                await remote.refuse(action, "this till has no cash drawer")
                return
            assert sell.staff is not None
            screen = DrawerTestScreen(self.app.till, sell.staff, action)
            if await self.app.push_screen_wait(screen) is None:
                await remote.refuse(action, "refused at the till: no manager approved it")
        elif action.kind == "restart":
            log.warning("restarting the kiosk for central", extra={"id": action.id})
            self.app.exit()  # systemd starts it again; the next start reports it done
