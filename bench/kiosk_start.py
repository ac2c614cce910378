"""Benchmark: kiosk cold start, process spawn to the lock screen drawn on a terminal.

Starts ``bitagora kiosk`` in a pseudo-terminal (as on tty1) and times until "Enter your PIN" is
drawn. The baseline is a bare Textual app drawing the same words in the same terminal, so the
ratio is what the till adds (config, key, database, catalog, driver checks) over Textual itself.
Runs alternate between the two so that machine noise hits both alike. Prints median and p99 (with
few runs, p99 is the slowest). Usage: python bench/kiosk_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable

from smoke import parse_args

READY = b"Enter your PIN"
COLUMNS, ROWS = 100, 30  # an 800x480 panel with the shipped console font
TIMEOUT_S = 60.0

BASELINE_APP = """
from textual.app import App
from textual.widgets import Static

class Bare(App):
    def compose(self):
        yield Static("Enter your PIN")

Bare().run()
"""


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def time_to_ready(
    argv: list[str], env: dict[str, str], at_ready: Callable[[int], None] | None = None
) -> float:
    """Seconds from spawn until READY appears on the terminal; ``at_ready(pid)`` is then called
    (bench/catalog_kiosk.py reads the process's memory) and the process stopped."""
    master, slave = os.openpty()  # Textual draws on stderr, so all three are the terminal
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    start = time.perf_counter()
    # Textual takes COLUMNS and LINES over the terminal's size (pytest sets them, for one).
    env = {**env, "COLUMNS": str(COLUMNS), "LINES": str(ROWS)}
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen = b""
    try:
        while READY not in seen:
            remaining = TIMEOUT_S - (time.perf_counter() - start)
            if remaining <= 0 or proc.poll() is not None:
                raise SystemExit(f"{argv[2:]} did not draw {READY!r} (exit {proc.returncode})")
            if select.select([master], [], [], remaining)[0]:
                try:
                    seen = seen[-len(READY) :] + os.read(master, 65536)
                except OSError:  # the terminal closed: the process is gone
                    continue
        ready = time.perf_counter() - start
        if at_ready is not None:
            at_ready(proc.pid)
        return ready
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parse_args(parser, runs=1).runs
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BITAGORA_")}
        env |= {
            "TERM": "xterm-256color",
            "BITAGORA_DATA_DIR": folder,
            "BITAGORA_PRINTER_PORT": str(unused_port()),  # no printer: the kiosk still starts
        }
        kiosk = [sys.executable, "-m", "appliance.cli", "kiosk"]
        bare = [sys.executable, "-c", BASELINE_APP]
        # First start: creates the key and seeds the catalog (the dev tools' demo catalog, found
        # through an entry point: a cost the starts measured below, as a shop's, do not have).
        time_to_ready([*kiosk, "--seed-demo"], env)
        time_to_ready(bare, env)
        kiosk_s, bare_s = [], []
        for _ in range(runs):
            kiosk_s.append(time_to_ready(kiosk, env))
            bare_s.append(time_to_ready(bare, env))
    k_med, k_p99 = statistics.median(kiosk_s) * 1000, pct(kiosk_s, 0.99) * 1000
    b_med, b_p99 = statistics.median(bare_s) * 1000, pct(bare_s, 0.99) * 1000
    print(f"kiosk start to lock screen: median {k_med:.0f} ms, p99 {k_p99:.0f} ms  (n={runs})")
    print(f"bare Textual app (baseline): median {b_med:.0f} ms, p99 {b_p99:.0f} ms")
    print(f"ratio kiosk/baseline: median {k_med / b_med:.2f}, p99 {k_p99 / b_p99:.2f}")


if __name__ == "__main__":
    main()
