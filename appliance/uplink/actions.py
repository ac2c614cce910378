"""Remote actions in the uplink (docs/PROTOCOL.md 2.7): fetched from central, verified, stored,
the uplink's own kinds run, and every result reported.

Central is asked at start, whenever a heartbeat's answer says actions wait, and every
``uplink.actions_s`` besides. Each action is checked against central's key pinned at
enrollment, this device's id and its expiry (on central's clock as the client knows it); a
refused one is logged and never stored or run. Stored ones are run once each (the store's key
is central's id): the doctor (``bitagora doctor --json --offline --no-print`` as a child
process, which reads the same settings: the uplink exports its ``--config`` and
``--data-dir``) and the kiosk's last log lines run here; the kiosk runs the rest between sales
(services/remote_actions.py). Results, whoever wrote them, are noticed by polling the store (one
indexed query a second, as the outbox is) and posted until central takes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

from appliance.config import Settings
from appliance.logs import kiosk_log, last_lines
from appliance.store import config_documents, outbox
from appliance.store import remote_actions as store
from appliance.store.identity import DeviceIdentity
from appliance.uplink.client import CentralClient, Transient, UplinkError
from bitagora_protocol.central_signature import SignedObjectError
from bitagora_protocol.remote_action import UPLINK_KINDS, verify

log = logging.getLogger(__name__)

DOCTOR_TIMEOUT_S = 120.0
DOCTOR_COMMAND = (
    sys.executable,
    "-m",
    "appliance.cli",
    "doctor",
    "--json",
    "--offline",
    "--no-print",
)


class ActionRunner:
    def __init__(
        self,
        settings: Settings,
        conn: aiosqlite.Connection,
        identity: DeviceIdentity,
        client: CentralClient,
        *,
        doctor_command: Sequence[str] = DOCTOR_COMMAND,
        poll_interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.identity = identity
        self.client = client
        self.doctor_command = tuple(doctor_command)
        self.poll_interval_s = poll_interval_s
        self._monotonic = monotonic
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Ask central now (a heartbeat's answer said actions wait, or the kiosk finished one)."""
        self._wake.set()

    async def fetch_once(self) -> list[int]:
        """Fetch, verify and store central's actions; return the ids new to this device."""
        key = await outbox.get_state(self.conn, config_documents.STATE_CENTRAL_KEY)
        if key is None:
            return []
        stored = []
        for signed in await self.client.fetch_actions():
            try:
                action = verify(
                    signed, bytes.fromhex(key), self.identity.device_id, self.client.now()
                )
            except SignedObjectError as err:
                log.error(
                    "remote action refused: %s",
                    err.reason,
                    extra={"event": "action_refused", "reason": err.reason},
                )
                continue
            if await store.receive(self.conn, action, json.dumps(signed)):
                log.info("remote action received", extra={"id": action.id, "kind": action.kind})
                stored.append(action.id)
        return stored

    async def run_own(self) -> int:
        """Run the queued actions of the uplink's kinds; return how many ran."""
        await store.expire(self.conn, self.client.now())
        ran = 0
        while (action := await store.claim(self.conn, UPLINK_KINDS, self.client.now())) is not None:
            try:
                state, result = await self._run(action)
            except Exception as err:  # a failed action is reported, never the daemon's end
                log.exception("remote action failed", extra={"id": action.id})
                state, result = "failed", {"error": f"{type(err).__name__}: {err}"}
            await store.finish(self.conn, action.id, state, result)
            ran += 1
        return ran

    async def _run(self, action: store.StoredAction) -> tuple[str, dict[str, Any]]:
        if action.kind == "logs":
            path = kiosk_log(self.settings.data_dir)
            lines = await asyncio.to_thread(last_lines, path, int(action.parameters["lines"]))
            return "done", {"file": str(path), "lines": lines}
        return await self._doctor()

    async def _doctor(self) -> tuple[str, dict[str, Any]]:
        process = await asyncio.create_subprocess_exec(
            *self.doctor_command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), DOCTOR_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            return "failed", {"error": f"the doctor did not finish within {DOCTOR_TIMEOUT_S:.0f} s"}
        try:
            report = json.loads(out)
        except ValueError:
            tail = err.decode("utf-8", "replace")[-500:]
            return "failed", {"error": f"the doctor exited {process.returncode}: {tail}"}
        return "done", {"doctor": report, "ok": report.get("ok") is True}

    async def report_once(self) -> int:
        """Post every finished action's result central has not taken yet; return how many."""
        reported = 0
        for finished in await store.unreported(self.conn):
            await self.client.post_action_result(finished.id, finished.state, finished.result)
            await store.mark_reported(self.conn, finished.id, self.client.now())
            reported += 1
        return reported

    async def fetch_round(self) -> None:
        """Ask central, run what is the uplink's, and fail what expired unrun."""
        await self.fetch_once()
        await self.run_own()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a fetch round at start, on ``wake`` and every ``uplink.actions_s``;
        in between, every ``poll_interval_s``, the results the kiosk wrote are reported."""
        interval = float(self.settings.uplink.actions_s)
        next_fetch = 0.0
        while not stop.is_set():
            try:
                if self._wake.is_set() or self._monotonic() >= next_fetch:
                    self._wake.clear()
                    next_fetch = self._monotonic() + interval
                    await self.fetch_round()
                await self.report_once()
            except Transient as err:
                log.warning("remote actions: %s", err, extra={"event": "actions_retry"})
            except UplinkError as err:
                log.error("remote actions refused: %s", err, extra={"event": "actions_retry"})
            except Exception:  # a store error, say: try again at the next round
                log.exception("remote actions failed unexpectedly")
            if not stop.is_set():
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval_s)
                except TimeoutError:
                    pass
