"""Benchmark: the bitcoin pay screen in the real kiosk app, headless, against the simulators.

1. "Pay bitcoin" tapped -> the QR on screen: from the tap on #pay-bitcoin (mouse down and up
   posted as terminal input is) to the first frame the app renders with the QrCode widget
   showing the offer's payload, laid out whole. The exchange rate is already cached, as at a till
   that took a bitcoin payment less than ``rates.refresh_s`` ago; each app's first payment (cold
   screen, no rate yet) is printed on its own, and one more app with ``rates.refresh_s = 0``
   asks the rate simulators at every offer. Baseline, interleaved: the tap on #pay (cash) -> the
   first frame of the cash pay screen.
2. The node settles the invoice -> the paid screen: from ``LightningSim.pay(label)`` returning
   to SaleDoneScreen becoming the active screen (and to its first frame). Baselines, interleaved:
   the tap on Confirm of a cash sale -> SaleDoneScreen active (the same end after the same kind
   of work: a durable sale commit and the receipt wait), and a trivial message's round trip (a
   callback posted to the sell screen, until its handler runs it: the app's own floor).

Frames are stamped where the app renders them (``App._display``, called with each compositor
update; headless, it then skips the terminal write) and screen switches by the app's
``screen_change_signal``, never by polling: a Pilot pause takes 20 ms or more. Also printed: where
the time goes (the offer, drawing the QR matrix, the settlement up to the sale's commit, the
receipt wait in ``Till.finish_sale``) and the full garbage collections that land inside samples.
Lightning only, then on-chain + Lightning. Prints median and p99 (n=30: p99 is the slowest) and
the ratios. Usage: python bench/bitcoin_pay.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import itertools
import logging
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from bitcoin_helpers import BitcoinShop, bitcoin_shop  # noqa: E402
from kiosk_probe import FullCollections, Probe, press  # noqa: E402
from kiosk_probe import stamp as probe_stamp  # noqa: E402
from smoke import parse_args  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.screen import Screen  # noqa: E402
from tui_helpers import kiosk  # noqa: E402

from appliance.store import checkouts  # noqa: E402
from appliance.tui.app import KioskApp  # noqa: E402
from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen  # noqa: E402
from appliance.tui.screens.pay_cash import PayCashScreen  # noqa: E402
from appliance.tui.screens.sale_done import SaleDoneScreen  # noqa: E402
from appliance.tui.widgets.qr import DEFAULT_QUIET, QrCode, qr_payload, render_qr  # noqa: E402
from appliance.wallet.lightning import sale_label  # noqa: E402
from bitagora_devtools.script import wait_until  # noqa: E402

QUIET_GC = True  # the kiosk's garbage collection policy (KioskApp quiet_gc), as `bitagora kiosk`

TIMEOUT_S = 20.0
PAUSE_GOAL_MS = 20  # no collection longer than this during the sales
CACHED = {"BITAGORA_RATES_REFRESH_S": "3600", "BITAGORA_RATES_MAX_AGE_S": "3600"}
UNCACHED = {"BITAGORA_RATES_REFRESH_S": "0"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Span:
    """Start and end of the latest call of an async method, wrapped on its instance."""

    def __init__(self, owner: Any, name: str) -> None:
        self.start = self.end = 0.0
        method: Callable[..., Awaitable[Any]] = getattr(owner, name)

        async def timed(*args: Any, **kwargs: Any) -> Any:
            self.start = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.end = time.perf_counter()

        setattr(owner, name, timed)


@dataclass
class Series:
    gcs: FullCollections
    values: dict[str, list[float]] = field(default_factory=dict)
    gc_hit: dict[str, list[bool]] = field(default_factory=dict)  # a full GC inside the sample
    first_qr_ms: float = 0.0
    first_gc: bool = False
    qr_modules: int = 0
    sales: int = 0
    objects: int = 0  # tracked by the GC at the end, simulators included
    frozen: int = 0  # of which frozen (gc.freeze)
    peak_rss_mb: float = 0.0  # the process's, so far
    warm_at: float = 0.0  # when the app's first round ended
    warm_sales: int = 0  # sales in it
    watched: list[int] = field(default_factory=list)  # addresses watched for late money
    spans: dict[str, Span] = field(default_factory=dict)

    def add(self, name: str, start: float, end: float) -> None:
        self.values.setdefault(name, []).append((end - start) * 1000)
        self.gc_hit.setdefault(name, []).append(self.gcs.inside(start, end) > 0)

    def median(self, name: str) -> float:
        return statistics.median(self.values[name])

    def p99(self, name: str) -> float:
        return pct(self.values[name], 0.99)


async def stamp(future: asyncio.Future[float], what: str) -> float:
    return await probe_stamp(future, what, TIMEOUT_S)


def qr_shown(screen: Screen[Any]) -> bool:
    if not isinstance(screen, PayBitcoinScreen) or screen.offer is None:
        return False
    qr = screen.query_one(QrCode)
    return bool(
        qr.display and qr.payload == qr_payload(screen.offer.uri) and qr.fits and qr.region.area
    )


async def sell_espresso(pilot: Pilot[None], app: KioskApp) -> None:
    """An espresso in the cart, as its product button does (untimed: no taps, one pause)."""
    sell = app.sell
    products = await app.till.sales.products()
    sell.add_product(next(p for p in products if p.sku == "espresso"))
    await pilot.pause()


def in_sale(app: KioskApp) -> bool:
    """A payment screen, or the sell screen with something in the cart (not: the done screen,
    the lock screen, an empty sell screen)."""
    screen = app.screen
    return isinstance(screen, PayCashScreen | PayBitcoinScreen) or (
        screen is app.sell and bool(app.sell.cart.lines)
    )


def collected_sales(app: KioskApp) -> int:
    """Sales whose garbage the kiosk's policy has collected so far."""
    return app.quiet_gc.sales if app.quiet_gc is not None else 0


