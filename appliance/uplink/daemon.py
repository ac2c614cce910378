"""The uplink daemon: pushes the outbox to central in signed batches and sends heartbeats.

Rules (docs/PROTOCOL.md section 2):

- Nothing is pushed until the device is enrolled; enrollment (device_id, merchant, central_url)
  lives in the store's ``uplink_state`` table.
- Batches of ``uplink.batch_size`` contiguous records start at the first unacknowledged seq,
  read in the form they are sent in (the stored canonical bodies as they are,
  store.journal.wire_record: never decoded and encoded again). Up to ``uplink.in_flight`` are
  sent before the first is answered, each next one read while the ones ahead are in flight;
  answers are taken in order. A batch answered ``gap`` because it reached central before the
  one ahead of it was stored is sent again once that one is acknowledged.
  Outbox rows are deleted only up to the ``held_seq`` central answers, so a crash at any moment
  re-sends at most what central already holds (which it skips) and loses nothing.
- ``gap``: if central expects a seq after the batch's first, it already holds the records before
  it and they are acknowledged; if it expects an earlier one, central lost data, and the records
  are sent again from the journal (which is never pruned; only the outbox is). A heartbeat whose
  ``held_seq`` is below what central once acknowledged triggers the same re-send.
- ``fork`` / ``invalid_chain``: pushing stops (until the daemon restarts), the problem is logged
  loudly and reported in every heartbeat; a human has to look.
- Any other refusal of a batch (a 4xx such as 400 ``invalid_value`` or ``malformed``: sending the
  same signed records again cannot change the answer) is permanent: the records stay in the
  outbox, the batch is tried again only every ``uplink.refused_retry_s``, and every heartbeat
  reports it as ``uplink.refused`` until a push succeeds.
- Transient errors (network, timeouts, 5xx, 429): exponential backoff with full jitter, honouring
  ``Retry-After``.
- New records are noticed by polling the outbox (one indexed ``min(seq)`` query), so the kiosk
  never waits on the uplink and needs no channel to it.
- Remote actions (docs/PROTOCOL.md 2.7) are fetched, run or stored for the kiosk, and reported
  by ``uplink.actions.ActionRunner``; a heartbeat whose answer says some wait wakes it.
- Staged updates (docs/PROTOCOL.md 2.8, ``uplink/updates.py``): every ``uplink.update_s`` the
  last update's outcome is reported if it changed, and central's offer is asked for, downloaded,
  checked and staged for the installer.
- The configuration document (docs/PROTOCOL.md 2.6) is asked for at start, every
  ``uplink.config_s`` and as soon as central answers again after an outage, with the ETag of the
  one applied (304 when unchanged); a new one is applied by ``store.config_documents``. A refused
  one is logged and not asked for again until central has another.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import shutil
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosqlite

from appliance import __version__
from appliance.config import Settings
from appliance.store import config_documents, journal, outbox
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity
from appliance.store.journal import WireRecord
from appliance.uplink.actions import ActionRunner
from appliance.uplink.backoff import Backoff
from appliance.uplink.client import (
    AuthRejected,
    CentralClient,
    ChainRejected,
    Enrollment,
    ForkRejected,
    GapRejected,
    Rejected,
    TooLarge,
    Transient,
    Unreachable,
    UplinkError,
)
from appliance.uplink.updates import Updates
from bitagora_protocol.chain_head import sign_head
from bitagora_protocol.journal import genesis_prev_hash

log = logging.getLogger(__name__)

NOT_ENROLLED = "not enrolled: run bitagora uplink enroll --code CODE"
DEFAULT_POLL_INTERVAL_S = 0.5
UNKNOWN_PRINTER: dict[str, Any] = {"online": False, "paper": "unknown", "cover_open": False}
THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")  # a Raspberry Pi's SoC sensor
# The firmware's throttled flags (what `vcgencmd get_throttled` prints), hex: under-voltage,
# frequency capped, throttled, soft temperature limit, now (bits 0-3) and since boot (16-19).
THROTTLED = Path("/sys/devices/platform/soc/soc:firmware/get_throttled")

STATE_ACKED_SEQ = "acked_seq"  # written by outbox.acknowledge


class NotEnrolled(UplinkError):
    """The device has no enrollment (or one made with another key)."""


class NoProgress(UplinkError):
    """Central keeps answering without taking the records offered; retried with backoff."""


@dataclass
class Batch:
    """A batch sent and not answered yet: its records, central's answer to come (the seq it
    holds), and whether it was sent behind another batch still unanswered then."""

    records: list[WireRecord]
    answer: asyncio.Task[int]
    behind: bool

    @property
    def first(self) -> int:
        return self.records[0].seq

    @property
    def last(self) -> int:
        return self.records[-1].seq


@dataclass
class Window:
    """The batches in flight, oldest first, and the first seq of each batch offered in this
    push and answered: offering one of those again means central is not taking it."""

    batches: collections.deque[Batch] = field(default_factory=collections.deque)
    offered: set[int] = field(default_factory=set)

    def send(
        self,
        records: list[WireRecord],
        push: Callable[[list[WireRecord]], Coroutine[Any, Any, int]],
    ) -> None:
        """Start ``push(records)`` and put it at the end of the window."""
        first = records[0].seq
        if first in self.offered:
            raise NoProgress(f"central did not take the batch from seq {first}")
        self.offered.add(first)
        behind = bool(self.batches)
        self.batches.append(Batch(records, asyncio.create_task(push(records)), behind))

    async def drop(self) -> None:
        """Give up the answers still to come: whatever central stored of those batches is sent
        again later and skipped there as already held."""
        tasks = [batch.answer for batch in self.batches]
        self.offered.difference_update(batch.first for batch in self.batches)
        self.batches.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@dataclass(frozen=True)
class EnrollmentState:
    device_id: str
    merchant: str
    central_url: str


async def load_enrollment(conn: aiosqlite.Connection) -> EnrollmentState | None:
    rows = await outbox.get_states(conn, outbox.DEVICE_ID, outbox.MERCHANT, outbox.CENTRAL_URL)
    if outbox.DEVICE_ID not in rows or outbox.CENTRAL_URL not in rows:
        return None
    return EnrollmentState(
        rows[outbox.DEVICE_ID], rows.get(outbox.MERCHANT, ""), rows[outbox.CENTRAL_URL]
    )


async def save_enrollment(
    conn: aiosqlite.Connection, enrollment: Enrollment, central_url: str
) -> EnrollmentState:
    state = EnrollmentState(enrollment.device_id, enrollment.merchant, central_url)
    async with transaction(conn):
        for key, value in (
            (outbox.DEVICE_ID, state.device_id),
            (outbox.MERCHANT, state.merchant),
            (outbox.CENTRAL_URL, state.central_url),
            (config_documents.STATE_MERCHANT_ID, str(enrollment.merchant_id)),
            (config_documents.STATE_CENTRAL_KEY, enrollment.central_key),
        ):
            await outbox.set_state(conn, key, value, in_transaction=True)
    return state


async def wait_enrolled(
    conn: aiosqlite.Connection, stop: asyncio.Event, poll_interval_s: float = 2.0
) -> EnrollmentState | None:
    """The enrollment, waiting (and saying so once) until there is one; None if stopped first."""
    state = await load_enrollment(conn)
    if state is None:
        log.error(NOT_ENROLLED)
    while state is None:
        if await _wait(stop, poll_interval_s):
            return None
        state = await load_enrollment(conn)
    return state


async def _wait(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; return whether it is set."""
    if not event.is_set() and timeout_s > 0:
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass
    return event.is_set()


