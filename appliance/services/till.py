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

import aiosqlite

from appliance.config import Settings
from appliance.core.cart import Cart
from appliance.core.catalog import Product
from appliance.core.journal import Record
from appliance.core.money import Money
from appliance.core.receipt import Receipt
from appliance.core.sale import Payment, sale_body
from appliance.core.tender import change_due
from appliance.drivers.drawer import Drawer, drawer_from_settings
from appliance.drivers.printer import Printer, PrinterError, PrinterStatus, printer_from_settings
from appliance.services.printing import PrintWorker, receipt_from_record
from appliance.store import catalog, device, journal, outbox, print_queue, sales
from appliance.store.catalog import Staff
from appliance.store.db import open_db, transaction
from appliance.store.identity import DeviceIdentity, load_or_create_identity

__all__ = ["AuthError", "NothingToReprint", "SaleResult", "Staff", "Till"]

log = logging.getLogger(__name__)


class AuthError(PermissionError):
    """A PIN that matches nobody."""


class NothingToReprint(LookupError):
    """No sale has been recorded on this device yet."""


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
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.settings = settings
        self.printer = printer
        self.drawer = drawer
        p = settings.printer
        self.printing = PrintWorker(
            settings.database_path,
            printer,
            settings.device,
            retry_min_s=p.retry_min_ms / 1000,
            retry_max_s=p.retry_max_ms / 1000,
        )

    @classmethod
    async def open(cls, settings: Settings) -> Till:
        identity = load_or_create_identity(settings.data_dir)
        conn = await open_db(settings.database_path)
        try:
            await device.bind(conn, identity)
        except BaseException:
            await conn.close()
            raise
        try:
            printer = printer_from_settings(settings.printer)
            till = cls(
                conn, identity, settings, printer, drawer_from_settings(settings.drawer, printer)
            )
            await till.printing.start()  # receipts still queued from before a restart print now
        except BaseException:
            await conn.close()
            raise
        return till

    async def close(self) -> None:
        await self.printing.close()
        await self.conn.close()

    @property
    def currency(self) -> str:
        return self.settings.device.currency

    async def unlock(self, pin: str) -> Staff:
        staff = await catalog.staff_by_pin(self.conn, pin)
        if staff is None:
            raise AuthError("wrong PIN")
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
        # The commit queues the receipt too (a trigger of migration 0002).
        record = await sales.record_sale(self.conn, self.identity, body)
        receipt = receipt_from_record(record, self.settings.device)
        problems = []
        try:
            await self.drawer.open()
        except PrinterError as err:
            log.warning("drawer did not open", extra={"sale_id": sale_id, "error": str(err)})
            problems.append(f"Drawer did not open: {err}")
        problem = await self._receipt_outcome(record.seq)
        if problem:
            problems.append(problem)
        cart.clear()
        return SaleResult(sale_id, record, total, change, receipt, tuple(problems))

    async def _receipt_outcome(self, seq: int) -> str | None:
        """Let the print worker try the receipt record ``seq`` queued; say why if it did not
        print (it stays queued and prints once the printer is back)."""
        self.printing.wake()
        if not self.printing.state.problem and await print_queue.waiting_before(self.conn, seq):
            return None  # a healthy printer working through earlier receipts: no need to wait
        try:
            error = await self.printing.outcome(seq, self.settings.printer.timeout_s + 1.0)
        except TimeoutError:
            return "Receipt still printing: the printer is slow to answer"
        if error is None:
            return None
        log.warning("receipt not printed yet", extra={"journal_seq": seq, "error": error})
        return f"Receipt not printed: {error} (queued: it prints when the printer is back)"

    async def reprint_last(self, staff: Staff) -> Record:
        """Journal a reprint of the newest sale's receipt; the copy (marked COPY) is queued by
        the same INSERT and printed by the worker. Returns the ``reprint`` record."""
        seq = await print_queue.last_sale_seq(self.conn)
        if seq is None:
            raise NothingToReprint("no sale to reprint yet")
        sale = await journal.get(self.conn, seq)
        assert sale is not None
        body = {
            "sale_id": sale.body["sale_id"],
            "original_seq": seq,
            "staff": {"id": staff.id, "name": staff.name},
        }
        async with transaction(self.conn):
            record = await journal.append(self.conn, self.identity, "reprint", body)
        self.printing.wake()
        return record

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
