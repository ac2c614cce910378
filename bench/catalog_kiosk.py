"""Benchmark: the kiosk over a shop's catalog, 5,000 and 50,000 products against the demo's.

For each catalog, on a data directory of its own (the demo's staff and, for the large ones, a
generated grocery catalog imported with ``catalog_io.import_file`` as ``bitagora catalog import``
does):
- start: ``bitagora kiosk`` spawned in a pseudo-terminal until "Enter your PIN" is drawn
  (``bench/kiosk_start.py``'s measure), runs alternating between the catalogs; and the kiosk
  process's resident memory (VmRSS) once the sell screen behind the lock has read the catalog
  (the lock screen is drawn first: read after a settling second) and its peak (VmHWM);
- keystroke: in the real ``KioskApp`` (headless, ``run_test``), unlocked, a key event posted to
  the app as a terminal's would be, until the grid holds the results for the text typed so far
  (``SellScreen.view_settled``, watched every millisecond; Textual draws the frame after it within
  its refresh interval); Pilot's own waits are kept out of the timing;
- category switch: a tab's ``CategoryBar.Selected`` (what its tap posts) until the grid holds that
  category's first page.
The demo catalog is the baseline, measured in the same run. Usage:
python bench/catalog_kiosk.py [--sizes 5000,50000] [--runs N] [--keys N]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from catalog import generate, write_csv  # noqa: E402
from kiosk_start import pct, time_to_ready, unused_port  # noqa: E402
from smoke import parse_args  # noqa: E402

SETTLE_S = 1.0  # after the lock screen is drawn, for the catalog read behind it (a bench only)


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)


def start_and_rss(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds to the lock screen, and the kiosk's RSS and peak RSS (MB) a second later."""
    seen: dict[str, tuple[float, float]] = {}

    def at_ready(pid: int) -> None:
        time.sleep(SETTLE_S)  # a benchmark's pause before reading memory, not synchronisation
        seen["rss"] = rss_mb(pid)

    seconds = time_to_ready(argv, env, at_ready)
    return seconds, *seen["rss"]


async def interactive(folder: Path, keys: int) -> tuple[list[float], list[float]]:
    """Keystroke → grid shown, and category tab → grid shown, in ms, in the real app."""
    from textual import events

    from appliance import bootstrap
    from appliance.config import load_settings
    from appliance.tui.app import KioskApp
    from appliance.tui.scan import StepClock
    from appliance.tui.widgets.category_bar import CategoryBar
    from bitagora_devtools.script import SIZE, wait_until

    async def settled(sell: Any, search: str, category: str | None = None) -> None:
        """The key or tab has reached the screen and the grid holds its page."""

        def done() -> bool:
            wanted = category is None or sell.category == category
            return bool(sell.search == search and wanted and sell.view_settled)

        async with asyncio.timeout(10):
            while not done():  # noqa: ASYNC110 (a bench polls its condition)
                await asyncio.sleep(0.001)  # polling a benchmark's condition, not synchronisation

    settings = load_settings(folder, env={"BITAGORA_PRINTER_PORT": str(unused_port())})
    till = await bootstrap.open_till(settings)
    rng = random.Random(3)
    words = ["leche", "agua", "cafe", "pao", "creme", "zumo", "#12", "jamon", "pilas"]
    key_ms: list[float] = []
    tab_ms: list[float] = []
    try:
        clock = StepClock()
        app = KioskApp(till, clock=clock, next_customer_after_s=None)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: app.sell.catalog_loaded, "the catalog")
            await pilot.press(*"1234", "enter")
            await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
            sell = app.sell
            await wait_until(pilot, lambda: sell.view_settled, "the grid")
            while len(key_ms) < keys:
                sell_text = ""
                for char in rng.choice(words):
                    clock.now += 0.3  # typed by a person, not a scanner burst
                    start = time.perf_counter()
                    app.post_message(events.Key(char, char))
                    await asyncio.sleep(0)
                    await settled(sell, sell_text + char)
                    sell_text += char
                    key_ms.append((time.perf_counter() - start) * 1000)
                    await pilot.pause()
                await pilot.press("escape")
                await wait_until(pilot, lambda: sell.view_settled, "the category again")
            tabs = list(sell.query(".category"))
            for _ in range(keys // 2):
                tab = rng.choice(tabs)
                start = time.perf_counter()
                sell.post_message(CategoryBar.Selected(str(tab.name)))
                await asyncio.sleep(0)
                await settled(sell, "", str(tab.name))
                tab_ms.append((time.perf_counter() - start) * 1000)
                await pilot.pause()
    finally:
        await till.close()
    return key_ms, tab_ms


def prepare(folder: Path, size: int, env: dict[str, str]) -> None:
    """The demo's staff and catalog (a first start with --seed-demo), then ``size`` products."""
    time_to_ready([sys.executable, "-m", "appliance.cli", "kiosk", "--seed-demo"], env)
    if size:
        from appliance.catalog_io import import_file
        from appliance.config import load_settings

        path = folder / "catalog.csv"
        write_csv(path, generate(size))
        import_file(load_settings(folder, env={}), path)


def line(label: str, values: list[float], unit: str) -> str:
    return (
        f"  {label:<34} median {statistics.median(values):8.1f} {unit}, "
        f"p99 {pct(values, 0.99):8.1f} {unit}  (n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keys", type=int, default=200)
    args = parse_args(parser, sizes="", runs=1, keys=5)
    sizes = [0, *(int(s) for s in args.sizes.split(",") if s)]
    label = {0: "demo catalog (baseline)"} | {s: f"{s:,} products" for s in sizes if s}
    with tempfile.TemporaryDirectory() as root:
        envs = {}
        for size in sizes:
            folder = Path(root) / str(size)
            env = {k: v for k, v in os.environ.items() if not k.startswith("BITAGORA_")}
            env |= {
                "TERM": "xterm-256color",
                "BITAGORA_DATA_DIR": str(folder),
                "BITAGORA_PRINTER_PORT": str(unused_port()),
            }
            prepare(folder, size, env)
            envs[size] = env
        kiosk = [sys.executable, "-m", "appliance.cli", "kiosk"]
        starts: dict[int, list[tuple[float, float, float]]] = {s: [] for s in sizes}
        for _ in range(args.runs):  # alternating: the machine's noise hits every size alike
            for size in sizes:
                starts[size].append(start_and_rss(kiosk, envs[size]))
        for size in sizes:
            runs = starts[size]
            print(label[size])
            print(line("start to lock screen", [s * 1000 for s, _, _ in runs], "ms"))
            print(line("RSS at the lock screen (+1 s)", [r for _, r, _ in runs], "MB"))
            print(line("peak RSS (VmHWM)", [h for _, _, h in runs], "MB"))
            key_ms, tab_ms = asyncio.run(interactive(Path(root) / str(size), args.keys))
            print(line("keystroke to grid shown", key_ms, "ms"))
            print(line("category switch to grid shown", tab_ms, "ms"))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
