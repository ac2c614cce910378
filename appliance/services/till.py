"""The till: what the kiosk screens ask for, over the store and the drivers.

Screens call these methods and never touch the database or a device directly, so every rule
(who may sell, what a finished sale writes, what happens when the printer fails) lives here and
holds whichever UI drives it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from appliance.config import Settings
from appliance.core import barcode
from appliance.core.barcode import BarcodeError
from appliance.core.cart import Cart
from appliance.core.catalog import Product
from appliance.core.drawer import drawer_open_body
from appliance.core.lockout import TILL, LockedOut, LockoutPolicy, staff_subject, utc_now
from appliance.core.receipt import Receipt
from appliance.core.roles import Action, AuthError, NotAuthorized, allowed, require
from appliance.core.sale import Payment, cart_body, sale_body, with_payments
from appliance.core.tender import change_due
from appliance.drivers.drawer import Drawer, DrawerError, drawer_from_settings
from appliance.drivers.nfc import NfcReader, NoNfcReader, nfc_from_settings
from appliance.drivers.printer import Printer, PrinterError, PrinterStatus, printer_from_settings
from appliance.drivers.scanner import SerialScanner, scanner_from_settings
from appliance.payments.bitcoin import BitcoinPayments
from appliance.payments.card import CardAttempt, CardOutcome, CardPayments, CardUnavailable
from appliance.services.drawer import DrawerState, DrawerWatch
from appliance.services.printing import PrintWorker, receipt_from_record
from appliance.services.recovery import settle_after_restart
from appliance.services.split import SplitTender
from appliance.store import catalog, device, journal, lockout, outbox, print_queue, sales
from appliance.store import drawer as drawer_store
from appliance.store.catalog import Staff
from appliance.store.db import BACKSTOP_CHECKPOINT_PAGES, checkpoint, open_db, transaction
from appliance.store.identity import DeviceIdentity, load_or_create_identity
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

__all__ = [
    "AuthError",
    "BarcodeError",
    "DrawerError",
    "DrawerOpening",
    "DrawerState",
    "LockedOut",
    "NotAuthorized",
    "NothingToReprint",
    "SaleResult",
    "Staff",
    "Till",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrawerOpening:
    """A recorded drawer opening; ``problem`` says why the drawer may not have opened."""

    record: Record
    problem: str | None = None


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

    @property
    def method(self) -> str:
        """How the sale was paid ("cash", "card", "lightning", "onchain"; "split" for a sale
        paid in parts)."""
        payments = self.record.body["payments"]
        return str(payments[0]["method"]) if len(payments) == 1 else "split"


class Till:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        settings: Settings,
        printer: Printer,
        drawer: Drawer,
        scanner: SerialScanner | None = None,
        nfc: NfcReader | None = None,
        clock: Callable[[], datetime] = utc_now,
        lockout_policy: LockoutPolicy | None = None,
    ) -> None:
        """``scanner``: a scanner the kiosk reads itself (serial); None for a keyboard wedge,
        which the sell screen reads from its keys. The app runs ``scanner.run``.

        ``clock``: the UTC wall clock PIN lockouts are timed by (core/lockout.py says why not a
        monotonic one); tests pass one they move."""
        self.conn = conn
        self.clock = clock
        self.lockout_policy = lockout_policy or LockoutPolicy()
        self.identity = identity
        self.settings = settings
        self.printer = printer
        self.drawer = drawer
        self.scanner = scanner
        self.nfc: NfcReader = nfc if nfc is not None else NoNfcReader()
        self.drawer_watch = DrawerWatch(drawer, settings.drawer.open_warn_s)
        # Bitcoin payments, when a wallet or a Lightning node is configured (``Till.open``).
        self.bitcoin: BitcoinPayments | None = None
        # Training mode: practice sales, marked as such everywhere (``set_training``).
        self.training = False
        # Card payments, when ``[card] kind`` names a reader (``Till.open``).
        self.card: CardPayments | None = None
        # Sales paid in several parts (services/split.py).
        self.split = SplitTender(self)
        # Payments a restart left unsettled, looked into in the background (``recovered``).
        self._recovery: asyncio.Task[list[str]] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        p = settings.printer
        self.printing = PrintWorker(
            settings.database_path,
            printer,
            settings.device,
            retry_min_s=p.retry_min_ms / 1000,
            retry_max_s=p.retry_max_ms / 1000,
        )

    @classmethod
    async def open(
        cls,
        settings: Settings,
        *,
        print_worker: bool = True,
        clock: Callable[[], datetime] = utc_now,
    ) -> Till:
        """``print_worker=False`` for a tool beside a running kiosk (the doctor): one worker per
        print queue, or receipts would print twice."""
        identity = load_or_create_identity(settings.data_dir)
        conn = await open_db(settings.database_path, BACKSTOP_CHECKPOINT_PAGES)
        try:
            await device.bind(conn, identity)
        except BaseException:
            await conn.close()
            raise
        try:
            printer = printer_from_settings(settings.printer)
            till = cls(
                conn,
                identity,
                settings,
                printer,
                drawer_from_settings(settings.drawer, printer),
                scanner_from_settings(settings.scanner),
                nfc_from_settings(settings.nfc),
                clock,
            )
        except BaseException:
            await conn.close()
            raise
        try:
            till.training = await till._training_in_journal()
            await till.start_drawer()
            if print_worker:
                await till.printing.start()  # receipts still queued from a restart print now
                # Only beside the print worker: one watcher of payments per store.
                till.bitcoin = BitcoinPayments.from_settings(till.conn, identity, settings, till)
                if till.bitcoin is not None:
                    await till.bitcoin.start()
                till.open_card()
                till._recovery = asyncio.create_task(settle_after_restart(till), name="recovery")
        except BaseException:
            await till.close()
            raise
        return till

    async def start_drawer(self) -> None:
        """Set the drawer up and follow its open sensor (device trouble shows at opening)."""
        await self.drawer.start()
        self.drawer_watch.subscribe(self._drawer_changed)
        self.drawer_watch.start()

    async def settle(self) -> None:
        """Wait for the background work the till has started (device status writes)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        self.drawer_watch.close()
        try:
            # First: a payment settling now finishes its sale, which starts background work.
            if self.bitcoin is not None:
                await self.bitcoin.close()
        finally:
            background = [*self._tasks, *([self._recovery] if self._recovery else [])]
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        try:
            await self.printing.close()
            await self.close_card()
            await self.drawer.close()
            await self.nfc.close()
        finally:
            await self.conn.close()

    @property
    def currency(self) -> str:
        return self.settings.device.currency

    # -- who is at the till: PINs, badges, lockouts ------------------------------------------

    async def unlock(self, pin: str) -> Staff:
        """The staff member whose PIN this is. A PIN alone says who types it, so a wrong one
        counts against the till's PIN pad as a whole: ``LockedOut`` (subject ``till``) once five
        have locked it, and for any PIN, right or not, while it is locked; also ``LockedOut``
        for the right PIN of a staff member who is locked out."""
        await self._refuse_if_locked(TILL)
        staff = await catalog.staff_by_pin(self.conn, pin)
        if staff is None:
            await self._count_wrong_pin(TILL, "unlock")
            raise AuthError("wrong PIN")
        await self._refuse_if_locked(staff_subject(staff.id), staff)
        return staff

    async def unlock_badge(self, uid: str) -> Staff:
        """The staff member whose badge was tapped (UID as the NFC reader reports it).

        Badges work while the PIN pad is locked (a badge is not a guess); a manager's badge then
        also lifts that lock, journalled. A staff member who is locked out is refused."""
        staff = await catalog.staff_by_badge(self.conn, uid)
        if staff is None:
            raise AuthError("unknown badge")
        await self._refuse_if_locked(staff_subject(staff.id), staff)
        if allowed(staff.role, "unlock_staff"):
            record = await lockout.lift(
                self.conn, self.identity, TILL, self.clock(), "badge", by=(staff.id, staff.name)
            )
            if record is not None:
                log.warning("PIN pad lockout lifted", extra={"by": staff.id, "via": "badge"})
        return staff

    async def lockout_remaining(self, staff: Staff | None = None) -> timedelta:
        """How much longer the till's PIN pad (or ``staff``) stays locked; zero when it is not.
        For screens that show a countdown; the methods that take a PIN check it themselves."""
        subject = TILL if staff is None else staff_subject(staff.id)
        now = self.clock()
        state = await lockout.current(self.conn, subject, now, self.lockout_policy)
        return state.remaining(now)

    async def lift_lockout(
        self, manager_pin: str, staff_id: str | None = None, requester: Staff | None = None
    ) -> Record:
        """Lift a lockout before its time on a manager's PIN: ``staff_id``'s, or the PIN pad's
        (None). ``requester`` is who is logged in (a wrong manager's PIN counts against them, or
        against the PIN pad when nobody is, so a locked PIN pad takes no PIN to lift its own
        lock: a manager's badge or ``bitagora staff unlock --till`` does). Returns the
        ``staff_lockout`` record; LookupError when there is no such person or nothing is
        locked."""
        manager = await self._approver(manager_pin, "unlock_staff", requester)
        target: Staff | None = None
        if staff_id is not None:
            target = next(
                (s for s, _ in await catalog.all_staff(self.conn) if s.id == staff_id), None
            )
            if target is None:
                raise LookupError(f"no staff member {staff_id!r}")
        subject = TILL if target is None else staff_subject(target.id)
        record = await lockout.lift(
            self.conn,
            self.identity,
            subject,
            self.clock(),
            "till",
            (target.id, target.name) if target else None,
            (manager.id, manager.name),
        )
        if record is None:
            raise LookupError(f"{target.name if target else 'the PIN pad'} is not locked out")
        log.warning("PIN lockout lifted", extra={"subject": subject, "by": manager.id})
        return record

    async def set_training(self, staff: Staff, on: bool) -> Record | None:
        """Switch training mode (a manager's or technician's "settings" right); journalled as a
        ``config`` record, which is also where the mode is read back from after a restart.
        None when the till is in that mode already."""
        await self._authorize(staff, "settings")
        if on == self.training:
            return None
        body = {
            "setting": "training",
            "value": on,
            "staff": {"id": staff.id, "name": staff.name},
        }
        async with transaction(self.conn):
            record = await journal.append(self.conn, self.identity, "config", body)
        self.training = on
        log.warning("training mode %s", "on" if on else "off", extra={"staff": staff.id})
        return record

    async def _training_in_journal(self) -> bool:
        record = await journal.last_config(self.conn, "training")
        return bool(record and record.body.get("value") is True)

    async def authorize_sale(self, staff: Staff) -> None:
        """``staff`` may take payment for a sale (any method): NotAuthorized or LockedOut."""
        await self._authorize(staff, "sell")

    async def _authorize(self, staff: Staff, action: Action) -> None:
        """``staff`` (logged in) may do ``action`` themselves: their role allows it and they are
        not locked out (a lockout holds even if a screen left them logged in)."""
        require(staff, action)
        await self._refuse_if_locked(staff_subject(staff.id), staff)

    async def _refuse_if_locked(self, subject: str, staff: Staff | None = None) -> None:
        now = self.clock()
        state = await lockout.current(self.conn, subject, now, self.lockout_policy)
        if state.locked(now):
            raise LockedOut(subject, state.remaining(now), staff.name if staff else None)

    async def _count_wrong_pin(self, subject: str, action: str, staff: Staff | None = None) -> None:
        """Count a wrong PIN; raise ``LockedOut`` when it was the one that locked ``subject``."""
        now = self.clock()
        who = (staff.id, staff.name) if staff else None
        failure = await lockout.fail(
            self.conn, self.identity, subject, now, self.lockout_policy, action, who
        )
        log.warning("wrong PIN", extra={"subject": subject, "action": action})
        if failure.record is not None:
            log.warning(
                "PIN lockout",
                extra={"subject": subject, "seq": failure.record.seq, "action": action},
            )
            raise LockedOut(subject, failure.state.remaining(now), staff.name if staff else None)

    async def _approver(self, pin: str, action: Action, requester: Staff | None) -> Staff:
        """Whose ``pin`` approves ``action`` for ``requester`` (who is logged in; None at a tool
        like the doctor). Wrong PINs count against the requester, who is the one guessing, not
        against whoever's PIN they were after (docs/ARCHITECTURE.md says why); with no requester,
        against the till's PIN pad. AuthError for a PIN that matches nobody, LockedOut for a
        locked requester or approver, NotAuthorized (not counted: the PIN was right) for a role
        that may not approve ``action``."""
        subject = TILL if requester is None else staff_subject(requester.id)
        await self._refuse_if_locked(subject, requester)
        approver = await catalog.staff_by_pin(self.conn, pin)
        if approver is None:
            await self._count_wrong_pin(subject, action, requester)
            raise AuthError("wrong PIN")
        await self._refuse_if_locked(staff_subject(approver.id), approver)
        try:
            require(approver, action)
        except NotAuthorized:
            log.warning("approval refused: role", extra={"staff": approver.id, "action": action})
            raise
        return approver

    async def approve(
        self,
        action: Action,
        requester: Staff | None,
        *,
        pin: str | None = None,
        badge: str | None = None,
    ) -> Staff:
        """Who approves ``action`` for ``requester``: by ``pin`` (checked and counted as in
        ``_approver``) or by ``badge``, a UID from the NFC reader (a badge is not a guess, so it
        is not counted; its owner must not be locked out). NotAuthorized for a role that may not
        approve ``action``, or when neither is given."""
        if pin is not None:
            return await self._approver(pin, action, requester)
        if badge is not None:
            approver = await self.unlock_badge(badge)
            require(approver, action)
            return approver
        raise NotAuthorized(f"a manager's PIN or badge must approve a {action}", action)

    async def products(self) -> list[Product]:
        return [p for p in await catalog.products(self.conn) if p.price.currency == self.currency]

    async def product_for_barcode(self, code: str) -> Product | None:
        """The product a scanned or typed code names, or None if the catalog has none.

        Raises ``BarcodeError`` for a GTIN-shaped code whose check digit is wrong (a misread or a
        typo): that is "not a valid barcode", which staff handle differently from "unknown
        product" (scan again rather than set the item aside)."""
        return await catalog.product_by_barcode(self.conn, barcode.parse(code).lookup_keys)

    def new_cart(self) -> Cart:
        return Cart(self.currency)

    async def pay_cash(self, cart: Cart, staff: Staff, tendered: Money) -> SaleResult:
        """Commit a cash sale, then open the drawer and print; device trouble is reported."""
        await self.authorize_sale(staff)
        total = cart.totals().total
        change = change_due(total, tendered)
        sale_id = str(uuid.uuid4())
        body = sale_body(
            sale_id,
            cart,
            staff.id,
            staff.name,
            [Payment("cash", total, tendered=tendered, change=change)],
            training=self.training,
        )
        # The commit queues the receipt too (a trigger of migration 0002).
        record = await sales.record_sale(self.conn, self.identity, body)
        # Practice sales move no money: the drawer stays shut.
        drawer_problem = (
            None
            if self.training
            else await self.open_drawer_for_sale(sale_id, staff.id, staff.name)
        )
        cart.clear()
        return await self.finish_sale(record, (drawer_problem,) if drawer_problem else ())

    # -- card payments (payments/card.py; the screen drives the attempt) ----------------------

    def open_card(self) -> None:
        """Card payments when ``[card] kind`` is set (beside the print worker, as bitcoin)."""
        if self.settings.card.enabled:
            self.card = CardPayments(self.settings.card, self.conn)

    async def close_card(self) -> None:
        card, self.card = self.card, None
        if card is not None:
            await card.close()

    def card_for_sale(self) -> CardPayments:
        """The card payments, when a card may be taken now (CardUnavailable in words if not)."""
        if self.card is None:
            raise CardUnavailable("Card payments are not set up on this till ([card] kind).")
        if self.training:
            raise CardUnavailable("Training mode: take cash only (a card payment is real money)")
        return self.card

    def card_description(self) -> str:
        return f"Sale at {self.settings.device.merchant_name}"

    async def start_card(self, cart: Cart, staff: Staff, sale_id: str) -> CardAttempt:
        """Show the cart's total on the reader for ``sale_id`` (a new attempt each call): after
        the same role and lockout check as cash, before anything can be charged. The attempt
        keeps the cart, so a card found paid after a restart still records this sale."""
        await self.authorize_sale(staff)
        card = self.card_for_sale()
        kept = json.dumps(cart_body(sale_id, cart, staff.id, staff.name))
        return await card.start(sale_id, cart.totals().total, self.card_description(), cart=kept)

    def card_payment(self, outcome: CardOutcome) -> Payment:
        """The ``payments`` entry of a succeeded card attempt. The journal keeps the brand and
        last four digits for the receipt (PCI DSS allows them to be shown; docs/PROTOCOL.md
        1.4), never more of the card."""
        if not outcome.paid or outcome.amount is None:
            raise ValueError(f"a card payment needs a succeeded attempt, not {outcome.status}")
        details = {
            "brand": outcome.brand,
            "last4": outcome.last4,
            "payment_intent": outcome.payment_intent,
            "charge": outcome.charge,
            "capture": self.settings.card.capture,
        }
        return Payment("card", outcome.amount, details=details)

    async def pay_card(
        self, cart: Cart, staff: Staff, sale_id: str, outcome: CardOutcome
    ) -> SaleResult:
        """Commit the sale a succeeded card attempt paid. The money is taken by now, so only the
        role is checked (a lockout that started while the customer paid must not lose the
        sale)."""
        require(staff, "sell")
        result = await self.record_card_sale(
            cart_body(sale_id, cart, staff.id, staff.name), outcome
        )
        cart.clear()
        return result

    async def record_card_sale(self, cart_part: dict[str, Any], outcome: CardOutcome) -> SaleResult:
        """Record the sale (``cart_part``: its body without payments) a card paid in full."""
        payment = self.card_payment(outcome)
        total = Money(cart_part["total"]["minor"], cart_part["currency"])
        if payment.amount != total:
            raise ValueError(f"the card paid {payment.amount}, the sale is {total}")
        record = await sales.record_sale(
            self.conn, self.identity, with_payments(cart_part, [payment])
        )
        log.info(
            "card sale recorded",
            extra={
                "sale_id": cart_part["sale_id"],
                "seq": record.seq,
                "payment_intent": outcome.payment_intent,
            },
        )
        return await self.finish_sale(record)

    async def part_paid(self, record: Record) -> Any:
        """A split sale's part was journalled (by the bitcoin checkout that took it)."""
        return await self.split.part_paid(record)

    # -- after a restart: payments left unsettled ---------------------------------------------

    async def recovered(self) -> list[str]:
        """What the look at payments left by a restart found, in words for staff (waits for it
        to end: it asks Stripe about card attempts left open)."""
        if self._recovery is None:
            return []
        return await asyncio.shield(self._recovery)

    async def finish_sale(self, record: Record, problems: tuple[str, ...] = ()) -> SaleResult:
        """After a sale's commit (its receipt is queued by then): wait a little for the receipt
        and say what went wrong with it, without ever undoing the sale."""
        problem = await self._receipt_outcome(record.seq)
        self._in_background(self._checkpoint())
        currency = record.body["currency"]
        change = sum(p["change"] or 0 for p in record.body["payments"])
        return SaleResult(
            record.body["sale_id"],
            record,
            Money(record.body["total"]["minor"], currency),
            Money(change, currency),
            receipt_from_record(record, self.settings.device),
            problems + ((problem,) if problem else ()),
        )

    async def _checkpoint(self) -> None:
        """After a sale, while staff read the change: so the next sale's commit does not pay
        for SQLite's own checkpoint (the connection's is only a backstop)."""
        try:
            await checkpoint(self.conn)
        except aiosqlite.Error as err:  # the sale is durable in the WAL already
            log.warning("checkpoint failed: %s", err, extra={"error": str(err)})

    async def _receipt_outcome(self, seq: int) -> str | None:
        """Let the print worker try the receipt record ``seq`` queued; say why if it did not
        print (it stays queued and prints once the printer is back)."""
        self.printing.wake()
        known = self.printing.state.problem
        if known:
            # The printer is already known to be down: a paid customer must not wait on yet
            # another attempt (up to printer.timeout_s + 1 on a printer that is off).
            return f"Receipt not printed: {known} (queued: it prints when the printer is back)"
        if await print_queue.waiting_before(self.conn, seq):
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
        await self._authorize(staff, "reprint")
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
        await outbox.set_state(self.conn, outbox.PRINTER_STATUS, json.dumps(printer))
        await outbox.set_state(
            self.conn, outbox.DRAWER_STATUS, json.dumps(self.drawer_watch.state.status())
        )
        return status

    # -- the cash drawer ---------------------------------------------------------------------

    async def open_drawer_no_sale(self, staff: Staff, manager_pin: str) -> DrawerOpening:
        """Open the drawer outside a sale, approved by a manager's PIN (``staff`` is who is
        logged in). AuthError for a PIN that matches nobody (counted against ``staff``: five
        close together lock them out, ``LockedOut``), NotAuthorized for a non-manager's,
        DrawerError when there is no drawer or the opening could not be recorded; nothing is
        recorded or opened in those cases."""
        self._need_drawer()
        approver = await self._approver(manager_pin, "no_sale", staff)
        body = drawer_open_body(
            "no_sale", staff.id, staff.name, approved_by=(approver.id, approver.name)
        )
        return await self._open_drawer(body)

    async def test_drawer(self, pin: str) -> DrawerOpening:
        """A technician's (or manager's) test pulse, for ``bitagora doctor``; journalled with
        reason "test" like every other opening. Nobody is logged in, so a wrong PIN counts
        against the till's PIN pad."""
        self._need_drawer()
        approver = await self._approver(pin, "drawer_test", None)
        return await self._open_drawer(
            drawer_open_body(
                "test", approver.id, approver.name, approved_by=(approver.id, approver.name)
            )
        )

    def _need_drawer(self) -> None:
        if self.drawer.kind == "none":
            raise DrawerError("this till has no cash drawer")

    async def _open_drawer(self, body: dict[str, Any]) -> DrawerOpening:
        """Record the opening, then pulse: the drawer never opens without its journal record.

        A pulse that fails leaves the record (the till did command the opening) and says why."""
        try:
            record = await drawer_store.record_opening(self.conn, self.identity, body)
        except (aiosqlite.Error, OSError) as err:
            log.error("drawer opening not recorded, drawer left shut", extra={"error": str(err)})
            raise DrawerError(
                f"the opening could not be recorded ({err}), drawer left shut"
            ) from err
        try:
            await self.drawer.open()
        except DrawerError as err:
            log.warning("drawer did not open", extra={"seq": record.seq, "reason": body["reason"]})
            return DrawerOpening(record, str(err))
        return DrawerOpening(record)

    async def open_drawer_for_sale(
        self, sale_id: str, staff_id: str, staff_name: str
    ) -> str | None:
        """After a committed sale with cash: the problem to show, if any. Never raises: the sale
        stands whatever the drawer does."""
        if self.drawer.kind == "none":
            return None
        try:
            body = drawer_open_body("sale", staff_id, staff_name, sale_id=sale_id)
            opening = await self._open_drawer(body)
        except Exception as err:
            log.warning("drawer did not open", extra={"sale_id": sale_id, "error": str(err)})
            return f"Drawer did not open: {err}"
        return f"Drawer did not open: {opening.problem}" if opening.problem else None

    def _drawer_changed(self, state: DrawerState) -> None:
        """The sensor changed: leave it where the uplink's heartbeat reads it (in a task the
        till owns, as the watch calls back synchronously)."""
        self._in_background(self._write_drawer_status(state))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Start work the till owns: ``settle`` waits for it, ``close`` cancels it."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_drawer_status(self, state: DrawerState) -> None:
        try:
            await outbox.set_state(self.conn, outbox.DRAWER_STATUS, json.dumps(state.status()))
        except (aiosqlite.Error, OSError, ValueError) as err:  # advisory: never fatal
            log.warning("drawer status not recorded", extra={"error": str(err)})