async def next_customer(pilot: Pilot[None], app: KioskApp, probe: Probe, owed: int) -> None:
    """Tap "Next customer" on the done screen (drawn by then) and wait for the sell screen.
    With the kiosk's policy, first the moment staff read the done screen: until the policy has
    collected what the sale left (``owed``: the count to reach; quiet_gc.QUIET_S without a
    tap), as between real customers."""
    policy = app.quiet_gc
    if policy is not None:
        await wait_until(pilot, lambda: policy.sales >= owed, "the sale's collection")
    back = probe.switch(lambda s: s is app.sell)
    press(app, "#next-customer")
    await stamp(back, "the sell screen")


async def cash_round(pilot: Pilot[None], app: KioskApp, probe: Probe, out: Series) -> None:
    owed = collected_sales(app) + 1
    await sell_espresso(pilot, app)
    shown = probe.frame(lambda s: isinstance(s, PayCashScreen))
    start = press(app, "#pay")
    out.add("cash screen", start, await stamp(shown, "the cash pay screen"))
    press(app, "#tender-0")
    await wait_until(pilot, lambda: not app.screen.query_one("#confirm").disabled, "a tender")
    done = probe.switch(lambda s: isinstance(s, SaleDoneScreen))
    done_frame = probe.frame(lambda s: isinstance(s, SaleDoneScreen))
    start = press(app, "#confirm")
    out.add("cash done", start, await stamp(done, "the cash sale's done screen"))
    await stamp(done_frame, "the done screen's first frame")
    out.sales += 1
    await next_customer(pilot, app, probe, owed)


async def bitcoin_round(
    pilot: Pilot[None], app: KioskApp, shop: BitcoinShop, probe: Probe, out: Series, first: bool
) -> None:
    offer, finish = out.spans["offer"], out.spans["finish"]
    owed = collected_sales(app) + 1
    await sell_espresso(pilot, app)
    screen_frame = probe.frame(lambda s: isinstance(s, PayBitcoinScreen))
    qr_frame = probe.frame(qr_shown)
    tapped = press(app, "#pay-bitcoin")
    screen_at = await stamp(screen_frame, "the bitcoin pay screen")
    qr_at = await stamp(qr_frame, "the QR on screen")
    if first:
        out.first_qr_ms = (qr_at - tapped) * 1000
        out.first_gc = out.gcs.inside(tapped, qr_at) > 0
    else:
        out.add("qr", tapped, qr_at)
        out.add("tap->offer asked", tapped, offer.start)
        out.add("tap->screen frame", tapped, screen_at)
        out.add("tap->offer made", tapped, offer.end)
        out.add("offer made->qr frame", offer.end, qr_at)
    screen = app.screen
    assert isinstance(screen, PayBitcoinScreen) and screen.offer is not None
    sale_id, uri = screen.offer.sale_id, screen.offer.uri
    drawn = time.perf_counter()
    code = render_qr.__wrapped__(qr_payload(uri), quiet=DEFAULT_QUIET, error_correction="L")
    out.qr_modules = code.modules  # drawn again, not from render_qr's cache
    out.add("render_qr", drawn, time.perf_counter())

    handled = asyncio.get_running_loop().create_future()
    posted = time.perf_counter()
    app.sell.call_later(lambda: handled.set_result(time.perf_counter()))
    out.add("message", posted, await stamp(handled, "the message's handler"))

    if "onchain" in shop.payments.rails:
        # The offer woke the chain monitor; a customer takes seconds to scan, so its check is
        # over before they pay. Wait for it (the lock), then time one check on an idle screen.
        await shop.payments.check()
        checked = time.perf_counter()
        await shop.payments.check()
        out.add("chain check", checked, time.perf_counter())
        out.watched.append(len(await checkouts.watched_for_late(shop.till.conn, shop.clock())))

    active = probe.switch(lambda s: isinstance(s, SaleDoneScreen))
    done_frame = probe.frame(lambda s: isinstance(s, SaleDoneScreen))
    await shop.lightning.pay(sale_label(sale_id))
    paid = time.perf_counter()
    active_at = await stamp(active, "the done screen")
    frame_at = await stamp(done_frame, "the done screen's first frame")
    if not first:
        out.add("ln done", paid, active_at)
        out.add("ln done frame", paid, frame_at)
        out.add("paid->committed", paid, finish.start)
        out.add("finish_sale", finish.start, finish.end)
        out.add("finish->active", finish.end, active_at)
    out.sales += 1
    await next_customer(pilot, app, probe, owed)


