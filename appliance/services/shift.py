"""Shifts: the opening float, paid-in / paid-out, the X report and the Z closing.

Over the till's connection and identity, so records chain like every other; roles and lockouts
are checked here (``AccessService.authorize``), whichever UI drives it:

- ``open_shift``: ``sell`` (the cashier who starts the day puts the float in); refused while a
  shift is open (one since the last Z).
- ``paid_in`` / ``paid_out``: ``paid_in_out`` (managers).
- ``x_report``: ``x_report``; ``z_close`` (and the drawer opening for the count): ``z_close``.

Drawer openings, each recorded first like every opening (core/drawer.py): ``float`` after a
``shift_open``, ``paid_in``/``paid_out`` after a ``paid_in_out``, ``count`` before a Z.

X reports are not journaled: they change nothing and print nothing an auditor relies on; what
an auditor needs of a day (its totals, the count and its difference) is in the signed ``z_close``,
and a marker per X would only add records that a busy till prints many times an hour.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiosqlite

from appliance.config import DeviceSettings
from appliance.core.report import PeriodReport, ReportError, count_total, period_report
from appliance.i18n import _
from appliance.services.access import AccessService
from appliance.services.drawer import DrawerOpening, DrawerService
from appliance.services.printing import local_time, with_shop_settings, x_printout
from appliance.services.receipts import ReceiptService
from appliance.store import journal
from appliance.store import shifts as shift_store
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.journal import Record, utc_now
from bitagora_protocol.money import Money

log = logging.getLogger(__name__)


class ShiftError(RuntimeError):
    """A shift action that does not fit the journal's state (shift already open, nothing to
    close, a Z already written for this period)."""


class UnconfirmedDifference(ShiftError):
    """A Z whose count differs from the expected cash by other than the difference the caller
    confirmed: nothing was written. ``str()`` is the question to put to the manager."""

    def __init__(self, counted: int, expected: int, currency: str) -> None:
        self.counted, self.expected, self.currency = counted, expected, currency
        super().__init__(difference_question(counted, expected, currency))

    @property
    def difference(self) -> int:
        return self.counted - self.expected


def difference_question(
    counted: int, expected: int, currency: str, money: Callable[[Money], str] = Money.format
) -> str:
    """ "Counted €0.00, expected €100.00: close with €100.00 short?" ("" when they agree), in
    the UI's language, amounts written by ``money``."""
    difference = counted - expected
    if not difference:
        return ""
    question = (
        _("Counted {counted}, expected {expected}: close with {difference} short?")
        if difference < 0
        else _("Counted {counted}, expected {expected}: close with {difference} over?")
    )
    return question.format(
        counted=money(Money(counted, currency)),
        expected=money(Money(expected, currency)),
        difference=money(Money(abs(difference), currency)),
    )


@dataclass(frozen=True)
class ZResult:
    record: Record
    problems: tuple[str, ...] = ()


def _who(staff: Staff) -> dict[str, str]:
    return {"id": staff.id, "name": staff.name}


