"""The kiosk app: it only wires screens together.

Screen stack: the sell screen at the bottom, the lock screen over it at start and whenever staff
tap Lock (a staff badge on the NFC reader unlocks it too: the app starts the till's device
inputs and hands each tap to the lock screen, or to the bitcoin pay screen for a Bolt Card);
"Pay cash" pushes the cash payment modal, "Pay bitcoin" the bitcoin one (QR), "Pay card" the
card one (Stripe Terminal reader), "Split" the split payment one (which pushes the card and
bitcoin ones for a part), and a finished sale the sale-done modal; after an unlock, a split sale
a restart left unfinished comes back; "No sale" pushes the manager-PIN modal that opens the
drawer; "Menu" the manager menu (shift, refunds, void), whose approvals take badge taps as the
lock screen does; the search bar's "Keys" the on-screen keyboard. Between sales, central's remote
actions are taken (tui/remote.py; a drawer test pushes its manager-PIN modal). When the device's
provisioning failed, the technician screen shows over the lock screen at start, with a way to
retry. With
``[touch] device`` set the app also reads the touchscreen (taps become clicks, tui/touch.py);
with ``blank_after_s`` the screen goes dark when idle on the lock screen or an empty sale
(tui/blank.py), and wakes at a touch, a key or a card.
The lock screen speaks the shop's language (central's setting, else ``[device] language``); a
staff member with a language of their own has the screens in it from their login to their lock,
the sell screen composed again in it (``SellScreen.speak``); receipts stay in the shop's.
Screens talk up with messages (``SellScreen.LockRequested``, ``SellScreen.PayRequested``,
``SellScreen.NoSaleRequested``) and screen results; the app talks down by calling the sell
screen's methods. Device and payment events come from the services' bus through the one bridge
(tui/bridge.py) as ``BusEvent`` messages, which the app hands to the screen they concern.
The app holds the till's services and its capabilities, never a driver. On a console smaller
than every screen's layout, each screen shows only "screen too small" and input does nothing
(widgets/too_small.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from textual import events, on, work
from textual.app import App
from textual.geometry import Size
from textual.screen import Screen
from textual.widgets import Button

from appliance.core.cart import Cart
from appliance.core.split import SplitSale
from appliance.i18n import _, use, use_shop
from appliance.services.devices import (
    BarcodeScanned,
    CardTapped,
    ScannerConnected,
    ScannerDisconnected,
    ScannerStopped,
    ScanRefused,
    TouchPressed,
    TouchReleased,
)
from appliance.services.drawer import DrawerChanged
from appliance.services.events import PaymentStatus, UnwatchedPayment
from appliance.services.printing import PrinterChanged
from appliance.services.till import DrawerOpening, ProvisionStatus, SaleResult, Staff, Till
from appliance.tui.blank import Blanker
from appliance.tui.bridge import Bridge, BusEvent
from appliance.tui.quiet_gc import QuietGc
from appliance.tui.remote import POLL_S, RemoteActionPoller
from appliance.tui.scan import Clock
from appliance.tui.screens.approval import ApprovalScreen
from appliance.tui.screens.last_sale import LastSaleScreen
from appliance.tui.screens.lock import LockScreen
from appliance.tui.screens.manager_menu import ManagerMenuScreen
from appliance.tui.screens.no_sale import NoSaleScreen, opening_words
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.search_keyboard import SearchKeyboardScreen
from appliance.tui.screens.sell import SellScreen
from appliance.tui.screens.split import SplitScreen
from appliance.tui.screens.technician import TechnicianScreen
from appliance.tui.touch import TouchInput
from appliance.tui.widgets.too_small import TooSmall, too_small
from appliance.tui.widgets.typed_field import TypedField

log = logging.getLogger(__name__)

NEXT_CUSTOMER_AFTER_S = 8.0


class KioskApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "BitAgora POS"
    # Screen classes by console size in cells (docs/TECHNICIAN.md, "Panel sizes and layouts"):
    # an 800x480 panel is -narrow and -short (100x30), 1024x600 and up -wide and -tall, a
    # portrait one -narrow and -tall. Screens' CSS lays out for each.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    ENABLE_COMMAND_PALETTE = False

    def __init__(
        self,
        till: Till,
        *,
        clock: Clock = time.monotonic,
        next_customer_after_s: float | None = NEXT_CUSTOMER_AFTER_S,
        quiet_gc: bool = False,
        provisioning: ProvisionStatus | None = None,
        remote_poll_s: float = POLL_S,
    ) -> None:
        """``clock`` times key bursts (scanner or person); ``next_customer_after_s`` closes the
        sale-done view by itself (None: only by a tap). ``quiet_gc``: the kiosk's garbage
        collection policy (tui/quiet_gc.py; off, the process-wide settings are left alone for
        tests).
        ``provisioning``: the last provisioning's status; a failed one shows the technician
        screen at start. ``remote_poll_s``: how often central's remote actions are looked for
        (tui/remote.py)."""
        super().__init__()
        device = till.settings.device
        # The shop's language and money locale (central's, once read at mount and each login).
        self.shop_speaks = (device.language, device.money_locale)
        use_shop(*self.shop_speaks)
        self.sell_speaks = self.shop_speaks  # what the sell screen was composed in
        self.till = till
        self.clock = clock
        self.next_customer_after_s = next_customer_after_s
        self.sell = SellScreen(till, clock)
        self.bridge = Bridge(till.bus, self)
        light = till.light if till.capabilities.backlight else None
        self.blanker = Blanker(self, till.settings.touch.blank_after_s, light, self._may_blank)
        self.touch = TouchInput(self, self.blanker) if till.capabilities.touch else None
        self.scanner_connected: bool | None = None  # None: not heard from yet
        self.quiet_gc = QuietGc(self._between_sales) if quiet_gc else None
        self.provisioning = provisioning
        self._recovery_shown = False  # what the till settled at start, told at the first unlock
        self.remote = RemoteActionPoller(self, remote_poll_s)

    async def on_mount(self) -> None:
        await self._read_shop()
        self.sell_speaks = self.shop_speaks
        await self.push_screen(self.sell)
        self.lock()
        if self.provisioning is not None and not self.provisioning.ok:
            self.push_screen(TechnicianScreen(self.provisioning, self.till.provisioning.retry))
        self.bridge.start()
        # The app reads the scanner, the NFC reader and the touchscreen for as long as it runs.
        self.till.inputs.start()
        self.blanker.start()
        self.remote.start()
        # Below the smallest panel, every screen (modals too) says so instead of showing half of
        # itself, at start and whenever the console's size changes (widgets/too_small.py).
        self.screen_change_signal.subscribe(self, lambda _: self._fit())
        self._fit()
        if self.quiet_gc is not None:
            self.quiet_gc.start()
            self.screen_change_signal.subscribe(self, self._collect_between_customers)

    async def on_unmount(self) -> None:
        """The device inputs are the app's: stopped and awaited before the till closes."""
        self.blanker.stop()
        if self.quiet_gc is not None:
            self.quiet_gc.stop()
        self.bridge.stop()
        await self.till.inputs.close()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            if self.has_class("-too-small"):
                # Nothing on screen says what a key (or a scan) did: it does nothing.
                log.info("key ignored: the screen is too small", extra={"key": event.key})
                return
            # A key wakes the screen and still counts: a scanned barcode is never dropped.
            self.blanker.activity()
        if self.quiet_gc is not None and isinstance(event, events.Key | events.MouseDown):
            self.quiet_gc.activity()  # someone waits for the screen: no collection now
        await super().on_event(event)

    def on_resize(self, event: events.Resize) -> None:
        # Before App's own handler, which is what changes ``self.size``.
        self._fit(event.size)

    def _fit(self, new_size: Size | None = None) -> None:
        """Too small for the screens' layouts: the screen on top says so, and nothing else shows
        (app.tcss); big enough: everything as it was."""
        width, height = new_size or self.size
        size = (width, height)
        small = too_small(size)
        self.set_class(small, "-too-small")
        if not small or not self.screen_stack:
            return
        screen = self.screen
        found = screen.query_children(TooSmall)
        if found:
            found.first().show_size(size)
        else:
            screen.mount(TooSmall(size))

    def _may_blank(self) -> bool:
        """Dark only while nobody needs the screen: locked, or selling with an empty cart."""
        screen = self.screen
        return isinstance(screen, LockScreen) or (screen is self.sell and not self.sell.cart.lines)

    # -- events from the services' bus (tui/bridge.py) ---------------------------------------

    @on(BusEvent)
    def _bus_event(self, message: BusEvent) -> None:
        event = message.event
        if self.has_class("-too-small") and isinstance(event, BarcodeScanned | CardTapped):
            # A scan or a badge would act on a screen nobody can read.
            log.info("device input ignored: the screen is too small")
            return
        if isinstance(event, PrinterChanged):
            self.sell.post_message(SellScreen.PrinterChanged(event.state))
        elif isinstance(event, DrawerChanged):
            self.sell.post_message(SellScreen.DrawerChanged(event.state))
        elif isinstance(event, PaymentStatus):
            for screen in self.screen_stack:
                if hasattr(screen, "payment_changed"):  # a bitcoin pay screen
                    screen.payment_changed(event.status)
        elif isinstance(event, UnwatchedPayment):
            self._bitcoin_in_background(event.status)
        elif isinstance(event, CardTapped):
            self._card_tapped(event)
        elif isinstance(event, TouchPressed | TouchReleased):
            if self.touch is not None:
                self.touch.touched(event)
        else:
            self._scanner_event(event)

    def _bitcoin_in_background(self, status: Any) -> None:
        """A bitcoin payment ended while no pay screen showed it: tell staff on the sell screen
        (and the split screen, when it was a part of the sale it shows)."""
        if isinstance(self.screen, SplitScreen) and status.result is not None:
            self.screen.part_settled(status.result)
        seq = f" (journal #{status.record.seq})" if status.record else ""
        if status.state in ("paid", "overpaid"):
            sale = status.sale_id[:8]
            payments = status.record.body.get("payments", []) if status.record else []
            usdt = any(p.get("method") == "usdt_tron" for p in payments)
            words = (
                _("USDT payment for sale {sale} arrived: {status}, sale recorded")
                if usdt
                else _("Bitcoin payment for sale {sale} arrived: {status}, sale recorded")
            )
            text = words.format(sale=sale, status=status.message)
            text += seq
        else:
            text = status.message + seq
        self.sell.post_message(SellScreen.Notice(text, status.state not in ("paid", "cancelled")))

    # -- the serial scanner: its events go to the sell screen as messages

    def _scanner_event(self, event: object) -> None:
        sell = self.sell
        if isinstance(event, BarcodeScanned):
            sell.post_message(SellScreen.BarcodeRead(event.code))
        elif isinstance(event, ScanRefused):
            sell.post_message(
                SellScreen.Notice(_("Scan refused: {reason}").format(reason=event.reason), True)
            )
        elif isinstance(event, ScannerStopped):
            sell.post_message(
                SellScreen.Notice(_("Scanner stopped: {error}").format(error=event.error), True)
            )
        elif isinstance(event, ScannerConnected):
            if self.scanner_connected is False:
                sell.post_message(SellScreen.Notice(_("Scanner connected again")))
            self.scanner_connected = True
        elif isinstance(event, ScannerDisconnected) and self.scanner_connected is not False:
            # Said once per outage, not at every retry.
            self.scanner_connected = False
            text = _("Scanner not connected ({reason}); check its cable. Retrying.").format(
                reason=event.reason
            )
            sell.post_message(SellScreen.Notice(text, True))

    def _card_tapped(self, event: CardTapped) -> None:
        self.blanker.activity()
        if isinstance(self.screen, LockScreen | ApprovalScreen):
            self.screen.badge_tapped(event.uid)
        elif hasattr(self.screen, "card_tapped"):  # the bitcoin pay screen: a Bolt Card
            self.screen.card_tapped(event.uri)

    def lock(self) -> None:
        use_shop(*self.shop_speaks)  # whoever had their own language is gone
        self.push_screen(LockScreen(self.till), self._unlocked)

    async def _unlocked(self, staff: Staff | None) -> None:
        if staff is not None:
            use(staff.language or self.shop_speaks[0])
            self.sell.start_shift(staff)  # at once: the next sale need not wait on the language
            await self._speak_for(staff)
            self._resume(staff)
            self.check_shift()

    async def _read_shop(self) -> None:
        """The shop's language as central set it last (a document applied since the start)."""
        try:
            shop = await self.till.shop_settings()
        except Exception:
            log.exception("could not read the shop's settings; the screens keep their language")
            return
        self.shop_speaks = (shop.language, shop.money_locale)
        use_shop(*self.shop_speaks)

    async def _speak_for(self, staff: Staff) -> None:
        """The screens in ``staff``'s own language, else the shop's (amounts in the shop's
        money locale either way); the sell screen composed again when that is not the one it
        speaks."""
        await self._read_shop()
        language, money_locale = self.shop_speaks
        speaks = (staff.language or language, money_locale)
        use(speaks[0])
        if speaks == self.sell_speaks:
            return
        try:
            await self.sell.speak()
        except Exception:
            log.exception("could not compose the sell screen again in %s", speaks[0])
            return
        self.sell_speaks = speaks

    @work(exclusive=True, group="resume", exit_on_error=False)
    async def _resume(self, staff: Staff) -> None:
        """What a restart left: payments the till settled at start (in words), and a sale paid
        in parts that is not finished, which comes back for the rest or to be given back."""
        notes = await self.till.recovery.recovered()
        first = not self._recovery_shown
        if notes and first:
            self.sell.show_notice(" · ".join(notes))
        self._recovery_shown = True
        if first:
            # The last sale, if the till stopped before its done screen: said before anything
            # else, so nobody rings it up again (tui/screens/last_sale.py).
            try:
                untold = await self.till.recovery.untold_sale()
            except Exception:
                log.exception("could not read the last sale")
                untold = None
            if untold is not None:
                await self.push_screen_wait(LastSaleScreen(self.till, untold, staff))
        unfinished = await self.till.split.unfinished()
        if unfinished and self.screen is self.sell:
            self.push_screen(SplitScreen(self.till, unfinished[0], staff), self._paid)

    @work(exclusive=True, group="split", exit_on_error=False)
    async def _begin_split(self, cart: Cart, staff: Staff) -> None:
        try:
            split = await self.till.split.begin(cart, staff)
        except Exception as err:
            self.sell.show_notice(
                _("Split payment not started: {error}").format(error=err), error=True
            )
            return
        self.push_screen(SplitScreen(self.till, split, staff), self._paid)

    @work(exclusive=True, group="shift", exit_on_error=False)
    async def check_shift(self) -> None:
        """Show on the sell screen whether a shift is open (sales go on either way)."""
        try:
            is_open = await self.till.shifts.shift_open()
        except Exception:
            log.exception("could not read the shift")
            return
        self.sell.show_shift(is_open)

    @on(SellScreen.MenuRequested)
    def _menu_requested(self, event: SellScreen.MenuRequested) -> None:
        self.push_screen(ManagerMenuScreen(self.till, event.staff, self.sell.cart), self._menu_done)

    def _menu_done(self, notice: str | None) -> None:
        if notice is not None:  # a void emptied the cart
            self.sell.next_customer()
            self.sell.show_notice(notice)
        self.check_shift()

    @on(SellScreen.LockRequested)
    def _lock_requested(self) -> None:
        # The menu and what it opened act for whoever was logged in: gone before anyone unlocks.
        while any(isinstance(screen, ManagerMenuScreen) for screen in self.screen_stack):
            self.pop_screen()
        self.lock()

    @on(SellScreen.PayRequested)
    def _pay_requested(self, event: SellScreen.PayRequested) -> None:
        if event.method == "split":
            self._begin_split(event.cart, event.staff)
            return
        # The bitcoin and card screens are imported when first wanted: the wallet and Lightning
        # stacks load with the one, the card types with the other.
        if event.method == "bitcoin" and self.till.bitcoin is not None:
            from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen

            cards = self.till.capabilities.nfc
            bitcoin = PayBitcoinScreen(self.till.bitcoin, event.cart, event.staff, cards=cards)
            self.push_screen(bitcoin, self._paid)
        elif event.method == "usdt" and self.till.usdt is not None:
            from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen

            self.push_screen(PayBitcoinScreen(self.till.usdt, event.cart, event.staff), self._paid)
        elif event.method == "card" and self.till.card is not None:
            from appliance.tui.screens.pay_card import PayCardScreen

            self.push_screen(PayCardScreen(self.till, event.cart, event.staff), self._paid)
        elif event.method in self.till.capabilities.mercadopago:
            from appliance.services.mercadopago import MercadoPagoMethod
            from appliance.tui.screens.pay_mercadopago import PayMercadoPagoScreen

            method = MercadoPagoMethod(event.method)
            screen = PayMercadoPagoScreen(self.till, event.cart, event.staff, method)
            self.push_screen(screen, self._paid)
        else:
            self._pay_cash(event.cart, event.staff)

    @work(exclusive=True, group="pay-cash", exit_on_error=False)
    async def _pay_cash(self, cart: Cart, staff: Staff) -> None:
        try:
            increment = await self.till.sales.cash_rounding()
        except Exception:  # the setting unreadable: exact cash, never no sale
            log.exception("could not read the cash rounding")
            increment = 1
        cash = PayCashScreen(self.till, cart, staff, self.clock, increment)
        self.push_screen(cash, self._paid)

    def _paid(self, result: SaleResult | SplitSale | None) -> None:
        if not isinstance(result, SaleResult):
            return  # cancelled: back to the same cart (a whole cart's payment is never a part)
        self.sell.next_customer()
        self.push_screen(SaleDoneScreen(result, self.next_customer_after_s))

    def _collect_between_customers(self, screen: Screen[Any]) -> None:
        """A sale's done screen: once it is drawn and the till is quiet, the sale's garbage
        goes (tui/quiet_gc.py)."""
        if isinstance(screen, SaleDoneScreen) and self.quiet_gc is not None:
            self.call_after_refresh(self.quiet_gc.sale_over)

    def _between_sales(self) -> bool:
        """Nobody is in the middle of a sale: locked, a sale's done screen, or an empty cart."""
        return isinstance(self.screen, SaleDoneScreen) or self._may_blank()

    @on(Button.Pressed, "#search-keys")
    def _search_keys(self) -> None:
        self.push_screen(SearchKeyboardScreen(self.sell))

    @on(TypedField.KeyboardWanted)
    def _field_keys(self) -> None:
        if not isinstance(self.screen, SearchKeyboardScreen):
            self.push_screen(SearchKeyboardScreen(self.screen, enter=False))

    @on(SellScreen.NoSaleRequested)
    def _no_sale_requested(self, event: SellScreen.NoSaleRequested) -> None:
        self.push_screen(NoSaleScreen(self.till, event.staff), self._no_sale_done)

    def _no_sale_done(self, opening: DrawerOpening | None) -> None:
        if opening is not None:
            self.sell.show_notice(opening_words(opening), error=opening.problem is not None)
