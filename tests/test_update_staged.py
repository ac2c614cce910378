"""The update the uplink staged from central, installed by `bitagora update apply-staged` only
when the till allows it: inside the offer's maintenance window, with no cart open at the kiosk
(asked again just before the switch), after the day's Z where the offer asks; an install that
fails is kept in the slots' state for the uplink to report. Real device store, real signed
bundle, real release slots; ``systemctl`` records what it is asked (tests/update_helpers.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, time
from pathlib import Path

import pytest
from update_helpers import Device
from uplink_helpers import open_device_store

from appliance.services.activity import TillActivity
from appliance.store import journal
from appliance.store.db import transaction
from appliance.update.slots import CURRENT, linked_version, load_state
from appliance.update.staged import (
    STAGED_BUNDLE,
    STAGED_OFFER,
    apply_staged,
    in_window,
    updates_dir,
)
from appliance.uplink.updates import report_of

NIGHT = datetime(2026, 12, 7, 3, 0)
NOON = datetime(2026, 12, 7, 12, 0)


@pytest.fixture
def device(tmp_path: Path) -> Device:
    return Device(tmp_path)


def stage(device: Device, version: str, **offer: object) -> None:
    """What the uplink leaves after checking central's offer (appliance/uplink/updates.py)."""
    folder = updates_dir(device.settings)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STAGED_BUNDLE).write_bytes(device.bundle(version).read_bytes())
    document = {"rollout": 1, "version": version, "window": None, "after_z": False, **offer}
    (folder / STAGED_OFFER).write_text(json.dumps(document))


def clock(*moments: datetime) -> Iterator[datetime]:
    yield from moments


def test_a_window_past_midnight_wraps() -> None:
    night = (time(22, 0), time(4, 0))
    assert in_window(night, time(23, 30)) and in_window(night, time(3, 59))
    assert not in_window(night, time(4, 0)) and not in_window(night, time(12, 0))
    assert in_window((time(2, 0), time(5, 0)), time(2, 0))
    assert in_window(None, time(12, 0))


async def test_it_waits_for_the_window_and_an_idle_till_then_installs(device: Device) -> None:
    async with open_device_store(device.data_dir) as store:
        stage(device, "2.0", window={"start": "02:00", "end": "05:00"})
        assert apply_staged(device.settings, lambda: NOON) == (
            "update 2.0 waits: outside the maintenance window 02:00-05:00"
        )
        activity = TillActivity(store.conn)
        await activity.set_busy(True)  # the kiosk: a cart is open
        assert apply_staged(device.settings, lambda: NIGHT) == (
            "update 2.0 waits: a sale is under way at the till"
        )
        assert linked_version(device.root, CURRENT) is None
        assert device.systemctl_calls() == []

        # Idle when asked first, but the window closed while the slot was built: built, not
        # switched, still staged for the next try.
        await activity.set_busy(False)
        moments = clock(NIGHT, NOON)
        assert apply_staged(device.settings, lambda: next(moments)) == (
            "update 2.0 waits: release 2.0 is installed in its slot but not switched to: "
            "outside the maintenance window 02:00-05:00"
        )
        assert linked_version(device.root, CURRENT) is None
        assert (updates_dir(device.settings) / STAGED_OFFER).exists()

        done = apply_staged(device.settings, lambda: NIGHT)
        assert done.startswith("installed 2.0 (was none); pending until")
        assert device.running() == "bitagora 2.0 tiny-dep"
        assert device.systemctl_calls()[0].startswith("restart bitagora-kiosk.service")
        # Staged until the uplink has reported it, but never installed twice.
        assert apply_staged(device.settings, lambda: NIGHT) == "update 2.0 runs already"


async def test_after_z_waits_until_no_sale_follows_the_last_z(device: Device) -> None:
    async with open_device_store(device.data_dir) as store:
        stage(device, "2.0", after_z=True)
        await store.write(1)  # a sale
        assert apply_staged(device.settings, lambda: NOON) == (
            "update 2.0 waits: the till has sold since its last Z closing"
        )
        async with transaction(store.conn):
            await journal.append(
                store.conn,
                store.identity,
                "z_close",
                {"z_number": 1, "period": {"first_seq": 1, "last_seq": 1}},
            )
        assert apply_staged(device.settings, lambda: NOON).startswith("installed 2.0")


async def test_a_failed_install_is_kept_for_the_uplink_to_report(device: Device) -> None:
    async with open_device_store(device.data_dir):
        stage(device, "2.0")
        # Signed with a key the device does not pin: refused, nothing installed.
        (device.tmp / "elsewhere").mkdir()
        other = Device(device.tmp / "elsewhere")
        (updates_dir(device.settings) / STAGED_BUNDLE).write_bytes(other.bundle("2.0").read_bytes())
        done = apply_staged(device.settings, lambda: NOON)
        assert done.startswith("update 2.0 failed: bundle refused, nothing installed")
        state = load_state(device.root)
        assert state is not None
        report = report_of(state)
        assert report is not None
        assert (report["outcome"], report["failed"]) == ("failed", "2.0")
        assert "does not verify with the pinned release key" in report["reason"]
        # Tried once: not again, until the uplink has reported it and removed the files.
        assert apply_staged(device.settings, lambda: NOON) == (
            "update 2.0 was tried already: failed"
        )
