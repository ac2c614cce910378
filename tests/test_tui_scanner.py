"""A serial scanner on the kiosk: the app runs its reader, codes take the sell screen's lookup
path, trouble is shown in words, and the reader stops with the app."""

from __future__ import annotations

from pathlib import Path

import pytest
import serial
from scanner_helpers import PtyScanner
from textual.widgets import Static
from tui_helpers import cart_summary, kiosk, send_keys, till_with_printer

from appliance.tui.scan import StepClock
from appliance.tui.screens.lock import LockScreen
from bitagora_devtools.script import wait_until

pytestmark = pytest.mark.timeout(60)

ESPRESSO = "4006381333931"
JUICE = "8410076472939"


async def test_serial_scanner_codes_reach_the_cart(tmp_path: Path) -> None:
    link = tmp_path / "scanner"
    env = {"BITAGORA_SCANNER_KIND": "serial", "BITAGORA_SCANNER_PORT": str(link)}
    with PtyScanner(link) as device:
        async with till_with_printer(tmp_path, env) as (till, _sim):
            assert till.devices.scanner is not None
            async with kiosk(till, StepClock()) as (app, pilot):
                sell = app.sell
                notice = sell.query_one("#notice", Static)
                await wait_until(pilot, lambda: app.scanner_connected is True, "the scanner")

                device.send(f"{ESPRESSO}\r\n{JUICE}\r\n{ESPRESSO}\r\n".encode())
                await wait_until(pilot, lambda: len(sell.cart.lines) == 2, "three scans")
                await wait_until(pilot, lambda: sell.pending_lookups == 0, "the lookups")
                assert cart_summary(sell) == [(2, "espresso"), (1, "juice")]

                device.send(b"4006381333932\r\n")  # the same words as for a wedge scan
                await wait_until(
                    pilot, lambda: str(notice.content).startswith("Not a valid barcode"), "notice"
                )
                device.send(b"\xff\x00\xfe\r\n")
                await wait_until(
                    pilot, lambda: str(notice.content).startswith("Scan refused"), "refusal"
                )
                assert "baud rate" in str(notice.content) and notice.has_class("-error")

                device.unplug()
                await wait_until(
                    pilot, lambda: "Scanner not connected" in str(notice.content), "unplug"
                )
                device.plug()
                await wait_until(
                    pilot, lambda: str(notice.content) == "Scanner connected again", "replug"
                )
                device.send(f"{JUICE}\n".encode())
                await wait_until(
                    pilot, lambda: cart_summary(sell)[-1] == (2, "juice"), "a scan after replug"
                )

                # Locked: a scan must not change the cart behind the lock screen.
                app.lock()
                await wait_until(
                    pilot,
                    lambda: isinstance(app.screen, LockScreen) and app.screen.is_mounted,
                    "the lock",
                )
                device.send(f"{ESPRESSO}\r\n".encode())
                await wait_until(
                    pilot,
                    lambda: str(notice.content).startswith(f"Scan of {ESPRESSO} ignored"),
                    "the ignored scan",
                )
                assert cart_summary(sell) == [(2, "espresso"), (2, "juice")]
                # Still said once staff unlock: they are the ones to scan it again.
                send_keys(pilot, [*"1234", "enter"])
                await wait_until(pilot, lambda: app.screen is sell, "the unlocked sell screen")
                assert str(notice.content).startswith(f"Scan of {ESPRESSO} ignored")
                task = till.inputs.readers["serial scanner"]
                assert not task.done()
            # The app stopped: its reader task was cancelled, awaited, and let go of the port.
            assert not till.inputs.readers and task.done()
            serial.Serial(str(link), 9600, timeout=0, exclusive=True).close()


async def test_a_wedge_till_runs_no_reader(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        assert till.devices.scanner is None
        async with kiosk(till, StepClock()) as (app, _pilot):
            assert "serial scanner" not in till.inputs.readers
