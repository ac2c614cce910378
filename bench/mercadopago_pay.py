"""Benchmark: Mercado Pago payments in the real kiosk app, headless, against the Mercado Pago
simulator over real HTTP (the SDK's calls in worker threads, as on a till).

1. Pay → QR shown (QR): from the tap on #pay-mercadopago_qr to the first frame rendered with
   the order's QR code drawn whole. Pay → waiting for the card (Point): from the tap on
   #pay-mercadopago_point to the first frame that says the order is on the device.
2. Approved → paid screen: from the simulated customer paying (``/_sim`` control, as the Point
   device or the payer's app would) to SaleDoneScreen becoming the active screen. The till
   learns the outcome by polling every ``mercadopago.poll_s`` (1 s as shipped), so this is
   about half the poll interval plus the order's (and for Point the payment's) read, the sale's
   durable commit and the receipt wait; ``--poll-s`` sets the interval.

Frames and screen switches are stamped where the app renders them (bench/kiosk_probe.py).
Prints median and p99 (the slowest of n when n < 100). Usage:
python bench/mercadopago_pay.py [--rounds N] [--poll-s S]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk_probe import Probe, press  # noqa: E402
from kiosk_probe import stamp as probe_stamp  # noqa: E402
from smoke import parse_args  # noqa: E402
from textual.pilot import Pilot  # noqa: E402
from textual.screen import Screen  # noqa: E402
from tui_helpers import kiosk, till_with_printer  # noqa: E402

from appliance.tui.app import KioskApp  # noqa: E402
from appliance.tui.screens.pay_mercadopago import PayMercadoPagoScreen  # noqa: E402
from appliance.tui.screens.sale_done import SaleDoneScreen  # noqa: E402
from appliance.tui.widgets.qr import QrCode  # noqa: E402
from bitagora_devtools.sim.mercadopago import (  # noqa: E402
    DEFAULT_POS,
    DEFAULT_TERMINAL,
    DEFAULT_TOKEN,
    MercadoPagoSim,
)
from tests.http_helpers import serve  # noqa: E402

TIMEOUT_S = 30.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def stamp(future: asyncio.Future[float], what: str) -> float:
    return await probe_stamp(future, what, TIMEOUT_S)


def order_shown(method: str) -> Callable[[Screen[Any]], bool]:
    def shown(screen: Screen[Any]) -> bool:
        if not isinstance(screen, PayMercadoPagoScreen) or screen.attempt is None:
            return False
        if method == "mercadopago_point":
            return True  # the order is on the device: the screen says "Waiting for the card"
        qr = screen.query_one("#mp-qr", QrCode)
        return bool(qr.display and qr.shown == screen.attempt.qr_data and qr.region.area)

    return shown


async def one_round(
    pilot: Pilot[None], app: KioskApp, sim: MercadoPagoSim, probe: Probe, method: str
) -> tuple[float, float]:
    products = await app.till.sales.products()
    app.sell.add_product(next(p for p in products if p.sku == "espresso"))
    await pilot.pause()
    shown = probe.frame(order_shown(method))
    tapped = press(app, f"#pay-{method}")
    shown_at = await stamp(shown, "the order on screen")
    done = probe.switch(lambda s: isinstance(s, SaleDoneScreen))
    done_frame = probe.frame(lambda s: isinstance(s, SaleDoneScreen))
    paid_at = time.perf_counter()
    if method == "mercadopago_point":
        sim.point("APRO")
    else:
        sim.qr("APRO")
    done_at = await stamp(done, "the paid screen")
    await stamp(done_frame, "the paid screen's first frame")
    back = probe.switch(lambda s: s is app.sell)
    press(app, "#next-customer")
    await stamp(back, "the sell screen")
    return (shown_at - tapped) * 1000, (done_at - paid_at) * 1000


async def measure(rounds: int, poll_s: float) -> dict[str, dict[str, list[float]]]:
    sim = MercadoPagoSim()
    figures: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        async with serve(sim.app()) as url:
            env = {
                "BITAGORA_MERCADOPAGO_ACCESS_TOKEN": DEFAULT_TOKEN,
                "BITAGORA_MERCADOPAGO_POINT_TERMINAL_ID": DEFAULT_TERMINAL,
                "BITAGORA_MERCADOPAGO_QR_EXTERNAL_POS_ID": DEFAULT_POS,
                "BITAGORA_MERCADOPAGO_API_BASE": url,
                "BITAGORA_MERCADOPAGO_POLL_S": str(poll_s),
            }
            async with (
                till_with_printer(Path(folder), env) as (till, _printer),
                kiosk(till) as (app, pilot),
            ):
                probe = Probe(app)
                for method in ("mercadopago_point", "mercadopago_qr"):
                    await one_round(pilot, app, sim, probe, method)  # warm: first of each
                    series = figures.setdefault(method, {"shown": [], "paid": []})
                    for _ in range(rounds):
                        shown, paid = await one_round(pilot, app, sim, probe, method)
                        series["shown"].append(shown)
                        series["paid"].append(paid)
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--poll-s", type=float, default=1.0, help="mercadopago.poll_s")
    args = parse_args(parser, argv, rounds=2, poll_s=0.05)
    figures = asyncio.run(measure(args.rounds, args.poll_s))
    print(f"Mercado Pago against the simulator, poll every {args.poll_s:g} s, n={args.rounds}")
    words = {
        "mercadopago_point": ("Pay → waiting for the card", "approved → paid screen"),
        "mercadopago_qr": ("Pay → QR shown", "paid → paid screen"),
    }
    for method, series in figures.items():
        for key, label in zip(("shown", "paid"), words[method], strict=True):
            values = series[key]
            print(
                f"  {method:<18} {label:<27} median {statistics.median(values):7.1f} ms"
                f"   p99 {pct(values, 0.99):7.1f} ms"
            )


if __name__ == "__main__":
    main()
