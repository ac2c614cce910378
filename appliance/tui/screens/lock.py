"""The lock screen: a PIN on the on-screen keypad (or typed, then Enter) unlocks the till, and so
does a staff badge tapped on the NFC reader (the app passes taps down with ``badge_tapped``).

Five wrong PINs close together lock the PIN pad (``AccessService.unlock`` counts them and keeps
the lock in the store): the screen then says "Too many wrong PINs: try again in 4:32", counting
down, with the keypad disabled; badges still work. It asks the till at mount, so a lock survives
a restart.

A deactivated person's PIN or badge is answered "<name> has been deactivated", not counted.

A till nobody has been added to yet says so, and how to add the first manager, instead of a
prompt; a PIN typed there is answered the same way and never counted as wrong."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from textual import events, on, work
from textual.app import ComposeResult
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Static

from appliance.core.lockout import TILL, locked_message
from appliance.i18n import N_, _, ui_translations
from appliance.services.till import AuthError, Deactivated, LockedOut, NoStaff, Staff, Till
from appliance.tui.widgets.pin_pad import PinPad

log = logging.getLogger(__name__)


NO_STAFF_PROMPT = N_(
    "No staff yet. Add the first manager in bitagora-setup.toml on the card's BOOT partition "
    "([manager] name and pin), or at the device's shell:\n"
    "bitagora staff add ID --name NAME --role manager"
)


def _till_locked(left: timedelta) -> str:
    return locked_message(TILL, left, tr=ui_translations())


class LockScreen(Screen[Staff]):
    """Dismissed with the ``Staff`` whose PIN was entered or whose badge was tapped."""

    CSS_PATH = "lock.tcss"
    AUTO_FOCUS = None

    def __init__(self, till: Till) -> None:
        super().__init__()
        self.till = till
        self.pad = PinPad(till.clock, _till_locked, id="lock-pad")

    def compose(self) -> ComposeResult:
        with Center(), Vertical(id="lock-panel"):
            yield Static(self.till.merchant_name, id="lock-title", markup=False)
            yield Static(self._prompt(), id="lock-prompt", markup=False)
            yield self.pad

    def on_mount(self) -> None:
        self._ask_lockout()
        self._ask_staff()

    @work(exclusive=True, group="staff", exit_on_error=False)
    async def _ask_staff(self) -> None:
        """A fresh till with nobody on it says how to add somebody, rather than "Enter your
        PIN": no PIN could be right."""
        try:
            if not await self.till.access.has_staff():
                self._no_staff(_(NO_STAFF_PROMPT))
        except Exception:
            log.exception("could not ask whether the till has staff")

    def _no_staff(self, text: str) -> None:
        prompt = self.query_one("#lock-prompt", Static)
        prompt.update(text)
        prompt.add_class("-no-staff")

    @work(exclusive=True, group="lockout", exit_on_error=False)
    async def _ask_lockout(self) -> None:
        """A lock from before a restart (or from another screen) shows at once."""
        try:
            self.pad.lock_for(await self.till.access.lockout_remaining())
        except Exception:
            log.exception("could not read the PIN lockout")

    def _prompt(self) -> str:
        if not self.till.capabilities.nfc:
            return _("Enter your PIN")
        return _("Enter your PIN or tap your badge")

    def badge_tapped(self, uid: str) -> None:
        """A card arrived on the NFC reader: unlock for its owner (ignored mid-check). Badges
        work while the PIN pad is locked: a badge is not a guess."""
        if self.pad.checking:
            return
        self.pad.checking = True
        self._identify(
            lambda: self.till.access.unlock_badge(uid),
            _("Unknown badge, use your PIN"),
            _("Could not check the badge: {error}"),
        )

    @on(PinPad.Submitted)
    def _pin(self, event: PinPad.Submitted) -> None:
        pin = event.pin
        self._identify(
            lambda: self.till.access.unlock(pin),
            _("Wrong PIN, try again"),
            _("Could not check the PIN: {error}"),
        )

    def on_key(self, event: events.Key) -> None:
        self.pad.screen_key(event, self.pad.clear)

    @work(exclusive=True, group="unlock", exit_on_error=False)
    async def _identify(
        self, who: Callable[[], Awaitable[Staff]], refused: str, failed: str
    ) -> None:
        """Unlock for whoever ``who`` finds; ``refused`` is shown when it finds nobody,
        ``failed`` (with its ``{error}``) when it could not look."""
        try:
            staff = await who()
        except LockedOut as err:
            if err.subject == TILL:
                self.pad.lock_for(err.remaining)
                self.pad.finished()
            else:  # the right PIN or badge of someone locked out: tell them, not others
                self.pad.finished(locked_message(err.subject, err.remaining, tr=ui_translations()))
            return
        except NoStaff:
            self._no_staff(_(NO_STAFF_PROMPT))
            self.pad.finished(_("Nobody can unlock this till yet"))
            return
        except Deactivated as err:  # their PIN or badge, but they may not come in
            self.pad.finished(str(err))
            return
        except AuthError:
            self.pad.finished(refused)
            return
        except Exception as err:
            log.exception("unlock check failed")
            self.pad.finished(failed.format(error=err))
            return
        self.pad.finished()
        self.dismiss(staff)
