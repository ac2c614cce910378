"""The cash drawer: openings (each recorded before the pulse) and its open sensor.

``DrawerService`` opens the drawer for a sale, a refund, a shift's float or count, a no-sale on a
manager's PIN, or a technician's test: the ``drawer_open`` record is committed first, so the
drawer never opens without it (docs/PROTOCOL.md 1.4); a pulse that fails leaves the record and
says why. A cash sale's opening is committed with the sale itself (``opening_for_sale``, one
durable write) and pulsed after it (``pulse_for_sale``).

``DrawerWatch`` turns the driver's sensor changes into ``DrawerState`` values, published on the
event bus as ``DrawerChanged`` (the kiosk's sell screen, the device status). When the drawer has
been open for ``warn_after_s`` it raises the warning; closing the drawer clears it. Everything
runs on the event loop: the driver hands sensor changes over with ``call_soon_threadsafe``, and
the warning is one timer handle, cancelled on close.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiosqlite

from appliance.core.drawer import drawer_open_body
from appliance.drivers.drawer import DrawerError
from appliance.services.access import AccessService
from appliance.services.background import Background
from appliance.services.events import Event, EventBus
from appliance.store import drawer as drawer_store
from appliance.store import outbox
from appliance.store.identity import DeviceIdentity
from appliance.store.staff import Staff
from bitagora_protocol.journal import Record

if TYPE_CHECKING:
    from appliance.drivers.drawer import Drawer

__all__ = ["DrawerChanged", "DrawerError", "DrawerOpening", "DrawerService", "DrawerState"]

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass(frozen=True)
class DrawerState:
    open: bool | None  # None: no sensor, the till cannot know
    opened_at: float | None = None  # the watch's clock when it opened
    warning: bool = False  # open for longer than the configured time

    def status(self) -> dict[str, Any]:
        """The form the device status (and the uplink's heartbeat) carries."""
        return {"open": self.open, "open_too_long": self.warning}


@dataclass(frozen=True)
class DrawerChanged(Event):
    state: DrawerState


class DrawerWatch:
    def __init__(
        self,
        drawer: Drawer,
        warn_after_s: float,
        bus: EventBus | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        """``warn_after_s`` 0 never warns; ``clock`` is monotonic seconds (injectable)."""
        self.drawer = drawer
        self.warn_after_s = warn_after_s
        self.bus = bus if bus is not None else EventBus()
        self.clock = clock
        self.state = DrawerState(None)
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Follow the sensor from now on (after the drawer's own ``start``)."""
        self.drawer.set_listener(self._sensor)
        is_open = self.drawer.is_open
        if is_open is not None:
            self._sensor(is_open)

    def close(self) -> None:
        self.drawer.set_listener(None)
        self._cancel_timer()

    def open_for_s(self) -> float | None:
        if not self.state.open or self.state.opened_at is None:
            return None
        return max(0.0, self.clock() - self.state.opened_at)

    def check(self) -> DrawerState:
        """Raise the warning if the drawer has now been open long enough (the timer calls this;
        a test with its own clock may too). Otherwise wait for the rest of the time."""
        self._timer = None
        open_for = self.open_for_s()
        if open_for is None or self.state.warning or self.warn_after_s <= 0:
            return self.state
        if open_for >= self.warn_after_s:
            log.warning("cash drawer open for %.0f s", open_for)
            self._set(DrawerState(True, self.state.opened_at, warning=True))
        else:
            self._schedule(self.warn_after_s - open_for)
        return self.state

    # -- plumbing ---------------------------------------------------------------------------

    def _sensor(self, is_open: bool) -> None:
        if is_open == self.state.open:
            return
        self._cancel_timer()
        if is_open:
            self._set(DrawerState(True, self.clock()))
            if self.warn_after_s > 0:
                self._schedule(self.warn_after_s)
        else:
            self._set(DrawerState(False))

    def _schedule(self, delay_s: float) -> None:
        self._cancel_timer()
        self._timer = asyncio.get_running_loop().call_later(delay_s, self.check)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _set(self, state: DrawerState) -> None:
        self.state = state
        self.bus.publish(DrawerChanged(state))


@dataclass(frozen=True)
class DrawerOpening:
    """A recorded drawer opening; ``problem`` says why the drawer may not have opened."""

    record: Record
    problem: str | None = None


class DrawerService:
    def __init__(
        self,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        device: Drawer,
        watch: DrawerWatch,
        access: AccessService,
        background: Background,
    ) -> None:
        self.conn = conn
        self.identity = identity
        self.device = device
        self.watch = watch
        self.access = access
        self.background = background
        self._unsubscribe: Callable[[], None] | None = None
        self._after_restart = asyncio.Lock()  # one check-then-open at a time

    @property
    def present(self) -> bool:
        """Whether the till has a cash drawer at all."""
        return self.device.kind != "none"

    @property
    def state(self) -> DrawerState:
        return self.watch.state

    @property
    def warn_after_s(self) -> float:
        """How long the drawer may stay open before the warning (0: never warns)."""
        return self.watch.warn_after_s

    async def start(self) -> None:
        """Set the drawer up and follow its open sensor (device trouble shows at opening)."""
        await self.device.start()
        self._unsubscribe = self.watch.bus.subscribe(DrawerChanged, self._changed)
        self.watch.start()

    def stop_watching(self) -> None:
        self.watch.close()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    async def close(self) -> None:
        self.stop_watching()
        await self.device.close()

    async def open_no_sale(self, staff: Staff, manager_pin: str) -> DrawerOpening:
        """Open the drawer outside a sale, approved by a manager's PIN (``staff`` is who is
        logged in). AuthError for a PIN that matches nobody (counted against ``staff``: five
        close together lock them out, ``LockedOut``), NotAuthorized for a non-manager's,
        DrawerError when there is no drawer or the opening could not be recorded; nothing is
        recorded or opened in those cases."""
        self._need_drawer()
        approver = await self.access.approver(manager_pin, "no_sale", staff)
        body = drawer_open_body(
            "no_sale", staff.id, staff.name, approved_by=(approver.id, approver.name)
        )
        return await self.open(body)

    async def test(self, pin: str) -> DrawerOpening:
        """A technician's (or manager's) test pulse, for ``bitagora doctor``; journalled with
        reason "test" like every other opening. Nobody is logged in, so a wrong PIN counts
        against the till's PIN pad."""
        self._need_drawer()
        approver = await self.access.approver(pin, "drawer_test", None)
        return await self.open(
            drawer_open_body(
                "test", approver.id, approver.name, approved_by=(approver.id, approver.name)
            )
        )

    def _need_drawer(self) -> None:
        if not self.present:
            raise DrawerError("this till has no cash drawer")

    async def open(self, body: dict[str, Any]) -> DrawerOpening:
        """Record the opening (``body``: core.drawer.drawer_open_body), then pulse: the drawer
        never opens without its journal record. A pulse that fails leaves the record (the till
        did command the opening) and says why; DrawerError when it could not be recorded."""
        try:
            record = await drawer_store.record_opening(self.conn, self.identity, body)
        except (aiosqlite.Error, OSError) as err:
            log.error("drawer opening not recorded, drawer left shut", extra={"error": str(err)})
            raise DrawerError(
                f"the opening could not be recorded ({err}), drawer left shut"
            ) from err
        return DrawerOpening(record, await self._pulse(body))

    async def _pulse(self, body: dict[str, Any]) -> str | None:
        """Open the drawer for an opening that is recorded already: why it may not have opened,
        or None."""
        try:
            await self.device.open()
        except DrawerError as err:
            log.warning("drawer did not open", extra={"reason": body["reason"], "error": str(err)})
            return str(err)
        return None

    async def open_for(
        self, reason: str, staff: Staff, refund_id: str | None = None
    ) -> DrawerOpening | None:
        """Open the drawer for ``reason`` (float, paid_in, count, refund); None on a till
        without one."""
        if not self.present:
            return None
        return await self.open(drawer_open_body(reason, staff.id, staff.name, refund_id=refund_id))

    def opening_for_sale(
        self, sale_id: str, staff_id: str, staff_name: str
    ) -> dict[str, Any] | None:
        """The ``drawer_open`` body a cash sale commits with its record (store.sales.record_sale),
        None on a till without a drawer; ``pulse_for_sale`` opens the drawer after the commit."""
        if not self.present:
            return None
        return drawer_open_body("sale", staff_id, staff_name, sale_id=sale_id)

    async def pulse_for_sale(self, opening: dict[str, Any]) -> str | None:
        """Open the drawer for a committed cash sale whose ``opening`` (``opening_for_sale``)
        was committed with it: the problem to show, if any. Never raises: the sale stands
        whatever the drawer does."""
        try:
            problem = await self._pulse(opening)
        except Exception as err:
            log.warning("drawer did not open", extra={"sale_id": opening["sale_id"]})
            problem = str(err)
        return f"Drawer did not open: {problem}" if problem else None

    async def open_for_sale(self, sale_id: str, staff_id: str, staff_name: str) -> str | None:
        """After a committed sale with cash: the problem to show, if any. Never raises: the sale
        stands whatever the drawer does."""
        if not self.present:
            return None
        try:
            body = drawer_open_body("sale", staff_id, staff_name, sale_id=sale_id)
            opening = await self.open(body)
        except Exception as err:
            log.warning("drawer did not open", extra={"sale_id": sale_id, "error": str(err)})
            return f"Drawer did not open: {err}"
        return f"Drawer did not open: {opening.problem}" if opening.problem else None

    async def owed_to_sale(self, sale: Record) -> bool:
        """Whether the cash sale ``sale`` (its record) is owed a drawer opening: it took cash,
        was no practice sale, and no ``drawer_open`` names it (the till stopped between its
        commit and its drawer's record). False on a till without a drawer."""
        body = sale.body
        if not self.present or body.get("training") or sale.kind != "sale":
            return False
        if not any(p["method"] == "cash" for p in body["payments"]):
            return False
        return not await drawer_store.opened_for_sale(self.conn, str(body["sale_id"]))

    async def open_after_restart(self, sale: Record, staff: Staff) -> DrawerOpening:
        """Open the drawer for the cash sale ``sale`` that a restart kept from opening it, for
        ``staff`` (who is logged in; a role that may sell, no manager's PIN: the sale paid for
        this one opening). Journalled with reason ``sale_after_restart``, once: DrawerError when
        the sale is not owed one (opened already, not cash, no drawer)."""
        await self.access.authorize_sale(staff)
        async with self._after_restart:
            if not await self.owed_to_sale(sale):
                raise DrawerError("the drawer was opened for this sale already")
            sale_id = str(sale.body["sale_id"])
            return await self.open(
                drawer_open_body("sale_after_restart", staff.id, staff.name, sale_id=sale_id)
            )

    async def report_status(self) -> None:
        """Leave the drawer's state where the uplink's heartbeat reads it."""
        await outbox.set_state(self.conn, outbox.DRAWER_STATUS, json.dumps(self.state.status()))

    def _changed(self, event: DrawerChanged) -> None:
        """The sensor changed: leave it where the uplink's heartbeat reads it (in a task the
        service owns, as the bus calls back synchronously)."""
        self.background.start(self._write_status(event.state))

    async def _write_status(self, state: DrawerState) -> None:
        try:
            await outbox.set_state(self.conn, outbox.DRAWER_STATUS, json.dumps(state.status()))
        except (aiosqlite.Error, OSError, ValueError) as err:  # advisory: never fatal
            log.warning("drawer status not recorded", extra={"error": str(err)})