class ShiftService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        device: DeviceSettings,
        access: AccessService,
        drawer: DrawerService,
        receipts: ReceiptService,
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.device = device
        self.access = access
        self.drawer = drawer
        self.receipts = receipts

    @property
    def currency(self) -> str:
        return self.device.currency

    async def current(self) -> PeriodReport:
        """The running totals of the open period (what an X shows)."""
        return period_report(await shift_store.records_since_last_z(self.conn), self.currency)

    async def shift_open(self) -> bool:
        """Whether a shift was opened since the last Z (the kiosk asks at every unlock)."""
        return await shift_store.shift_open(self.conn)

    async def open_shift(self, staff: Staff, float_: Money) -> Record:
        await self.access.authorize(staff, "sell")
        self._same_currency(float_)
        if float_.minor < 0:
            raise ReportError("a float cannot be negative")
        body = {
            "shift_id": str(uuid.uuid4()),
            "float": {"minor": float_.minor, "currency": float_.currency},
            "staff": _who(staff),
        }
        async with transaction(self.conn):
            if await self.shift_open():
                raise ShiftError("a shift is already open: close it with a Z first")
            record = await journal.append(self.conn, self.identity, "shift_open", body)
        log.info("shift opened", extra={"seq": record.seq, "staff": staff.id})
        await self._drawer("float", staff)
        return record

    async def paid_in(self, staff: Staff, amount: Money, reason: str) -> Record:
        return await self._paid("in", staff, amount, reason)

    async def paid_out(self, staff: Staff, amount: Money, reason: str) -> Record:
        return await self._paid("out", staff, amount, reason)

    async def _paid(self, direction: str, staff: Staff, amount: Money, reason: str) -> Record:
        await self.access.authorize(staff, "paid_in_out")
        self._same_currency(amount)
        if amount.minor <= 0:
            raise ReportError("a paid-in or paid-out amount must be more than zero")
        if not reason.strip():
            raise ReportError("a paid-in or paid-out needs a reason")
        body = {
            "direction": direction,
            "amount": {"minor": amount.minor, "currency": amount.currency},
            "reason": reason.strip(),
            "staff": _who(staff),
        }
        async with transaction(self.conn):
            record = await journal.append(self.conn, self.identity, "paid_in_out", body)
        await self._drawer(f"paid_{direction}", staff)
        return record

    async def x_report(
        self, staff: Staff, print_it: bool = True
    ) -> tuple[PeriodReport, str | None]:
        """The running totals, nothing reset; printed when ``print_it``. Returns the report and
        the printing problem, if any (the report stands either way)."""
        await self.access.authorize(staff, "x_report")
        report = await self.current()
        if not print_it:
            return report, None
        device = await with_shop_settings(self.conn, self.device)
        printout = x_printout(report, device, local_time(utc_now()), staff.name)
        try:
            await self.receipts.print_now(printout)
        except Exception as err:  # a printer problem never loses the report: it is on screen
            log.warning("X report not printed", extra={"error": str(err)})
            return report, f"X report not printed: {err}"
        return report, None

    async def open_drawer_for_count(self, staff: Staff) -> DrawerOpening | None:
        await self.access.authorize(staff, "z_close")
        return await self._drawer("count", staff)

    async def z_close(
        self, staff: Staff, counted: Mapping[int, int], accept_difference: int = 0
    ) -> ZResult:
        """Close the period: count (denomination in minor units → pieces) against expected cash,
        write the ``z_close`` record (it queues its own printout). ShiftError when nothing was
        recorded since the last Z (a second Z for the same period, or a retry).

        A Z is sealed for good, so a drawer that is short or over is closed only with that
        difference confirmed: ``accept_difference`` (counted − expected, minor units) must be
        the difference found, or nothing is written and ``UnconfirmedDifference`` says what to
        ask ("Counted €0.00, expected €100.00: close with €100.00 short?"). Checked against the
        expected cash read in the same transaction as the Z, so a difference confirmed before a
        late record changed it is asked again."""
        await self.access.authorize(staff, "z_close")
        counted_total = count_total(self.currency, counted)
        async with transaction(self.conn):
            records = await shift_store.records_since_last_z(self.conn)
            report = period_report(records, self.currency)
            if report.first_seq is None or report.last_seq is None:
                raise ShiftError("nothing recorded since the last Z: this period is closed")
            if counted_total - report.expected_cash != accept_difference:
                raise UnconfirmedDifference(counted_total, report.expected_cash, self.currency)
            z_number = await shift_store.next_z_number(self.conn)
            body: dict[str, Any] = {
                "z_number": z_number,
                "currency": self.currency,
                "period": {
                    "first_seq": report.first_seq,
                    "last_seq": report.last_seq,
                    "from": report.from_at,
                    "to": report.to_at,
                },
                "totals": report.totals_body(),
                "counted": {
                    "denominations": {str(v): n for v, n in sorted(counted.items()) if n},
                    "total": counted_total,
                },
                "expected_cash": report.expected_cash,
                "difference": counted_total - report.expected_cash,
                "grand_total": report.grand_total,
                "staff": _who(staff),
            }
            record = await journal.append(self.conn, self.identity, "z_close", body)
        log.info("Z closed", extra={"seq": record.seq, "z_number": z_number})
        problem = await self.receipts.outcome(record.seq)
        return ZResult(record, (problem,) if problem else ())

    def _same_currency(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise ReportError(f"this till counts in {self.currency}, not {amount.currency}")

    async def _drawer(self, reason: str, staff: Staff) -> DrawerOpening | None:
        """Open the drawer (recorded first); None on a till without one."""
        return await self.drawer.open_for(reason, staff)
