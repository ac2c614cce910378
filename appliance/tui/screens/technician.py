"""The technician screen: shown over everything at start when provisioning failed.

It says in words what went wrong (no network, a refused enrollment code, a bad setup file) and
shows the ``bitagora doctor`` report taken at the time. Retry enrolls again from the same setup
file (after the technician fixed the network or wrote a new code); once that works the screen
goes and the till starts as usual. Close leaves it for later: sales are kept either way.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from appliance.i18n import _
from appliance.services.provisioning import ProvisionStatus
from appliance.tui.widgets.tap_button import TapButton

log = logging.getLogger(__name__)

Retry = Callable[[], Awaitable[ProvisionStatus]]


class TechnicianScreen(ModalScreen[ProvisionStatus]):
    CSS_PATH = "technician.tcss"
    AUTO_FOCUS = None

    status: reactive[ProvisionStatus | None] = reactive(None, init=False, always_update=True)
    busy: reactive[bool] = reactive(False, init=False)

    def __init__(self, status: ProvisionStatus, retry: Retry) -> None:
        super().__init__()
        self._retry = retry
        self.set_reactive(TechnicianScreen.status, status)

    def compose(self) -> ComposeResult:
        with Vertical(id="tech-panel"):
            yield Static(_("Setup did not finish"), id="tech-title")
            yield Static("", id="tech-message", markup=False)
            with VerticalScroll(id="tech-doctor-box"):
                yield Static("", id="tech-doctor", markup=False)
            with Horizontal(id="tech-buttons"):
                yield TapButton(_("Retry"), "primary", id="tech-retry")
                yield TapButton(_("Close"), "default", id="tech-close")

    def on_mount(self) -> None:
        self.watch_status(self.status)

    def watch_status(self, status: ProvisionStatus | None) -> None:
        if status is None:
            return
        self.query_one("#tech-message", Static).update(
            _("{step} failed ({at}):").format(step=_(status.step), at=status.at)
            + f"\n{status.message}"
        )
        self.query_one("#tech-doctor", Static).update(
            f"bitagora doctor:\n{status.doctor}" if status.doctor else ""
        )

    def watch_busy(self, busy: bool) -> None:
        self.query_one("#tech-retry", Button).disabled = busy
        if busy:
            self.query_one("#tech-message", Static).update(_("Trying again…"))

    @on(Button.Pressed, "#tech-retry")
    def _retry_pressed(self) -> None:
        self.retry()

    @on(Button.Pressed, "#tech-close")
    def _close(self) -> None:
        assert self.status is not None
        self.dismiss(self.status)

    @work(exclusive=True, group="provision-retry", exit_on_error=False)
    async def retry(self) -> None:
        self.busy = True
        try:
            status = await self._retry()
        except Exception as err:  # the screen must stay up and say what happened
            log.exception("provisioning retry failed")
            assert self.status is not None
            status = ProvisionStatus(
                "failed", "retry", str(err), self.status.at, self.status.setup, self.status.root
            )
        finally:
            self.busy = False
        if status.ok:
            self.dismiss(status)
        else:
            self.status = status
