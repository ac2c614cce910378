"""Printing receipts from the persistent queue: one worker per till, in order, exactly once.

The queue (``store.print_queue``) is filled by the database itself when a sale or a reprint is
journaled. ``PrintWorker`` prints the oldest waiting job, marks it printed only when the printer
took every byte and reported afterwards that it is fine, and otherwise leaves it queued: it then
polls the printer's status with a growing delay (``retry_min_s`` doubling up to ``retry_max_s``)
and retries once the printer says it can print. ``wake()`` cuts a wait short (a new sale, a
reprint). Staff see the worker's ``state`` as a banner (each change is a ``PrinterChanged`` on
the event bus); the uplink's heartbeat sees the printer status the worker leaves in
``printer_status`` (store.outbox.PRINTER_STATUS).

The worker has its own database connection: its writes must never land inside a transaction that
the till has open on its connection.

Exactly once: a job is printed, then marked; a crash between the printer's last status answer and
the commit of the mark (a few milliseconds) prints that receipt again after the restart. A job is
never marked without the printer having said it is fine, so a receipt is never lost. So that a
receipt printed twice never makes two originals, each attempt first writes on its job that it is
on its way (``print_queue.mark_sending``); a job still saying so at its next attempt (the till
stopped mid-print) is printed as a COPY, "printed again after a restart" (a crash after that
mark but before any byte went out costs the customer an original: a copy instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from appliance.config import DeviceSettings
from appliance.core.receipt import Receipt, ReportPrintout
from appliance.core.refund import refund_receipt
from appliance.core.report import PeriodReport, report_sections
from appliance.core.sale import receipt_for
from appliance.core.words import moment_text
from appliance.drivers.printer import (
    CoverOpen,
    PaperOut,
    Printer,
    PrinterError,
    PrinterStatus,
    PrinterUnreachable,
)
from appliance.i18n import LANGUAGES, _, ngettext, translations
from appliance.services.events import Event, EventBus
from appliance.store import journal, outbox, print_queue
from appliance.store.db import open_db
from appliance.store.print_queue import PrintJob
from bitagora_protocol.journal import Record

log = logging.getLogger(__name__)

KEEP_OUTCOMES = 256


def local_time(utc_text: str) -> datetime:
    """A journal timestamp (UTC, as the device believed) in the device's local time."""
    at = datetime.strptime(utc_text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return at.astimezone()


async def with_shop_settings(conn: aiosqlite.Connection, device: DeviceSettings) -> DeviceSettings:
    """``device`` with the shop settings central set last (the newest ``receipt`` and
    ``language`` ``config`` records, docs/PROTOCOL.md 2.6): the receipt's header and footer
    lines, and the shop's language (which also picks the money's locale); each as the settings
    file has it where central set none."""
    record = await journal.last_config(conn, "receipt")
    value = record.body.get("value") if record is not None else None
    if isinstance(value, dict):
        header, footer = value.get("header_lines"), value.get("footer_lines")
        if isinstance(header, list) and isinstance(footer, list):
            device = replace(
                device, header_lines=tuple(map(str, header)), footer_lines=tuple(map(str, footer))
            )
    record = await journal.last_config(conn, "language")
    language = record.body.get("value") if record is not None else None
    if language in LANGUAGES:
        device = replace(device, language=language)
    return device


def receipt_from_record(
    sale: Record, device: DeviceSettings, reprint: Record | None = None
) -> Receipt:
    """The customer's receipt for a sale record (or a refund record: core.refund.refund_receipt);
    a copy when ``reprint`` (its record) is given."""
    render = refund_receipt if sale.kind == "refund" else receipt_for
    receipt = render(
        dict(sale.body),
        sale.seq,
        sale.sig,
        local_time(sale.at),
        device.merchant_name,
        device.header_lines,
        device.footer_lines,
        tr=translations(device.language),
        locale=device.money_locale,
    )
    receipt = replace(receipt, language=device.language)
    if reprint is None:
        return receipt
    return replace(
        receipt,
        copy=True,
        reprint_seq=reprint.seq,
        reprint_at_local=moment_text(local_time(reprint.at), device.money_locale),
    )


def x_printout(
    report: PeriodReport, device: DeviceSettings, at_local: datetime, staff: str
) -> ReportPrintout:
    """The printed X report: the open period's running totals. Not journalled, so it names no
    journal record and says that it resets nothing. In the shop's language."""
    tr = translations(device.language)
    return ReportPrintout(
        merchant=device.merchant_name,
        header_lines=device.header_lines,
        title=tr.gettext("X REPORT"),
        at_local=moment_text(at_local, device.money_locale),
        staff=staff,
        sections=report_sections(
            report.totals_body(),
            report.currency,
            report.expected_cash,
            tr=tr,
            locale=device.money_locale,
        ),
        notes=(tr.gettext("Not a closing: totals are not reset"),),
        language=device.language,
    )


def z_printout(record: Record, device: DeviceSettings) -> ReportPrintout:
    """The printed Z report, made only from its signed ``z_close`` record, in the shop's
    language."""
    tr = translations(device.language)
    body = record.body
    period = body["period"]
    return ReportPrintout(
        merchant=device.merchant_name,
        header_lines=device.header_lines,
        title=tr.gettext("Z REPORT #{number}").format(number=body["z_number"]),
        at_local=moment_text(local_time(record.at), device.money_locale),
        staff=str(body["staff"]["name"]),
        sections=report_sections(
            body["totals"],
            str(body["currency"]),
            int(body["expected_cash"]),
            counted=int(body["counted"]["total"]),
            grand_total=int(body["grand_total"]),
            tr=tr,
            locale=device.money_locale,
        ),
        period=tr.gettext("journal #{first}-#{last}").format(
            first=period["first_seq"], last=period["last_seq"]
        ),
        notes=(tr.gettext("Day closed: totals reset"),),
        journal_seq=record.seq,
        signature_short=record.sig[:16],
        language=device.language,
    )


def problem_text(err: PrinterError) -> str:
    """The banner's words for a failed job."""
    if isinstance(err, PaperOut):
        return _("Printer out of paper")
    if isinstance(err, CoverOpen):
        return _("Printer cover open")
    if isinstance(err, PrinterUnreachable):
        return _("Printer not reachable")
    return _("Printer offline")


def _receipts(n: int) -> str:
    return ngettext("{n} receipt waiting", "{n} receipts waiting", n).format(n=n)


@dataclass(frozen=True)
class PrinterState:
    """What the kiosk shows about the printer."""

    problem: str | None = None  # blocks printing: paper out, cover open, offline, unreachable
    warning: str | None = None  # printing works, but: paper running low
    waiting: int = 0  # receipts queued and not printed yet
    detail: str | None = None  # the last error, for technicians

    @property
    def banner(self) -> str | None:
        if self.problem:
            return f"{self.problem} — {_receipts(self.waiting)}" if self.waiting else self.problem
        if self.waiting:
            return _("Printing — {waiting}").format(waiting=_receipts(self.waiting))
        return self.warning


@dataclass(frozen=True)
class PrinterChanged(Event):
    """The print worker's state changed (published on the bus)."""

    state: PrinterState


class PrintWorker:
    def __init__(
        self,
        database_path: Path,
        printer: Printer,
        device: DeviceSettings,
        *,
        bus: EventBus | None = None,
        retry_min_s: float = 0.5,
        retry_max_s: float = 5.0,
    ) -> None:
        """Each new state is published on ``bus`` as ``PrinterChanged``."""
        self.database_path = database_path
        self.bus = bus if bus is not None else EventBus()
        self.printer = printer
        self.device = device
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.state = PrinterState()
        self.printed = 0  # jobs printed since start (for benchmarks and doctor)
        self._conn: aiosqlite.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._changed = asyncio.Condition()
        self._outcomes: dict[int, str | None] = {}  # journal seq -> None (printed) or error
        self._reported: dict[str, Any] | None = None
        # One job on the printer at a time: the queue's receipts and a one-off test page.
        self._printer_busy = asyncio.Lock()

    # -- owner's side ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            return
        self._conn = await open_db(self.database_path)
        self._task = asyncio.create_task(self._run(), name="print-worker")

    async def close(self) -> None:
        """Stop the worker (a job on the wire is abandoned and stays queued) and wait for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    def wake(self) -> None:
        """Look at the queue (and the printer) now rather than after the current wait."""
        self._wake.set()

    async def outcome(self, journal_seq: int, timeout: float) -> str | None:  # noqa: ASYNC109
        """Wait for the first attempt at the job a record queued: None once printed, else why
        it did not print (it stays queued). TimeoutError if no attempt ended in time."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: journal_seq in self._outcomes)
            return self._outcomes[journal_seq]

    async def wait_for(
        self,
        predicate: Callable[[PrinterState], bool],
        timeout: float = 10.0,  # noqa: ASYNC109
    ) -> PrinterState:
        """Wait until the state satisfies ``predicate``; TimeoutError names the state reached."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: predicate(self.state))
        except TimeoutError:
            raise TimeoutError(f"print worker: still {self.state} after {timeout}s") from None
        return self.state

    async def wait_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until no receipt is waiting (tests, benchmarks, shutdown of a demo)."""
        await self.wait_for(lambda state: state.waiting == 0, timeout)

    async def print_test_page(self) -> PrinterStatus:
        """The technician's test page (a remote test print), between two receipts of the queue,
        never inside one; PrinterError if it did not print. The status is reported as a
        receipt's is. It is no journal record, so no row of the queue: the remote action that
        asked for it is what persists (store/remote_actions.py)."""
        async with self._printer_busy:
            try:
                status = await self.printer.print_test_page()
            except PrinterError as err:
                await self._report(None, err)
                raise
        await self._report(status)
        return status

    # -- the worker ----------------------------------------------------------------------------

    async def _run(self) -> None:
        conn = self._conn
        assert conn is not None
        delay = self.retry_min_s
        while True:
            try:
                self._wake.clear()
                await self._count(conn)
                job = await print_queue.next_job(conn)
                if job is None:
                    await self._wake.wait()
                    continue
                try:
                    await print_queue.mark_sending(conn, job.job_id)
                    async with self._printer_busy:
                        status = await self._print(conn, job)
                except PrinterError as err:
                    await self._failed(conn, job, err)
                    await self._until_ready(conn, delay)
                    delay = min(delay * 2, self.retry_max_s)
                    continue
                delay = self.retry_min_s
                await print_queue.mark_printed(conn, job.job_id)
                self.printed += 1
                await self._publish(problem=None, warning=status.warning if status else None)
                await self._report(status)
                await self._settle(job.journal_seq, None)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug or a database error must not end printing for the day
                log.exception("print worker: unexpected error; retrying")
                await self._sleep(self.retry_max_s)

    async def _print(self, conn: aiosqlite.Connection, job: PrintJob) -> PrinterStatus | None:
        sale = await journal.get(conn, job.sale_seq)
        if sale is None:  # pragma: no cover - the foreign key makes this impossible
            raise RuntimeError(f"print job {job.job_id}: sale record {job.sale_seq} is missing")
        device = await with_shop_settings(conn, self.device)
        if sale.kind == "z_close":
            log.info("printing a Z report", extra={"sale_seq": job.sale_seq})
            return await self.printer.print_report(z_printout(sale, device))
        reprint = await journal.get(conn, job.journal_seq) if job.copy else None
        receipt = receipt_from_record(sale, device, reprint)
        if job.last_error == print_queue.INTERRUPTED and not receipt.copy:
            # An earlier attempt may have printed it: the customer has an original already.
            log.info("receipt printed again after a restart", extra={"sale_seq": job.sale_seq})
            now = moment_text(datetime.now(UTC).astimezone(), device.money_locale)
            receipt = replace(receipt, copy=True, reprint_at_local=now)
        log.info(
            "printing receipt",
            extra={"sale_seq": job.sale_seq, "journal_seq": job.journal_seq, "copy": receipt.copy},
        )
        return await self.printer.print_receipt(receipt)

    async def _failed(self, conn: aiosqlite.Connection, job: PrintJob, err: PrinterError) -> None:
        log.warning(
            "receipt not printed, kept in the queue",
            extra={"journal_seq": job.journal_seq, "error": str(err)},
        )
        await print_queue.mark_failed(conn, job.job_id, str(err))
        waiting = await print_queue.waiting(conn)
        await self._publish(problem=problem_text(err), detail=str(err), waiting=len(waiting))
        await self._report(None, err)
        for queued in waiting:  # everything behind the failed job waits as well
            await self._settle(queued.journal_seq, str(err), notify=False)
        async with self._changed:
            self._changed.notify_all()

    async def _until_ready(self, conn: aiosqlite.Connection, first_delay: float) -> None:
        """Poll the printer's status, the delay doubling, until it says it can print. Receipts
        queued meanwhile learn at the next poll why they wait."""
        delay = first_delay
        while True:
            await self._sleep(delay)
            try:
                status = await self.printer.status()
            except PrinterError as err:
                await self._publish(problem=problem_text(err), detail=str(err))
                await self._report(None, err)
                why = str(err)
            else:
                await self._report(status)
                if status.ready:
                    return
                await self._publish(problem=status.problem, warning=status.warning)
                why = status.problem or "printer not ready"
            for queued in await print_queue.waiting(conn):
                if queued.journal_seq not in self._outcomes:
                    await self._settle(queued.journal_seq, why)
            delay = min(delay * 2, self.retry_max_s)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, or less if woken."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        self._wake.clear()

    async def _count(self, conn: aiosqlite.Connection) -> None:
        waiting = (await print_queue.summary(conn)).waiting
        if waiting != self.state.waiting:
            await self._publish(waiting=waiting)

    async def _settle(self, journal_seq: int, outcome: str | None, notify: bool = True) -> None:
        self._outcomes[journal_seq] = outcome
        while len(self._outcomes) > KEEP_OUTCOMES:
            del self._outcomes[next(iter(self._outcomes))]
        if notify:
            async with self._changed:
                self._changed.notify_all()

    async def _publish(self, **changes: Any) -> None:
        if "waiting" not in changes and self._conn is not None:
            changes["waiting"] = (await print_queue.summary(self._conn)).waiting
        state = replace(self.state, **changes)
        if state.problem is None:
            state = replace(state, detail=None)
        if state == self.state:
            return
        self.state = state
        self.bus.publish(PrinterChanged(state))
        async with self._changed:
            self._changed.notify_all()

    async def _report(self, status: PrinterStatus | None, err: PrinterError | None = None) -> None:
        """Leave the printer's status where the uplink's heartbeat reads it (when it changed)."""
        if status is None:
            if err is None:
                return
            status = PrinterStatus.after(err)
        printer = status.reported()
        if printer == self._reported or self._conn is None:
            return
        try:
            await outbox.set_state(self._conn, outbox.PRINTER_STATUS, json.dumps(printer))
            self._reported = printer
        except aiosqlite.Error as error:  # advisory: never let it stop printing
            log.warning("device status not recorded", extra={"error": str(error)})
