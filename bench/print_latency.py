"""Benchmark: from "sale committed" to the receipt's last byte taken by the printer, and how fast
the print queue drains when the printer comes back.

1. Latency: each round commits a sale with ``sales.record_sale`` (which queues its receipt in the
   same transaction), wakes the till's print worker and waits until the ESC/POS simulator, over
   real TCP, has the cut of that receipt (its ``cut_at``). The baseline, interleaved, sends the
   same receipt's rendered bytes over a fresh raw socket to the same simulator and stops the
   clock at the same point, so the ratio is what the queue, the journal read, rendering and the
   two DLE EOT status round trips cost over the bytes themselves.
2. Throughput: with the printer unreachable, N sales are queued; the printer comes back and the
   time until the last of the N receipts is cut gives receipts per second.
3. The paid screen with a printer that is down: ``Till.finish_sale`` (what a sale's done screen
   waits for: the receipt's outcome) while the printer swallows everything and answers nothing
   (known to be offline after the first such sale), against the same call with the printer
   working (baseline: it waits until the receipt is printed).

Usage: python bench/print_latency.py [--rounds N] [--queued N]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from smoke import parse_args  # noqa: E402
from store_helpers import cash_sale_body  # noqa: E402

from appliance import bootstrap
from appliance.config import load_settings  # noqa: E402
from appliance.services.printing import receipt_from_record  # noqa: E402
from appliance.services.till import Till  # noqa: E402
from appliance.store import sales  # noqa: E402
from bitagora_devtools.sim.printer import PrinterSimulator  # noqa: E402


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def send_raw(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)


async def run(rounds: int, queued: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as folder:
        root = Path(folder)
        async with PrinterSimulator(root / "printer", port=0) as sim:
            env = {
                "BITAGORA_PRINTER_PORT": str(sim.port),
                "BITAGORA_PRINTER_RETRY_MIN_MS": "20",
                "BITAGORA_PRINTER_RETRY_MAX_MS": "50",
            }
            till = await bootstrap.open_till(load_settings(root / "device", env=env))
            try:
                queue_ms, raw_ms, done_ms = [], [], []
                index = 0
                for i in range(rounds + 10):  # the first 10 warm up
                    index += 1
                    before = len(sim.printed())
                    record = await sales.record_sale(till.conn, till.identity, cash_sale_body(i))
                    committed = time.perf_counter()
                    till.printing.wake()
                    await sim.wait_receipts(before + 1)
                    cut = sim.printed()[-1].cut_at
                    assert await till.printing.outcome(record.seq, 10) is None
                    done = time.perf_counter()
                    data = till.devices.printer.render(  # type: ignore[attr-defined]
                        receipt_from_record(record, till.settings.device)
                    )
                    raw_start = time.perf_counter()
                    await asyncio.to_thread(send_raw, sim.port, data)
                    await sim.wait_receipts(before + 2)
                    raw_cut = sim.printed()[-1].cut_at
                    if i >= 10:
                        queue_ms.append((cut - committed) * 1000)
                        done_ms.append((done - committed) * 1000)
                        raw_ms.append((raw_cut - raw_start) * 1000)
                await till.printing.wait_idle()

                await sim.set_reachable(False)
                for i in range(queued):
                    await sales.record_sale(till.conn, till.identity, cash_sale_body(index + i))
                till.printing.wake()
                await till.printing.wait_for(lambda s: s.waiting == queued, 30)
                before = len(sim.printed())
                await sim.set_reachable(True)
                back = time.perf_counter()
                till.printing.wake()
                await sim.wait_receipts(before + queued, timeout=120)
                drained = sim.printed()[-1].cut_at - back
                await till.printing.wait_idle()

                healthy_ms = await finish_times(till, index + queued, 10)
                sim.silent = True
                await finish_times(till, index + queued + 10, 1)  # learns that it is offline
                down_ms = await finish_times(till, index + queued + 11, 10)
                sim.silent = False
            finally:
                await till.close()
            assert sim.dropped == 0
    q_med, q_p99 = statistics.median(queue_ms), pct(queue_ms, 0.99)
    r_med, r_p99 = statistics.median(raw_ms), pct(raw_ms, 0.99)
    print(
        f"sale committed -> receipt cut at the printer (queue, worker, DLE EOT x2): "
        f"median {q_med:.2f} ms, p99 {q_p99:.2f} ms  (n={rounds})"
    )
    print(
        f"same bytes over a raw socket (baseline):                                  "
        f"median {r_med:.2f} ms, p99 {r_p99:.2f} ms"
    )
    print(
        f"sale committed -> job marked printed (status after the job answered):     "
        f"median {statistics.median(done_ms):.2f} ms, p99 {pct(done_ms, 0.99):.2f} ms"
    )
    print(f"ratio queue/raw: median {q_med / r_med:.2f}, p99 {q_p99 / r_p99:.2f}")
    print(
        f"queue drain after the printer came back: {queued} receipts in {drained:.2f} s = "
        f"{queued / drained:.1f} receipts/s"
    )
    print(
        f"finish_sale, printer known to be offline: median {statistics.median(down_ms):.2f} ms, "
        f"max {max(down_ms):.2f} ms; printer working (baseline): "
        f"median {statistics.median(healthy_ms):.2f} ms, max {max(healthy_ms):.2f} ms  (n=10)"
    )


async def finish_times(till: Till, first: int, n: int) -> list[float]:
    """How long ``finish_sale`` takes after each of ``n`` committed sales, in ms."""
    times = []
    for i in range(n):
        record = await sales.record_sale(till.conn, till.identity, cash_sale_body(first + i))
        start = time.perf_counter()
        await till.sales.finish_sale(record)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--queued", type=int, default=100)
    args = parse_args(parser, rounds=10, queued=10)
    asyncio.run(run(args.rounds, args.queued))


if __name__ == "__main__":
    main()
