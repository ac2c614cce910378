"""Installing the update the uplink staged from central: ``bitagora update apply-staged``.

The uplink (the services' user) leaves a checked bundle and its offer in ``<data dir>/updates/``
(``staged.bundle``, then ``staged.json`` written last, by rename; appliance/uplink/updates.py).
This runs as root (bitagora-update-apply.service, started by its path unit when an offer is
staged and by its timer while one waits) and installs it through the release slots
(``slots.install``: verified again against the pinned key, confirmed or rolled back as any
install) only when

- the maintenance window of the offer is open (the till's local time; a window whose start is
  after its end runs past midnight),
- the till is idle: no cart open at the kiosk (``till_state`` in the store,
  services/activity.py), asked again just before the switch, after the slot is built,
- and, for an offer ``after_z``, no sale was recorded since the last Z closing.

Otherwise it says why and leaves the bundle staged for the next try. An install that fails is
written to the slots' state as "failed", which the uplink reports to central like a rollback.
The staged files are the uplink's: it removes them once it has reported the update's outcome,
so this command (root) never writes the data directory; until then it leaves alone an offer
whose release runs already or was tried.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path
from typing import Any

from appliance.config import Settings
from appliance.store import outbox
from appliance.store.readonly import sold_since_last_z, state_value
from appliance.update.slots import (
    CURRENT,
    NotNow,
    UpdateError,
    UpdateState,
    install,
    linked_version,
    load_state,
    now_text,
    save_state,
)

UPDATES_DIR = "updates"
STAGED_BUNDLE = "staged.bundle"
STAGED_OFFER = "staged.json"


def updates_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / UPDATES_DIR


@dataclass(frozen=True)
class StagedOffer:
    version: str
    window: tuple[time, time] | None
    after_z: bool

    @classmethod
    def read(cls, path: Path) -> StagedOffer | None:
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise UpdateError(f"cannot read the staged offer {path}: {err}") from None
        window = data.get("window")
        try:
            span = None
            if window:
                span = (time.fromisoformat(window["start"]), time.fromisoformat(window["end"]))
            return cls(str(data["version"]), span, data.get("after_z") is True)
        except (KeyError, TypeError, ValueError) as err:
            raise UpdateError(f"the staged offer {path} is not one central sends: {err}") from None


def in_window(window: tuple[time, time] | None, now: time) -> bool:
    if window is None:
        return True
    start, end = window
    if start <= end:
        return start <= now < end
    return now >= start or now < end  # past midnight


def waiting_for(settings: Settings, offer: StagedOffer, now: datetime) -> str | None:
    """Why the staged update must wait now, or None when it may be installed."""
    if not in_window(offer.window, now.time()):
        assert offer.window is not None
        start, end = (t.strftime("%H:%M") for t in offer.window)
        return f"outside the maintenance window {start}-{end}"
    try:
        till = state_value(settings.database_path, outbox.TILL_STATE)
    except (OSError, sqlite3.Error) as err:
        return f"cannot tell whether the till is idle ({err})"
    if till == outbox.TILL_BUSY:
        return "a sale is under way at the till"
    if offer.after_z and sold_since_last_z(settings.database_path):
        return "the till has sold since its last Z closing"
    return None


def apply_staged(settings: Settings, clock: Callable[[], datetime] = datetime.now) -> str:
    """Install the staged update if it may be now; what was done (or why not), in words."""
    folder = updates_dir(settings)
    offer = StagedOffer.read(folder / STAGED_OFFER)
    if offer is None:
        return "no update staged"
    root = Path(settings.update.root)
    if linked_version(root, CURRENT) == offer.version:
        return f"update {offer.version} runs already"
    last = load_state(root)
    if last is not None and last.state != "good" and offer.version in (last.failed, last.version):
        return f"update {offer.version} was tried already: {last.state}"
    reason = waiting_for(settings, offer, clock())
    if reason:
        return f"update {offer.version} waits: {reason}"
    try:
        done = install(
            settings, folder / STAGED_BUNDLE, ready=lambda: waiting_for(settings, offer, clock())
        )
    except NotNow as err:
        return f"update {offer.version} waits: {err}"
    except UpdateError as err:
        running = linked_version(root, CURRENT)
        save_state(
            root,
            UpdateState(
                "failed",
                running or "none",
                running,
                failed=offer.version,
                reason=str(err)[:500],
                at=now_text(),
            ),
        )
        done = f"update {offer.version} failed: {err}"
    return done
