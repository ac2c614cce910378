"""The till: what the kiosk screens ask for, over the store and the drivers.

Screens call these methods and never touch the database or a device directly, so every rule
(who may sell, what a finished sale writes, what happens when the printer fails) lives here and
holds whichever UI drives it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

import aiosqlite

from appliance.config import Settings
from appliance.core.cart import Cart
from appliance.core.catalog import Product
from appliance.core.journal import Record
from appliance.core.money import Money
from appliance.core.receipt import Receipt
from appliance.core.sale import Payment, receipt_for, sale_body
from appliance.core.tender import change_due
from appliance.drivers.drawer import Drawer, drawer_from_settings
from appliance.drivers.nfc import NfcReader, NoNfcReader, nfc_from_settings
from appliance.drivers.printer import EscposNetworkPrinter, Printer, PrinterError, PrinterStatus
from appliance.store import catalog, device, outbox, sales
from appliance.store.catalog import Staff
from appliance.store.db import open_db
from appliance.store.identity import DeviceIdentity, load_or_create_identity

__all__ = ["AuthError", "SaleResult", "Staff", "Till"]

log = logging.getLogger(__name__)


class AuthError(PermissionError):
    """A PIN or a badge that matches nobody."""


@dataclass(frozen=True)
class SaleResult:
    sale_id: str
    record: Record
    total: Money
    change: Money
    receipt: Receipt
    # What went wrong after the sale was committed (printer, drawer): shown, never fatal.
    problems: tuple[str, ...] = field(default_factory=tuple)


class Till:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        settings: Settings,
        printer: Printer,
        drawer: Drawer,
        nfc: NfcReader | None = None,
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.settings = settings
        self.printer = printer
        self.drawer = drawer
        self.nfc: NfcReader = nfc if nfc is not None else NoNfcReader()

    @classmethod
    async def open(cls, settings: Settings) -> Till:
        identity = load_or_create_identity(settings.data_dir)
        conn = await open_db(settings.database_path)
        try:
            await device.bind(conn, identity)
        except BaseException:
            await conn.close()
            raise
        p = settings.printer
        printer = EscposNetworkPrinter(
            p.host,
            p.port,
            width_chars=p.width_chars,
            profile=p.profile or None,
            timeout=p.timeout_s,
        )
        return cls(
            conn,
            identity,
            settings,
            printer,
            drawer_from_settings(settings.drawer, printer),
            nfc_from_settings(settings.nfc),
        )

    async def close(self) -> None:
        try:
            await self.nfc.close()
        finally:
            await self.conn.close()

    @property
    def currency(self) -> str:
        return self.settings.device.currency

    async def unlock(self, pin: str) -> Staff:
        staff = await catalog.staff_by_pin(self.conn, pin)
        if staff is None:
            raise AuthError("wrong PIN")
        return staff

    async def unlock_badge(self, uid: str) -> Staff:
        """The staff member whose badge was tapped (UID as the NFC reader reports it)."""
        staff = await catalog.staff_by_badge(self.conn, uid)
        if staff is None:
            raise AuthError("unknown badge")
        return staff

    async def products(self) -> list[Product]:
        return [p for p in await catalog.products(self.conn) if p.price.currency == self.currency]

    async def product_for_barcode(self, code: str) -> Product | None:
        return await catalog.product_by_barcode(self.conn, code)

    def new_cart(self) -> Cart:
        return Cart(self.currency)

    async def pay_cash(self, cart: Cart, staff: Staff, tendered: Money) -> SaleResult:
        """Commit a cash sale, then open the drawer and print; device trouble is reported."""
        total = cart.totals().total
        change = change_due(total, tendered)
        sale_id = str(uuid.uuid4())
        body = sale_body(
            sale_id,
            cart,
            staff.id,
            staff.name,
            [Payment("cash", total, tendered=tendered, change=change)],
        )
        record = await sales.record_sale(self.conn, self.identity, body)
        device = self.settings.device
        receipt = receipt_for(
            body,
            record.seq,
            record.sig,
            datetime.now().astimezone(),
            device.merchant_name,
            device.header_lines,
            device.footer_lines,
        )
        problems = []
        try:
            await self.drawer.open()
        except PrinterError as err:
            log.warning("drawer did not open", extra={"sale_id": sale_id, "error": str(err)})
            problems.append(f"Drawer did not open: {err}")
        try:
            await self.printer.print_receipt(receipt)
        except PrinterError as err:
            log.warning("receipt not printed", extra={"sale_id": sale_id, "error": str(err)})
            problems.append(f"Receipt not printed: {err}")
        cart.clear()
        try:
            await self.report_status()
        except (aiosqlite.Error, OSError) as err:  # the sale is committed; status is advisory
            log.warning("device status not recorded", extra={"error": str(err)})
            problems.append(f"Device status not recorded: {err}")
        return SaleResult(sale_id, record, total, change, receipt, tuple(problems))

    async def printer_status(self) -> PrinterStatus | None:
        try:
            return await self.printer.status()
        except PrinterError:
            return None

    async def report_status(self) -> PrinterStatus | None:
        """Check the printer and leave its status where the uplink's heartbeat reads it."""
        status = await self.printer_status()
        printer = (
            {"online": status.online, "paper": status.paper}
            if status
            else {"online": False, "paper": "unknown"}
        )
        await outbox.set_state(self.conn, "device_status", json.dumps({"printer": printer}))
        return status