async def session(rounds: int, *, onchain: bool, env: dict[str, str], cash: bool) -> Series:
    shown: list[KioskApp] = []
    gcs = FullCollections(lambda: bool(shown) and in_sale(shown[0]))
    out = Series(gcs)
    try:
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
            async with (
                bitcoin_shop(Path(folder), onchain=onchain, env=env) as shop,
                kiosk(shop.till, quiet_gc=QUIET_GC) as (app, pilot),
            ):
                shown.append(app)
                probe = Probe(app)
                out.spans = {
                    "offer": Span(shop.payments, "offer"),
                    "finish": Span(shop.payments.till, "finish_sale"),
                }
                for i in range(rounds + 1):  # round 0: the app's first payments, told apart
                    if cash:
                        await cash_round(pilot, app, probe, out)
                    await bitcoin_round(pilot, app, shop, probe, out, first=i == 0)
                    if i == 0:
                        out.warm_at, out.warm_sales = time.perf_counter(), out.sales
                out.objects = len(gc.get_objects()) + gc.get_freeze_count()
                out.frozen = gc.get_freeze_count()
                out.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    finally:
        gcs.close()
    for name in ("cash screen", "cash done"):  # the cash side's first round is cold too
        if name in out.values:
            out.values[name], out.gc_hit[name] = out.values[name][1:], out.gc_hit[name][1:]
    return out


def line(label: str, s: Series, name: str, hits: bool = True) -> str:
    text = f"  {label:<54} median {s.median(name):7.2f} ms, p99 {s.p99(name):7.2f} ms"
    hit = s.gc_hit[name]
    if hits and any(hit):
        slowest = max(range(len(hit)), key=s.values[name].__getitem__)
        text += f"  ({sum(hit)} with a full GC{', the slowest too' if hit[slowest] else ''})"
    return text


def ratio(label: str, s: Series, name: str, base: str) -> str:
    med, p99 = s.median(name) / s.median(base), s.p99(name) / s.p99(base)
    return f"  ratio {label}: median {med:.2f}, p99 {p99:.2f}"


