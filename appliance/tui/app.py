"""The kiosk app: it only wires screens together.

Screen stack: the sell screen at the bottom, the lock screen over it at start and whenever staff
tap Lock (a staff badge on the NFC reader unlocks it too: the app owns the reader's polling
worker and hands each tap to the lock screen); "Pay cash" pushes the cash payment modal, and
a finished sale the sale-done modal.
Screens talk up with messages (``SellScreen.LockRequested``, ``SellScreen.PayRequested``) and
screen results; the app talks down by calling the sell screen's methods.
"""

from __future__ import annotations

import logging
import time

from textual import on, work
from textual.app import App
from textual.message import Message

from appliance.drivers.nfc import CardTap
from appliance.services.till import SaleResult, Staff, Till
from appliance.tui.scan import Clock
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.sell import SellScreen

log = logging.getLogger(__name__)

NEXT_CUSTOMER_AFTER_S = 8.0


class KioskApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "BitAgora POS"
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        till: Till,
        *,
        clock: Clock = time.monotonic,
        next_customer_after_s: float | None = NEXT_CUSTOMER_AFTER_S,
    ) -> None:
        """``clock`` times key bursts (scanner or person); ``next_customer_after_s`` closes the
        sale-done view by itself (None: only by a tap)."""
        super().__init__()
        self.till = till
        self.clock = clock
        self.next_customer_after_s = next_customer_after_s
        self.sell = SellScreen(till, clock)

    class CardTapped(Message):
        """A card arrived on the NFC reader."""

        def __init__(self, tap: CardTap) -> None:
            super().__init__()
            self.tap = tap

    async def on_mount(self) -> None:
        await self.push_screen(self.sell)
        self.lock()
        self.watch_nfc()

    @work(group="nfc", exit_on_error=False)
    async def watch_nfc(self) -> None:
        """Poll the NFC reader for as long as the app runs (the worker is cancelled at exit,
        which closes the port); reader trouble is retried inside ``taps()``."""
        try:
            async for tap in self.till.nfc.taps():
                self.post_message(self.CardTapped(tap))
        except Exception:
            log.exception("NFC reader loop stopped")
            raise

    @on(CardTapped)
    def _card_tapped(self, event: CardTapped) -> None:
        if isinstance(self.screen, LockScreen):
            self.screen.badge_tapped(event.tap.uid)

    def lock(self) -> None:
        self.push_screen(LockScreen(self.till), self._unlocked)

    def _unlocked(self, staff: Staff | None) -> None:
        if staff is not None:
            self.sell.start_shift(staff)

    @on(SellScreen.LockRequested)
    def _lock_requested(self) -> None:
        self.lock()

    @on(SellScreen.PayRequested)
    def _pay_requested(self, event: SellScreen.PayRequested) -> None:
        self.push_screen(PayCashScreen(self.till, event.cart, event.staff, self.clock), self._paid)

    def _paid(self, result: SaleResult | None) -> None:
        if result is None:
            return  # cancelled: back to the same cart
        self.sell.next_customer()
        self.push_screen(SaleDoneScreen(result, self.next_customer_after_s))