def _event(level: int, event: str, **fields: Any) -> None:
    """One structured log line: the event, then its fields as ``extra`` (appliance/logs.py
    prints them as key=value pairs)."""
    log.log(level, "%s", event, extra=fields)


class Uplink:
    def __init__(
        self,
        settings: Settings,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        client: CentralClient,
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        backoff: Backoff | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.identity = identity
        self.client = client
        self.poll_interval_s = poll_interval_s
        self.batch_size = settings.uplink.batch_size
        self.backoff = backoff or Backoff(
            settings.uplink.backoff_min_s, settings.uplink.backoff_max_s
        )
        self._monotonic = monotonic
        self._started = monotonic()
        self._enrollment: EnrollmentState | None = None
        self._said_not_enrolled = False
        # Set by a gap or a heartbeat that shows central lost records: re-send from this seq.
        self._resend_from: int | None = None
        self._wake = asyncio.Event()
        self._config_wake = asyncio.Event()
        self._config_backoff = Backoff(settings.uplink.backoff_min_s, settings.uplink.backoff_max_s)
        # The ETag of the last document applied or refused: not fetched again until it changes.
        self._config_etag: str | None = None
        self.updates = Updates(settings, conn, client)
        self._waiting_for_central = False  # the push loop backs off from a Transient failure
        self._stop: asyncio.Event | None = None
        # A fork or an invalid chain: pushing has stopped; heartbeats report it.
        self.problem: Rejected | None = None
        self.last_error: str | None = None
        self.held_seq: int | None = None
        # A permanent refusal of the batch at the head of the outbox, and when it came (unix s).
        self.refused: Rejected | None = None
        self.refused_since: int | None = None
        self.actions = ActionRunner(settings, conn, identity, client)

    # -- pushing ---------------------------------------------------------------------------

    async def enrollment(self) -> EnrollmentState:
        if self._enrollment is not None:
            return self._enrollment
        state = await load_enrollment(self.conn)
        if state is None:
            if not self._said_not_enrolled:
                log.error(NOT_ENROLLED)
                self._said_not_enrolled = True
            raise NotEnrolled(NOT_ENROLLED)
        if state.device_id != self.identity.device_id:
            raise NotEnrolled(
                f"enrolled as {state.device_id}, but the device key is "
                f"{self.identity.device_id}: enroll again"
            )
        self._enrollment = state
        return state

    async def push_once(self) -> int:
        """Push everything pending; return how many outbox records central acknowledged.

        Up to ``uplink.in_flight`` batches are sent before the first is answered (central
        checks one while it stores the one ahead, central/ingest.py); answers are taken in
        order. Raises ``Transient`` (retry later), ``ForkRejected``/``ChainRejected``
        (pushing stops), other ``Rejected`` or ``NotEnrolled``.
        """
        await self.enrollment()
        if self.problem is not None:
            raise self.problem
        acknowledged = 0
        cursor, self._resend_from = self._resend_from, None  # None: start at the outbox
        window = Window()
        try:
            while not (self._stop is not None and self._stop.is_set()):
                await self._fill(window, cursor)
                if not window.batches:
                    cursor = None
                    break
                batch = window.batches.popleft()
                first, last = batch.first, batch.last
                try:
                    held = await batch.answer
                except GapRejected as gap:
                    await window.drop()  # the batches behind it were sent to follow it
                    if batch.behind and gap.expected_seq < first <= (self.held_seq or 0) + 1:
                        # It reached central before the batch ahead of it was stored, and that
                        # one has been since: send it again (docs/PROTOCOL.md 2.3).
                        window.offered.discard(first)
                        continue
                    cursor, removed = await self._on_gap(gap, first)
                    acknowledged += removed
                    continue
                except TooLarge:
                    await window.drop()
                    if len(batch.records) == 1:
                        raise
                    self.batch_size = max(1, len(batch.records) // 2)
                    window.offered.discard(first)
                    _event(logging.WARNING, "batch too large", batch_size=self.batch_size)
                    continue
                except (ForkRejected, ChainRejected) as err:
                    self._halt(err)
                    raise
                self.held_seq = held
                removed = await outbox.acknowledge(self.conn, held)
                acknowledged += removed
                _event(
                    logging.DEBUG,
                    "batch acknowledged",
                    first_seq=first,
                    last_seq=last,
                    held_seq=held,
                    acknowledged=removed,
                )
                if held < last:  # central did not take it all: what follows it cannot follow
                    await window.drop()
                if cursor is not None:  # re-sending from the journal: carry on after held
                    cursor = held + 1
        except BaseException:
            if cursor is not None:  # keep re-sending from there on the next attempt
                self._resend_from = min(cursor, self._resend_from or cursor)
            raise
        finally:
            await window.drop()
        if acknowledged:
            _event(logging.INFO, "pushed", acknowledged=acknowledged, held_seq=self.held_seq)
        return acknowledged

    async def _fill(self, window: Window, cursor: int | None) -> None:
        """Send batches until ``uplink.in_flight`` are unanswered or nothing is left to send: the
        first from ``cursor`` (None: the outbox's first record), each next one after the last
        one sent. Each is read while the ones before it are in flight."""
        while len(window.batches) < self.settings.uplink.in_flight:
            if window.batches:
                start: int | None = window.batches[-1].last + 1
            elif cursor is not None:
                start = cursor
            else:
                start = await outbox.first_pending(self.conn)
            records = await self._next_batch(start)
            if not records:
                return
            window.send(records, self.client.push)

    async def _next_batch(self, first: int | None) -> list[WireRecord]:
        """Up to ``batch_size`` records from seq ``first`` on (None: nothing to send), in the
        form they are sent in, never decoded (store.journal.wire_record)."""
        if first is None:
            return []
        records = await journal.read_wire_range(self.conn, first, self.batch_size)
        if records and records[0].seq != first:
            raise UplinkError(f"the journal has no record {first} (next is {records[0].seq})")
        return records

    async def _on_gap(self, gap: GapRejected, first: int) -> tuple[int | None, int]:
        """Decide where to continue after a gap: (journal cursor or None for the outbox,
        records acknowledged)."""
        expected = gap.expected_seq
        if expected > first:
            # Central already holds everything before ``expected``.
            tail, _ = await journal.tail(self.conn)
            level = logging.ERROR if expected - 1 > tail else logging.WARNING
            _event(
                level,
                "central holds more than offered",
                expected_seq=expected,
                first_seq=first,
                journal_tail=tail,
            )
            removed = await outbox.acknowledge(self.conn, expected - 1)
            self.held_seq = expected - 1
            return None, removed
        # Central lost records (restored from a backup, say): send them again from the journal.
        _event(
            logging.WARNING,
            "central is missing records; re-sending from the journal",
            expected_seq=expected,
            first_seq=first,
            held_seq=gap.held_seq,
        )
        self.held_seq = gap.held_seq
        return max(1, expected), 0

    def _halt(self, err: Rejected) -> None:
        self.problem = err
        seq = getattr(err, "seq", None)
        log.critical(
            "JOURNAL %s at seq %s: central refuses this device's chain; pushing has STOPPED "
            "(records stay in the outbox, nothing is lost). Ask central operations to "
            "investigate before restarting the uplink. %s",
            err.error.upper(),
            seq,
            err,
            extra={"event": "halted", "error": err.error, "seq": seq},
        )

    def wake(self) -> None:
        """Ask the push loop to look at the outbox now rather than at its next poll."""
        self._wake.set()

    # -- heartbeat -------------------------------------------------------------------------

    async def heartbeat_payload(self) -> dict[str, Any]:
        backlog = await outbox.backlog(self.conn)
        last_seq, last_hash = await journal.tail(self.conn)
        head = sign_head(
            self.identity.private_key,
            self.identity.device_id,
            last_seq,
            last_hash or genesis_prev_hash(self.identity.device_id),
        )
        payload: dict[str, Any] = {
            "version": __version__,
            "uptime_s": int(self._monotonic() - self._started),
            "heartbeat_s": self.settings.uplink.heartbeat_s,  # central's late/offline yardstick
            "backlog": backlog.count,
            "oldest_unsent_age_s": backlog.oldest_age_s(),
            "last_seq": last_seq,
            "head": head.to_dict(),
            "printer": await self._printer_status(),
            "drawer": await self._drawer_status(),
            "payments": await self._payment_status(),
            "clock": int(time.time()),  # the device's own clock, so central can show its error
            **await asyncio.to_thread(self._system_status),
            "uplink": {
                "state": self._state(),
                "problem": dict(self.problem.payload) if self.problem else None,
                "refused": self._refusal(),
                "last_error": self.last_error,
                "clock_offset_s": round(self.client.clock_offset_s),
            },
        }
        return payload

    def _state(self) -> str:
        if self.problem:
            return "halted"
        if self.refused:
            return "refused"
        return "retrying" if self.last_error else "ok"

    def _refusal(self) -> dict[str, Any] | None:
        if self.refused is None:
            return None
        reason = self.refused.payload.get("reason")
        seq = self.refused.payload.get("seq")
        return {
            "status": self.refused.status,
            "error": self.refused.error,
            "reason": reason if isinstance(reason, str) else None,
            "seq": seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
            "since": self.refused_since,
        }

    def _system_status(self) -> dict[str, Any]:
        """Disk space of the data directory, the SoC temperature and the Pi's throttled flags,
        where the OS tells them."""
        status: dict[str, Any] = {}
        try:
            usage = shutil.disk_usage(self.settings.data_dir)
            status["disk"] = {"free_bytes": usage.free, "total_bytes": usage.total}
        except OSError:
            pass
        try:
            millideg = int(THERMAL_ZONE.read_text(encoding="ascii").strip())
            status["temperature_c"] = round(millideg / 1000, 1)
        except (OSError, ValueError):
            pass
        try:
            status["throttled"] = int(THROTTLED.read_text(encoding="ascii").strip(), 16)
        except (OSError, ValueError):
            pass
        return status

    async def _kiosk_state(self, key: str) -> Any:
        """What the kiosk last wrote under ``key`` (JSON in the store's state), None if nothing
        or not JSON: the heartbeat reports it, never fails on it."""
        raw = await outbox.get_state(self.conn, key)
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    async def _printer_status(self) -> dict[str, Any]:
        printer = await self._kiosk_state(outbox.PRINTER_STATUS)
        if (
            not isinstance(printer, dict)
            or not isinstance(printer.get("online"), bool)
            or not isinstance(printer.get("paper"), str)
        ):
            return dict(UNKNOWN_PRINTER)
        return {
            "online": printer["online"],
            "paper": printer["paper"],
            "cover_open": printer.get("cover_open") is True,
        }

    async def _drawer_status(self) -> dict[str, Any]:
        """What the kiosk last saw of the drawer's open sensor ({"open": None} without one)."""
        drawer = await self._kiosk_state(outbox.DRAWER_STATUS)
        if not isinstance(drawer, dict) or not isinstance(drawer.get("open"), (bool, type(None))):
            return {"open": None, "open_too_long": False}
        return {"open": drawer["open"], "open_too_long": drawer.get("open_too_long") is True}

    async def _payment_status(self) -> dict[str, str | None]:
        """What the kiosk last saw wrong with each payment service (name → words or null)."""
        services = await self._kiosk_state(outbox.PAYMENT_STATUS)
        if not isinstance(services, dict):
            return {}
        return {
            str(name)[:40]: problem[:300] if isinstance(problem, str) else None
            for name, problem in services.items()
        }

    async def heartbeat_once(self) -> int:
        """Send one heartbeat; return central's held_seq (and re-send if central lost records)."""
        await self.enrollment()
        held = await self.client.heartbeat(await self.heartbeat_payload())
        acked = await outbox.get_state(self.conn, STATE_ACKED_SEQ)
        if acked is not None and held < int(acked) and self.problem is None:
            _event(
                logging.WARNING,
                "central holds less than it acknowledged; re-sending",
                held_seq=held,
                acked_seq=acked,
            )
            self._resend_from = min(held + 1, self._resend_from or held + 1)
            self.wake()
        return held

    # -- the configuration document --------------------------------------------------------

    async def config_once(self) -> config_documents.Applied | None:
        """Ask central for the configuration document and apply it if it is new; None when
        there was nothing new or it was refused (logged). Raises ``UplinkError``."""
        await self.enrollment()
        if self._config_etag is None:
            self._config_etag = await outbox.get_state(
                self.conn, config_documents.STATE_CONFIG_ETAG
            )
        started = self._monotonic()
        fetched = await self.client.fetch_config(self._config_etag)
        if fetched is None:
            return None
        held = await config_documents.applied_version(self.conn)
        try:
            applied = await config_documents.apply_signed(
                self.conn,
                self.identity,
                fetched.body,
                self.settings.device.currency,
                {"via": "uplink"},
                fetched.etag,
            )
        except config_documents.AlreadyApplied as err:
            self._config_etag = fetched.etag
            _event(logging.INFO, "configuration already applied", detail=str(err))
            return None
        except config_documents.Refused as err:
            self._config_etag = fetched.etag  # the same bytes would be refused again
            log.error(
                "configuration document refused: %s; the till keeps selling on version %d",
                err,
                held,
                extra={"event": "config_refused", "reason": str(err), "applied_version": held},
            )
            return None
        self._config_etag = fetched.etag
        _event(
            logging.INFO,
            "configuration applied",
            version=applied.version,
            catalog_version=applied.catalog.version,
            products=applied.catalog.products,
            settings=",".join(applied.settings_changed) or None,
            wire_bytes=fetched.wire_bytes,
            seconds=round(self._monotonic() - started, 3),
        )
        return applied

    async def _config_loop(self, stop: asyncio.Event) -> None:
        interval = float(self.settings.uplink.config_s)
        while not stop.is_set():
            delay = interval
            try:
                await self.config_once()
            except NotEnrolled:
                pass
            except Transient as err:
                delay = min(interval, self._config_backoff.next_delay(err.retry_after))
                log.warning("configuration fetch failed: %s", err, extra={"event": "config_retry"})
            except UplinkError as err:
                log.error("configuration fetch refused: %s", err, extra={"event": "config_retry"})
            except Exception:  # a store error, say: keep the daemon alive, try at the next round
                log.exception("configuration fetch failed unexpectedly")
            else:
                self._config_backoff.reset()
            if not stop.is_set():
                await _wait(self._config_wake, delay)
                self._config_wake.clear()

    # -- staged updates --------------------------------------------------------------------

    async def update_once(self) -> str | None:
        """Report the last update's outcome if new, then take central's offer; the version
        staged, or None. Raises ``UplinkError``."""
        await self.enrollment()
        await self.updates.report_once()
        return await self.updates.offer_once()

    async def _update_loop(self, stop: asyncio.Event) -> None:
        interval = float(self.settings.uplink.update_s)
        while not stop.is_set():
            try:
                await self.update_once()
            except NotEnrolled:
                pass
            except UplinkError as err:
                log.warning("update check failed: %s", err, extra={"event": "update_retry"})
            except Exception:  # a full disk, say: keep the daemon alive, try at the next round
                log.exception("update check failed unexpectedly")
            await _wait(stop, interval)

    # -- the daemon ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Push and heartbeat until ``stop`` is set; every task started here ends with it."""
        self._stop = stop
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._relay_stop(stop), name="uplink-stop")
            tasks.create_task(self._push_loop(stop), name="uplink-push")
            tasks.create_task(self._heartbeat_loop(stop), name="uplink-heartbeat")
            tasks.create_task(self._config_loop(stop), name="uplink-config")
            tasks.create_task(self.actions.run(stop), name="uplink-actions")
            tasks.create_task(self._update_loop(stop), name="uplink-update")

    async def _relay_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wake.set()
        self._config_wake.set()
        self.actions.wake()

    async def _pause(self, stop: asyncio.Event, seconds: float) -> None:
        if not stop.is_set():
            await _wait(self._wake, seconds)
        if not stop.is_set():
            self._wake.clear()

    async def _push_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            delay = self.poll_interval_s
            try:
                await self.push_once()
            except NotEnrolled as err:
                self.last_error = str(err)
            except Transient as err:
                delay = self.backoff.next_delay(err.retry_after)
                what = "central unreachable" if isinstance(err, Unreachable) else "central failed"
                self._retrying(logging.WARNING, what, err, delay)
                self._waiting_for_central = True
            except (ForkRejected, ChainRejected):
                await stop.wait()  # halted; heartbeats go on reporting the problem
                return
            except AuthRejected as err:
                delay = self.backoff.next_delay()
                hint = (
                    " (central does not know this device: enroll again)"
                    if err.code == "unknown_device"
                    else ""
                )
                self._retrying(logging.ERROR, "central refused our signature" + hint, err, delay)
            except Rejected as err:
                delay = await self._refused(err)
            except UplinkError as err:
                delay = self.backoff.next_delay()
                self._retrying(logging.ERROR, "push refused", err, delay)
            except Exception as err:  # a store error, say: keep the daemon (and heartbeats) alive
                delay = self.backoff.next_delay()
                log.exception("push failed unexpectedly; retry in %.1f s", delay)
                self.last_error = f"{type(err).__name__}: {err}"
            else:
                if self.last_error is not None:
                    _event(logging.INFO, "central reachable again")
                self.backoff.reset()
                self.last_error = None
                if self.refused is not None:
                    self.refused = self.refused_since = None
                    await outbox.set_state(self.conn, outbox.UPLINK_REFUSED, "null")
                self._waiting_for_central = False
            await self._pause(stop, delay)

    async def _refused(self, err: Rejected) -> float:
        """Record a permanent refusal; return the slow retry delay. Nothing is dropped."""
        if self.refused is None or self.refused.payload != err.payload:
            self.refused_since = int(time.time())
            self.refused = err
            await outbox.set_state(self.conn, outbox.UPLINK_REFUSED, json.dumps(self._refusal()))
        self.refused = err
        delay = float(self.settings.uplink.refused_retry_s)
        self.last_error = str(err)
        log.critical(
            "central REFUSES the batch at the head of the outbox: %s; the records stay in the "
            "outbox and the batch is tried again in %.0f s. Ask central operations to look.",
            err,
            delay,
            extra={"event": "refused", "error": err.error, "status": err.status},
        )
        return delay

    def _retrying(self, level: int, what: str, err: Exception, delay: float) -> None:
        self.last_error = str(err)
        log.log(
            level,
            "%s: %s; retry in %.2f s",
            what,
            err,
            delay,
            extra={
                "event": "retry",
                "error": str(err),
                "delay_s": delay,
                "failures": self.backoff.failures,
            },
        )

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        interval = float(self.settings.uplink.heartbeat_s)
        while not stop.is_set():
            try:
                held = await self.heartbeat_once()
            except NotEnrolled:
                pass
            except UplinkError as err:
                log.warning("heartbeat failed: %s", err, extra={"event": "heartbeat_failed"})
            except Exception:
                log.exception("heartbeat failed unexpectedly")
            else:
                log.debug("heartbeat held_seq=%d", held, extra={"event": "heartbeat"})
                if self.client.actions_waiting:
                    self.actions.wake()
                if self._waiting_for_central:
                    # Central answers again: push now rather than at the end of the backoff,
                    # and ask for the configuration that may have changed meanwhile.
                    self._waiting_for_central = False
                    self.backoff.reset()
                    self.wake()
                    self._config_wake.set()
            await _wait(stop, interval)
