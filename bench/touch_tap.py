"""Benchmark: a touchscreen tap, from its input-event bytes to the button's handler, vs. the same
click posted straight into the app.

The kiosk runs headless (100x30 cells, an 800x480 panel with the 8x16 console font) and reads
a FIFO as its touchscreen. Each touch tap writes BTN_TOUCH/ABS_X/ABS_Y/SYN_REPORT and the lift
into the FIFO; the baseline posts the MouseDown/MouseUp pair the driver would post, at the same
cell. Both are timed until the first frame the app renders with the product's quantity gone up
(stamped where the app renders it, bench/kiosk_probe.py), interleaved, with the kiosk's garbage
collection policy (``quiet_gc``, as `bitagora kiosk`). Prints median and p99 of each and their
difference: the touch path's own cost.
Usage: python bench/touch_tap.py [--count N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from kiosk_probe import Predicate, Probe  # noqa: E402
from smoke import parse_args  # noqa: E402
from textual import events  # noqa: E402
from textual.screen import Screen  # noqa: E402
from touch_helpers import RAW, Panel, centre, console_cells, panel, touch_env  # noqa: E402
from tui_helpers import kiosk, till_with_printer  # noqa: E402

from appliance.drivers.touch import (  # noqa: E402
    ABS_X,
    ABS_Y,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_SYN,
    SYN_REPORT,
    TouchDecoder,
    record,
)
from appliance.tui.app import KioskApp  # noqa: E402
from appliance.tui.widgets.product_grid import ProductGrid  # noqa: E402

PANEL_PX = (800, 480)
TIMEOUT_S = 20.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def shows_quantity(app: KioskApp, quantity: int) -> Predicate:
    """A frame of the sell screen drawn once the cart holds ``quantity`` of the tapped product."""

    def shown(screen: Screen[Any]) -> bool:
        lines = app.sell.cart.lines
        return screen is app.sell and bool(lines) and lines[0].quantity >= quantity

    return shown


async def rendered(frame: asyncio.Future[float]) -> float:
    async with asyncio.timeout(TIMEOUT_S):
        return await frame


async def run(count: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        root = Path(folder)
        fifo = root / "touch"
        os.mkfifo(fifo)
        async with (
            till_with_printer(root, touch_env(fifo, RAW)) as (till, _printer),
            kiosk(till, size=console_cells(*PANEL_PX), quiet_gc=True) as (app, _pilot),
            panel(fifo, *PANEL_PX, RAW) as glass,
        ):
            probe = Probe(app)
            button = next(b for b in app.sell.query_one(ProductGrid).buttons if b.display)
            col, row = centre(button)
            touch_ms: list[float] = []
            post_ms: list[float] = []
            quantity = 0
            for i in range(count + 20):
                for way, times in ((tap_by_touch, touch_ms), (tap_by_post, post_ms)):
                    quantity += 1
                    frame = probe.frame(shows_quantity(app, quantity))
                    start = time.perf_counter()
                    way(app, glass, col, row)
                    drawn = await rendered(frame)
                    if i >= 20:
                        times.append((drawn - start) * 1000)
    for name, times in (("touch tap (FIFO bytes)", touch_ms), ("posted click", post_ms)):
        print(
            f"{name:24} median {statistics.median(times):6.2f} ms  p99 {pct(times, 0.99):6.2f} ms"
        )
    cost = statistics.median(touch_ms) - statistics.median(post_ms)
    print(f"{'touch path cost':24} median {cost:6.2f} ms")
    print(f"{'decoding one tap':24} {decode_us():6.2f} µs (its 6 records, 24 bytes each)")


def decode_us(taps: int = 10_000) -> float:
    """The decoder alone: microseconds per tap over one buffer of ``taps`` taps."""
    tap = b"".join(
        record(*event)
        for event in (
            (EV_KEY, BTN_TOUCH, 1),
            (EV_ABS, ABS_X, 2048),
            (EV_ABS, ABS_Y, 1024),
            (EV_SYN, SYN_REPORT, 0),
            (EV_KEY, BTN_TOUCH, 0),
            (EV_SYN, SYN_REPORT, 0),
        )
    )
    decoder = TouchDecoder(RAW)
    start = time.perf_counter()
    found = decoder.feed(tap * taps)
    elapsed = time.perf_counter() - start
    assert len(found) == 2 * taps
    return elapsed / taps * 1e6


def tap_by_touch(_app: KioskApp, glass: Panel, col: int, row: int) -> None:
    glass.tap(*glass.at_cell(col, row))


def tap_by_post(app: KioskApp, _glass: Panel, col: int, row: int) -> None:
    for kind in (events.MouseDown, events.MouseUp):
        app.post_message(
            kind(None, col, row, 0, 0, 1, False, False, False, screen_x=col, screen_y=row)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    args = parse_args(parser, count=10)
    asyncio.run(run(args.count))


if __name__ == "__main__":
    main()
