"""Staged updates, the uplink's part (docs/PROTOCOL.md 2.8; docs/TECHNICIAN.md "Updates from
central"): take central's offer, download the bundle, check it against the pinned release key
and stage it for the installer; report what became of every update, however it came.

The uplink runs as the services' user and installs nothing: it leaves a checked bundle and its
offer in ``<data dir>/updates/`` (``staged.bundle`` then ``staged.json``, the latter written
last, by rename), where ``bitagora update apply-staged`` (root, started by a systemd path unit
and a timer) installs it once the till is idle and the maintenance window is open.

The outcome of the last update is read from the release slots' ``update-state.json`` (written
by ``bitagora update install`` and ``confirm``, whether the bundle came from central or a USB
stick) and sent once per change: the state, the release and the time it names are remembered
in the store (``update_reported``). Once told, the staged files of that release are removed.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite

from appliance import __version__
from appliance.config import Settings
from appliance.store import outbox
from appliance.store.durable import write_atomic
from appliance.update.bundle import BundleError, load_public_key, verify_file
from appliance.update.slots import UpdateError, UpdateState, load_state
from appliance.update.staged import STAGED_BUNDLE, STAGED_OFFER, updates_dir
from appliance.uplink.client import CentralClient

log = logging.getLogger(__name__)

STATE_OFFER_ETAG = "update_offer_etag"  # the offer last staged or refused: not fetched again
STATE_REPORTED = "update_reported"
# update-state.json's states that are an outcome to report ("pending" is not one yet).
OUTCOMES = {"good": "installed", "rolled_back": "rolled_back", "failed": "failed"}


def report_of(state: UpdateState) -> dict[str, Any] | None:
    """The report central takes for an update state, or None while it is pending."""
    outcome = OUTCOMES.get(state.state)
    if outcome is None:
        return None
    failed = None if outcome == "installed" else (state.failed or state.version)
    return {
        "outcome": outcome,
        "version": state.version,
        "failed": failed,
        "reason": state.reason[:500],
        "at": state.at[:40],
    }


class Updates:
    def __init__(self, settings: Settings, conn: aiosqlite.Connection, client: CentralClient):
        self.settings = settings
        self.conn = conn
        self.client = client

    async def offer_once(self) -> str | None:
        """Ask central for an update; stage a new one that checks out. Returns the version
        staged, or None. A bundle that does not check out is reported as failed."""
        etag = await outbox.get_state(self.conn, STATE_OFFER_ETAG)
        fetched = await self.client.fetch_update_offer(etag)
        if fetched is None:
            return None
        offer, etag = fetched
        version = str(offer.get("version"))
        if version == __version__:
            return None  # running it already: the report of its install closes the offer
        folder = updates_dir(self.settings)
        folder.mkdir(mode=0o755, exist_ok=True)
        part = folder / (STAGED_BUNDLE + ".part")
        await self.client.download_bundle(part)
        try:
            await asyncio.to_thread(self._check, part, offer)
        except BundleError as err:
            part.unlink(missing_ok=True)
            await outbox.set_state(self.conn, STATE_OFFER_ETAG, etag)
            log.error("update %s refused: %s", version, err, extra={"event": "update_refused"})
            await self.client.report_update(
                {
                    "outcome": "failed",
                    "version": __version__,
                    "failed": version,
                    "reason": f"bundle refused: {err}"[:500],
                    "at": datetime.now(UTC).isoformat(timespec="seconds"),
                }
            )
            return None
        part.replace(folder / STAGED_BUNDLE)
        write_atomic(folder / STAGED_OFFER, json.dumps(offer, sort_keys=True).encode("utf-8"))
        await outbox.set_state(self.conn, STATE_OFFER_ETAG, etag)
        log.info("update %s staged for installation", version, extra={"event": "update_staged"})
        return version

    def _check(self, bundle: Path, offer: dict[str, Any]) -> None:
        with bundle.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if digest != offer.get("sha256"):
            raise BundleError("the download differs from the bundle central offered")
        manifest = verify_file(bundle, load_public_key(Path(self.settings.update.public_key)))
        if manifest.version != offer.get("version"):
            raise BundleError(
                f"the bundle holds release {manifest.version}, not the {offer.get('version')} "
                "offered"
            )

    async def report_once(self) -> bool:
        """Send the last update's outcome if it changed since the last report; whether sent."""
        try:
            state = load_state(Path(self.settings.update.root))
        except UpdateError as err:
            log.warning("cannot read the last update's outcome: %s", err)
            return False
        report = None if state is None else report_of(state)
        if report is None:
            return False
        key = json.dumps([report["outcome"], report["version"], report["at"]])
        if await outbox.get_state(self.conn, STATE_REPORTED) == key:
            return False
        await self.client.report_update(report)
        await outbox.set_state(self.conn, STATE_REPORTED, key)
        self._unstage(report["failed"] or report["version"])
        return True

    def _unstage(self, version: str) -> None:
        """The staged update's outcome is told: its files go (the installer, root, leaves the
        data directory alone)."""
        folder = updates_dir(self.settings)
        try:
            staged = json.loads((folder / STAGED_OFFER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(staged, dict) and staged.get("version") == version:
            (folder / STAGED_OFFER).unlink(missing_ok=True)
            (folder / STAGED_BUNDLE).unlink(missing_ok=True)
