"""The composition root: builds the kiosk's till from Settings, lazily.

Only what the settings enable is imported and built: no card reader, no Stripe library; no
wallet and no Lightning node, no embit or pyln. Everything opened is registered on one
``contextlib.AsyncExitStack`` and closed in reverse order by ``Till.close`` (or on leaving
``till_from``). The drivers' ``*_from_settings`` factories live here, so drivers take plain
values and never read the configuration.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from appliance.config import (
    DrawerSettings,
    NfcSettings,
    PrinterSettings,
    ScannerSettings,
    Settings,
    TouchSettings,
    parse_usb_id,
)
from appliance.core.lockout import utc_now
from appliance.services.access import AccessService
from appliance.services.activity import TillActivity
from appliance.services.background import Background
from appliance.services.checkpoints import Checkpoints
from appliance.services.devices import DeviceInputs, ScreenLight
from appliance.services.drawer import DrawerService, DrawerWatch
from appliance.services.events import EventBus, PaymentStatus, UnwatchedPayment
from appliance.services.printing import PrintWorker
from appliance.services.provisioning import ProvisionStatus
from appliance.services.receipts import ReceiptService
from appliance.services.recovery import Recovery
from appliance.services.refunds import RefundService
from appliance.services.remote_actions import RemoteActionService
from appliance.services.sales import SalesService
from appliance.services.shift import ShiftService
from appliance.services.split import PaymentHooks, SplitTender
from appliance.services.staff import StaffService
from appliance.services.till import Capabilities, Devices, Till
from appliance.store import catalog_versions, device
from appliance.store.db import BACKSTOP_CHECKPOINT_PAGES, open_db
from appliance.store.identity import load_or_create_identity

if TYPE_CHECKING:
    from appliance.drivers.drawer import Drawer
    from appliance.drivers.nfc import NfcReader
    from appliance.drivers.printer import EscposPrinter, Printer
    from appliance.drivers.scanner import SerialScanner
    from appliance.drivers.touch import Touchscreen

__all__ = [
    "Capabilities",
    "Till",
    "drawer_from_settings",
    "nfc_from_settings",
    "open_till",
    "printer_from_settings",
    "scanner_from_settings",
    "till_from",
    "touchscreen_from_settings",
]


# -- drivers from settings ---------------------------------------------------------------------


def printer_from_settings(settings: PrinterSettings) -> EscposPrinter:
    """The printer the settings describe (checked already by ``PrinterSettings.check``)."""
    from appliance.drivers import printer as p

    s = settings
    common: dict[str, Any] = {
        "width_chars": s.width_chars,
        "profile": s.profile or None,
        "timeout": float(s.timeout_s),
    }
    if s.kind == "usb":
        return p.EscposUsbPrinter(
            parse_usb_id("printer.usb_vendor_id", s.usb_vendor_id),
            parse_usb_id("printer.usb_product_id", s.usb_product_id),
            in_ep=parse_usb_id("printer.usb_in_ep", s.usb_in_ep),
            out_ep=parse_usb_id("printer.usb_out_ep", s.usb_out_ep),
            **common,
        )
    if s.kind == "serial":
        return p.EscposSerialPrinter(s.serial_port, s.serial_baudrate, s.serial_flow, **common)
    if s.kind == "file":
        return p.EscposFilePrinter(s.file_path, **common)
    return p.EscposNetworkPrinter(s.host, s.port, **common)


def drawer_from_settings(settings: DrawerSettings, printer: Printer) -> Drawer:
    from appliance.drivers import drawer as d

    if settings.kind == "none":
        return d.NoDrawer()
    if settings.kind == "gpio":
        return d.GpioDrawer(
            settings.gpio_pin,
            pulse_ms=settings.on_ms,
            active_high=settings.active_level == "high",
            sensor_pin=settings.sensor_pin or None,
            sensor_pull=settings.sensor_pull,
            sensor_open_high=settings.sensor_open_level == "high",
            pin_factory=settings.pin_factory or None,
        )
    return d.PrinterKickDrawer(printer, settings.pin, settings.on_ms, settings.off_ms)


def nfc_from_settings(settings: NfcSettings) -> NfcReader:
    from appliance.drivers import nfc

    if settings.kind == "pn532":
        return nfc.Pn532Reader(settings.port, settings.baudrate, settings.timeout_s)
    return nfc.NoNfcReader()


def scanner_from_settings(settings: ScannerSettings) -> SerialScanner | None:
    """The scanner the till must read itself, or None for a keyboard wedge (the screen reads
    its keys)."""
    if settings.kind != "serial":
        return None
    from appliance.drivers.scanner import SerialScanner

    return SerialScanner(settings.port, settings.baudrate)


def touchscreen_from_settings(settings: TouchSettings) -> Touchscreen | None:
    """The touchscreen the kiosk reads itself, or None ("" = no touchscreen)."""
    if not settings.device:
        return None
    from appliance.drivers.touch import Calibration, Touchscreen

    s = settings
    calibration = Calibration(
        s.min_x, s.max_x, s.min_y, s.max_y, s.swap_xy, s.invert_x, s.invert_y, s.slop_pct
    )
    return Touchscreen(s.device, calibration, s.event_size)


class DeviceProvisioning:
    """``services.provisioning.Provisioning`` over the data directory's ``provision.json``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def status(self) -> ProvisionStatus | None:
        from appliance.provision.status import read_status

        return read_status(self.data_dir)

    async def retry(self) -> ProvisionStatus:
        # Imported here: enrollment's HTTP client and the doctor are not needed to start selling.
        from appliance.provision.apply import retry_enrollment

        return await retry_enrollment(self.data_dir)


