"""Receipts: what became of a record's printout, reprints, the printer's status and one-off
printouts (an X report). The print worker (services/printing.py) prints the persistent queue."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import aiosqlite

from appliance.core.receipt import ReportPrintout
from appliance.drivers.printer import PrinterStatus
from appliance.services.access import AccessService
from appliance.services.printing import PrinterState, PrintWorker
from appliance.store import journal, outbox, print_queue
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.journal import Record

if TYPE_CHECKING:
    from appliance.drivers.printer import Printer, PrinterStatus

__all__ = ["NothingToReprint", "PrinterState", "ReceiptService"]

log = logging.getLogger(__name__)


class NothingToReprint(LookupError):
    """No sale has been recorded on this device yet."""


class ReceiptService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        access: AccessService,
        printer: Printer,
        worker: PrintWorker,
        timeout_s: float,
    ) -> None:
        """``timeout_s``: how long the printer may take to answer (printer.timeout_s)."""
        self.conn = conn
        self.identity = identity
        self.access = access
        self.printer = printer
        self.worker = worker
        self.timeout_s = timeout_s

    @property
    def state(self) -> PrinterState:
        """What the kiosk shows about the printer (each change: ``PrinterChanged``)."""
        return self.worker.state

    async def outcome(self, seq: int) -> str | None:
        """Let the print worker try the receipt record ``seq`` queued; say why if it did not
        print (it stays queued and prints once the printer is back)."""
        self.worker.wake()
        known = self.worker.state.problem
        if known:
            # The printer is already known to be down: a paid customer must not wait on yet
            # another attempt (up to printer.timeout_s + 1 on a printer that is off).
            return f"Receipt not printed: {known} (queued: it prints when the printer is back)"
        if await print_queue.waiting_before(self.conn, seq):
            return None  # a healthy printer working through earlier receipts: no need to wait
        try:
            error = await self.worker.outcome(seq, self.timeout_s + 1.0)
        except TimeoutError:
            return "Receipt still printing: the printer is slow to answer"
        if error is None:
            return None
        log.warning("receipt not printed yet", extra={"journal_seq": seq, "error": error})
        return f"Receipt not printed: {error} (queued: it prints when the printer is back)"

    async def reprint_last(self, staff: Staff) -> Record:
        """Journal a reprint of the newest sale's receipt; the copy (marked COPY) is queued by
        the same INSERT and printed by the worker. Returns the ``reprint`` record."""
        await self.access.authorize(staff, "reprint")
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
        self.worker.wake()
        return record

    async def print_now(self, printout: ReportPrintout) -> None:
        """Print a report at once, outside the queue (an X); PrinterError if not."""
        await self.printer.print_report(printout)

    async def print_test_page(self) -> PrinterStatus:
        """The printer's test page, through the print worker (never inside a receipt);
        PrinterError if not."""
        return await self.worker.print_test_page()

    async def printer_status(self) -> PrinterStatus | None:
        from appliance.drivers.printer import PrinterError

        try:
            return await self.printer.status()
        except PrinterError:
            return None

    async def report_status(self) -> PrinterStatus | None:
        """Check the printer and leave its status where the uplink's heartbeat reads it."""
        status = await self.printer_status()
        unknown = PrinterStatus(False, "unknown", known=False)
        printer = (status or unknown).reported()
        await outbox.set_state(self.conn, outbox.PRINTER_STATUS, json.dumps(printer))
        return status
