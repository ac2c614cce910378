"""The till: the kiosk's application services, assembled (by ``appliance.bootstrap``).

Each job is its own service with public methods only: ``access`` (unlock, lockouts, approvals,
training), ``staff`` (people added, PINs, deactivated), ``sales`` (catalog, carts, cash and card
sales), ``drawer``, ``receipts``, ``shifts``, ``refunds``, ``split`` (split tender),
``recovery`` (payments a restart left unsettled), ``remote`` (what central asks of the kiosk)
and ``activity`` (idle or busy, for the update installer). Device and payment events arrive on
``bus``;
``capabilities`` says which devices and payment methods this till has. Screens call these
services and never touch the database or a device directly, so every rule lives here and holds
whichever UI drives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiosqlite

from appliance.core.roles import AuthError, Deactivated, NoStaff, NotAuthorized
from appliance.services.access import AccessService, LockedOut
from appliance.services.activity import TillActivity
from appliance.services.background import Background
from appliance.services.devices import DeviceInputs, ScreenLight
from appliance.services.drawer import DrawerError, DrawerOpening, DrawerService, DrawerState
from appliance.services.events import EventBus, PaymentStatus, UnwatchedPayment
from appliance.services.printing import PrinterState, PrintWorker, with_shop_settings
from appliance.services.provisioning import Provisioning, ProvisionStatus
from appliance.services.receipts import NothingToReprint, ReceiptService
from appliance.services.recovery import Recovery
from appliance.services.refunds import RefundService
from appliance.services.remote_actions import RemoteActionService
from appliance.services.sales import SaleResult, SalesService
from appliance.services.shift import ShiftService
from appliance.services.split import SplitTender
from appliance.services.staff import StaffService
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.barcode import BarcodeError

if TYPE_CHECKING:
    from appliance.config import DeviceSettings, Settings
    from appliance.drivers.drawer import Drawer
    from appliance.drivers.nfc import NfcReader
    from appliance.drivers.printer import Printer
    from appliance.drivers.scanner import SerialScanner
    from appliance.drivers.touch import Touchscreen
    from appliance.payments.bitcoin import BitcoinPayments, Status
    from appliance.payments.card import CardPayments
    from appliance.payments.mercadopago import MercadoPagoPayments

__all__ = [
    "AuthError",
    "BarcodeError",
    "Capabilities",
    "Deactivated",
    "Devices",
    "DrawerError",
    "DrawerOpening",
    "DrawerState",
    "LockedOut",
    "NoStaff",
    "NotAuthorized",
    "NothingToReprint",
    "PrinterState",
    "ProvisionStatus",
    "SaleResult",
    "Staff",
    "Till",
]


@dataclass(frozen=True)
class Capabilities:
    """Which devices and payment methods this till has (what the UI may offer)."""

    printer: bool = True
    drawer: bool = False
    nfc: bool = False
    scanner: bool = False  # a serial scanner the till reads (a keyboard wedge is just keys)
    touch: bool = False
    backlight: bool = False
    card: bool = False
    bitcoin: bool = False
    bitcoin_rails: tuple[str, ...] = ()  # "onchain", "lightning"
    mercadopago: tuple[str, ...] = ()  # "mercadopago_point", "mercadopago_qr"
    usdt: bool = False  # USDT on TRON ([tron])


@dataclass(frozen=True)
class Devices:
    """The drivers the services run over: for tools (the doctor) and tests, never the UI."""

    printer: Printer
    drawer: Drawer
    nfc: NfcReader | None = None  # None: no NFC reader (nfc.kind = none)
    scanner: SerialScanner | None = None  # None: a keyboard wedge, or none
    touchscreen: Touchscreen | None = None


@dataclass
class Till:
    conn: aiosqlite.Connection
    identity: DeviceIdentity
    settings: Settings
    bus: EventBus
    capabilities: Capabilities
    devices: Devices
    background: Background
    access: AccessService
    staff: StaffService
    receipts: ReceiptService
    drawer: DrawerService
    sales: SalesService
    refunds: RefundService
    split: SplitTender
    shifts: ShiftService
    recovery: Recovery
    inputs: DeviceInputs
    light: ScreenLight
    provisioning: Provisioning
    printing: PrintWorker
    remote: RemoteActionService
    activity: TillActivity
    card: CardPayments | None = None
    bitcoin: BitcoinPayments | None = None
    mercadopago: MercadoPagoPayments | None = None
    usdt: BitcoinPayments | None = None  # USDT on TRON: the same checkouts, another chain
    # Set by the composition root: closes everything it opened, in reverse order.
    closer: Callable[[], Any] | None = None

    @property
    def currency(self) -> str:
        return self.sales.currency

    @property
    def clock(self) -> Callable[[], datetime]:
        """The UTC wall clock PIN lockouts are timed by (tests set one they move)."""
        return self.access.clock

    @clock.setter
    def clock(self, clock: Callable[[], datetime]) -> None:
        self.access.clock = clock

    @property
    def training(self) -> bool:
        return self.access.training

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def merchant_name(self) -> str:
        return self.settings.device.merchant_name

    async def shop_settings(self) -> DeviceSettings:
        """The shop's settings as central set them last (receipt lines, language), else as the
        settings file has them: the language the lock screen speaks, and staff without their
        own."""
        return await with_shop_settings(self.conn, self.settings.device)

    def watch_payment(self, sale_id: str, listener: Callable[[Status], None]) -> Callable[[], None]:
        """Hear every status of ``sale_id``'s bitcoin offer, as a pay screen does (the sale is
        watched meanwhile); returns the function that stops it."""
        assert self.bitcoin is not None, "bitcoin payments are not set up"
        unwatch = self.bitcoin.watch(sale_id)

        def heard(event: PaymentStatus) -> None:
            if event.status.sale_id == sale_id:
                listener(event.status)

        unsubscribe = self.bus.subscribe(PaymentStatus, heard)

        def stop() -> None:
            unsubscribe()
            unwatch()

        return stop

    def on_unwatched_payment(self, listener: Callable[[Status], None]) -> Callable[[], None]:
        """Hear every bitcoin payment that ends with no screen watching it (settled after a
        restart, late), including those held since the till started."""
        return self.bus.subscribe(UnwatchedPayment, lambda event: listener(event.status))

    async def settle(self) -> None:
        """Wait for the background work the services have started (device status writes)."""
        await self.background.settle()

    async def report_status(self) -> None:
        """Check the printer and leave its and the drawer's status for the uplink's
        heartbeat."""
        await self.receipts.report_status()
        await self.drawer.report_status()

    async def close(self) -> None:
        if self.closer is not None:
            closer, self.closer = self.closer, None
            await closer()