def report(title: str, s: Series, rounds: int) -> None:
    print(f"{title} (n={rounds} each, after the app's first payments)")
    gc_note = " (a full GC inside)" if s.first_gc else ""
    print(f"  the app's first bitcoin payment (cold, no rate): {s.first_qr_ms:.1f} ms{gc_note}")
    print(line("tap Pay bitcoin -> QR on screen (rate cached)", s, "qr"))
    print(line("tap Pay cash -> cash pay screen on screen (baseline)", s, "cash screen"))
    print(ratio("QR/cash screen", s, "qr", "cash screen"))
    print("  from the tap:")
    print(line("  offer asked (pay screen pushed and mounted)", s, "tap->offer asked", False))
    print(line("  pay screen's first frame (no QR yet)", s, "tap->screen frame", False))
    print(line("  offer made (invoice, address, commits)", s, "tap->offer made", False))
    print(line("  offer made -> QR frame (QR matrix, layout, frame)", s, "offer made->qr frame"))
    modules = f"{s.qr_modules}x{s.qr_modules}"
    print(line(f"  of which render_qr ({modules} modules, timed apart)", s, "render_qr"))
    print(line("node settles -> SaleDoneScreen active", s, "ln done"))
    print(line("node settles -> SaleDoneScreen's first frame", s, "ln done frame"))
    print(line("tap Confirm (cash) -> SaleDoneScreen active (baseline)", s, "cash done"))
    print(line("message to the sell screen -> its handler (floor)", s, "message"))
    print(ratio("settled/cash confirm", s, "ln done", "cash done"))
    print(ratio("settled/message", s, "ln done", "message"))
    print("  from the settlement:")
    print(line("  settled -> sale committed (watcher, 2 commits)", s, "paid->committed"))
    print(line("  Till.finish_sale (the receipt wait)", s, "finish_sale"))
    print(line("  finish_sale returned -> SaleDoneScreen active", s, "finish->active"))
    if s.watched:
        checks = s.values["chain check"]
        print(
            f"  chain check (payments.check: the open offer + the addresses watched for late "
            f"money), idle screen: {checks[0]:.0f} ms with {s.watched[0]} watched, "
            f"{checks[-1]:.0f} ms with {s.watched[-1]}, median {s.median('chain check'):.0f} ms"
        )
    shares = [f / d for f, d in zip(s.values["finish_sale"], s.values["ln done"], strict=True)]
    print(f"  receipt wait's share of settled -> active: median {statistics.median(shares):.0%}")
    durations = [(b - a) * 1000 for a, b in s.gcs.spans]
    if durations:
        print(
            f"  full garbage collections: {len(durations)} in {s.sales} sales, "
            f"median {statistics.median(durations):.1f} ms, max {max(durations):.1f} ms"
        )
    sales = s.sales - s.warm_sales
    print(f"  every collection after the first round ({sales} sales), any generation:")
    for where, selling in (("in a sale or payment screen", True), ("between sales", False)):
        pauses = [
            ((b - a) * 1000, generation)
            for (generation, a, b), sale in zip(s.gcs.pauses, s.gcs.in_sale, strict=True)
            if a >= s.warm_at and sale is selling
        ]
        times = [p for p, _ in pauses] or [0.0]
        print(
            f"    {where}: {len(pauses)} ({sum(g == 2 for _, g in pauses)} full),"
            f" {sum(p > PAUSE_GOAL_MS for p in times)} longer than {PAUSE_GOAL_MS} ms,"
            f" median {statistics.median(times):.2f} ms, p99 {pct(times, 0.99):.2f} ms,"
            f" longest {max(times):.1f} ms"
        )
    print(
        f"  {s.objects:,} objects tracked at the end ({s.frozen:,} of them frozen);"
        f" peak RSS {s.peak_rss_mb:.0f} MB"
    )


class Tally(logging.Handler):
    """The warnings the till logs, counted (instead of one line each on stderr)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: collections.Counter[tuple[str, str]] = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        error = getattr(record, "error", None)
        message = record.getMessage() + (f" ({error})" if error else "")
        self.seen[record.name, message] += 1


async def run(rounds: int, lightning_only: bool) -> None:
    tally = Tally()
    root = logging.getLogger()
    for handler in root.handlers:  # python-escpos sets one up at import: errors only there
        handler.setLevel(logging.ERROR)
    root.addHandler(tally)
    lap = [time.perf_counter()]
    ln = await session(rounds, onchain=False, env=CACHED, cash=True)
    lap.append(time.perf_counter())
    report("Lightning only", ln, rounds)
    if not lightning_only:
        both = await session(rounds, onchain=True, env=CACHED, cash=True)
        lap.append(time.perf_counter())
        fresh = await session(rounds, onchain=False, env=UNCACHED, cash=False)
        lap.append(time.perf_counter())
        report("On-chain + Lightning (one unified QR)", both, rounds)
        print("Lightning only, rates.refresh_s = 0 (the four rate simulators asked at every offer)")
        gc_note = " (a full GC inside)" if fresh.first_gc else ""
        print(f"  the app's first bitcoin payment: {fresh.first_qr_ms:.1f} ms{gc_note}")
        print(line("tap Pay bitcoin -> QR on screen (rate not cached)", fresh, "qr"))
        print(line("  from the tap: offer made", fresh, "tap->offer made", False))
        print(f"  ratio uncached/cached QR: median {fresh.median('qr') / ln.median('qr'):.2f}")
    for (name, message), count in sorted(tally.seen.items()):
        print(f"logged {count}x by {name}: {message}")
    laps = ", ".join(f"{b - a:.0f}" for a, b in itertools.pairwise(lap))
    print(f"run time {lap[-1] - lap[0]:.0f} s (each app: {laps} s)")


def main() -> None:
    global QUIET_GC
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument(
        "--python-gc",
        action="store_true",
        help="leave Python's garbage collection as it is (the kiosk's own policy is the default)",
    )
    parser.add_argument(
        "--lightning-only",
        action="store_true",
        help="only the first app (Lightning, rate cached): e.g. 100 sales with --rounds 50",
    )
    args = parse_args(parser, rounds=1, lightning_only=True)
    QUIET_GC = not args.python_gc
    asyncio.run(run(args.rounds, args.lightning_only))


if __name__ == "__main__":
    main()