# -- the till ------------------------------------------------------------------------------------


async def open_till(
    settings: Settings,
    *,
    print_worker: bool = True,
    clock: Callable[[], datetime] = utc_now,
) -> Till:
    """Open the store, build the drivers and the services the settings enable, start the
    workers. ``print_worker=False`` for a tool beside a running kiosk (the doctor): one print
    worker and one payment watcher per store, or receipts would print twice. ``Till.close``
    closes everything."""
    stack = contextlib.AsyncExitStack()
    async with stack:
        till = await _build(stack, settings, print_worker, clock)
        till.closer = stack.pop_all().aclose
    return till


@contextlib.asynccontextmanager
async def till_from(settings: Settings, **options: Any) -> AsyncIterator[Till]:
    till = await open_till(settings, **options)
    try:
        yield till
    finally:
        await till.close()


async def _build(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    print_worker: bool,
    clock: Callable[[], datetime],
) -> Till:
    identity = load_or_create_identity(settings.data_dir)
    conn = await open_db(settings.database_path, BACKSTOP_CHECKPOINT_PAGES)
    stack.push_async_callback(conn.close)
    await device.bind(conn, identity)
    if print_worker:
        # The catalog the tables hold is a recorded version before the first sale (a tool
        # beside a running kiosk leaves that to the kiosk).
        await catalog_versions.ensure_recorded(conn, identity, settings.device.currency)

    bus = EventBus()
    background = Background()
    printer = printer_from_settings(settings.printer)
    drawer_device = drawer_from_settings(settings.drawer, printer)
    scanner = scanner_from_settings(settings.scanner)
    nfc = nfc_from_settings(settings.nfc) if settings.nfc.kind != "none" else None
    if nfc is not None:
        stack.push_async_callback(nfc.close)
    touchscreen = touchscreen_from_settings(settings.touch)
    backlight = None
    if settings.touch.backlight:
        from appliance.drivers.backlight import Backlight

        backlight = Backlight(settings.touch.backlight)

    access = AccessService(conn, identity, clock)
    staff = StaffService(conn, identity, access)
    p = settings.printer
    worker = PrintWorker(
        settings.database_path,
        printer,
        settings.device,
        bus=bus,
        retry_min_s=p.retry_min_ms / 1000,
        retry_max_s=p.retry_max_ms / 1000,
    )
    receipts = ReceiptService(conn, identity, access, printer, worker, float(p.timeout_s))
    watch = DrawerWatch(drawer_device, settings.drawer.open_warn_s, bus)
    drawer = DrawerService(conn, identity, drawer_device, watch, access, background)

    card = None
    if print_worker and settings.card.enabled:
        from appliance.payments.card import CardPayments

        card = CardPayments(settings.card, conn)
    mercadopago = None
    if print_worker and settings.mercadopago.enabled:
        from appliance.payments.mercadopago import MercadoPagoPayments

        mercadopago = MercadoPagoPayments(settings.mercadopago, conn)

    checkpoints = Checkpoints(conn)
    checkpoints.start()
    stack.push_async_callback(checkpoints.close)
    sales = SalesService(
        conn, identity, settings.device, access, drawer, receipts, background, checkpoints,
        card, settings.card.capture,
    )  # fmt: skip
    sales.mercadopago = mercadopago
    refunds = RefundService(conn, identity, access, drawer, receipts, card)
    refunds.mercadopago = mercadopago
    split = SplitTender(conn, identity, access, sales, drawer, refunds, card)
    shifts = ShiftService(conn, identity, settings.device, access, drawer, receipts)
    recovery = Recovery(conn, sales, split, card)
    inputs = DeviceInputs(bus, scanner, nfc, touchscreen)
    stack.push_async_callback(inputs.close)

    await access.load()
    await drawer.start()
    stack.push_async_callback(drawer_device.close)
    bitcoin = usdt = None
    if print_worker:
        await worker.start()  # receipts still queued from a restart print now
        stack.push_async_callback(worker.close)
        if card is not None:
            stack.push_async_callback(card.close)
        stack.push_async_callback(recovery.close)
        stack.push_async_callback(background.close)
        # Only beside the print worker: one watcher of payments per store.
        if settings.onchain.enabled or settings.lightning.kind != "none":
            from appliance.payments.bitcoin import BitcoinPayments

            def publish(status: Any, watched: bool) -> None:
                bus.publish(PaymentStatus(status) if watched else UnwatchedPayment(status))

            hooks = PaymentHooks(access, sales, split)
            bitcoin = BitcoinPayments.from_settings(conn, identity, settings, hooks, publish)
            if bitcoin is not None:
                split.bitcoin = bitcoin
                await bitcoin.start()
                # First at close: a payment settling now finishes its sale.
                stack.push_async_callback(bitcoin.close)
        if settings.tron.enabled:  # the same checkout machinery over TronGrid
            from appliance.payments.bitcoin import BitcoinPayments

            def publish_usdt(status: Any, watched: bool) -> None:
                bus.publish(PaymentStatus(status) if watched else UnwatchedPayment(status))

            usdt = BitcoinPayments.usdt_from_settings(
                conn, identity, settings, PaymentHooks(access, sales, split), publish_usdt
            )
            if usdt is not None:
                split.usdt = usdt
                await usdt.start()
                stack.push_async_callback(usdt.close)
        recovery.start()
    else:
        stack.push_async_callback(background.close)
    stack.callback(drawer.stop_watching)

    capabilities = Capabilities(
        printer=True,
        drawer=drawer.present,
        nfc=nfc is not None,
        scanner=scanner is not None,
        touch=touchscreen is not None,
        backlight=backlight is not None,
        card=card is not None,
        bitcoin=bitcoin is not None,
        bitcoin_rails=bitcoin.rails if bitcoin is not None else (),
        mercadopago=tuple(sorted(mercadopago.methods)) if mercadopago is not None else (),
        usdt=usdt is not None,
    )
    return Till(
        conn=conn,
        identity=identity,
        settings=settings,
        bus=bus,
        capabilities=capabilities,
        devices=Devices(printer, drawer_device, nfc, scanner, touchscreen),
        background=background,
        access=access,
        staff=staff,
        receipts=receipts,
        drawer=drawer,
        sales=sales,
        refunds=refunds,
        split=split,
        shifts=shifts,
        recovery=recovery,
        inputs=inputs,
        light=ScreenLight(backlight),
        provisioning=DeviceProvisioning(settings.data_dir),
        printing=worker,
        remote=RemoteActionService(conn, receipts, drawer),
        activity=TillActivity(conn),
        card=card,
        bitcoin=bitcoin,
        mercadopago=mercadopago,
        usdt=usdt,
    )
