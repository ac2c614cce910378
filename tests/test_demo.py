"""`bitagora demo --headless`: the one command anyone runs to check the whole path, as a user
runs it (a subprocess with its own central, printer, Esplora, Lightning and rates simulators and
uplink): cash sales through the kiosk app and one Lightning sale through the payment service."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tomllib
from contextlib import AsyncExitStack, closing
from pathlib import Path
from typing import Any

import pytest

from bitagora_devtools.demo import BIP84_ZPUB, SOCKET_PATH_MAX, lightning_socket_path

pytestmark = pytest.mark.timeout(180)

# BIP84's test vector: the first receive address of BIP84_ZPUB.
BIP84_RECEIVE_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"


def demo(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITAGORA_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance.cli",
            "demo",
            "--headless",
            "--data-dir",
            str(data_dir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        check=False,
    )


def journal(data_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    database = data_dir / "device" / "appliance.sqlite3"
    with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT kind, body FROM journal ORDER BY seq").fetchall()
    return [(kind, json.loads(body)) for kind, body in rows]


def lightning_sales(records: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        body
        for kind, body in records
        if kind == "sale" and body["payments"][0]["method"] == "lightning"
    ]


def test_headless_demo_sells_and_central_verifies_twice_over(tmp_path: Path) -> None:
    first = demo(tmp_path, "--sales", "2")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("demo OK: 2 cash sales and 1 Lightning sale")
    # Each cash sale is two records (the sale and its drawer opening); the Lightning sale is two
    # too (its `payment` offer, then the sale).
    assert "verified on device (6 records) and central (6)" in first.stdout
    assert len(list((tmp_path / "printer").glob("receipt-*.txt"))) == 3

    config = tomllib.loads((tmp_path / "device" / "appliance.toml").read_text(encoding="utf-8"))
    assert config["onchain"]["wallet"] == BIP84_ZPUB
    assert config["lightning"]["kind"] == "socket"
    assert config["rates"]["base_urls"]
    records = journal(tmp_path)
    assert [kind for kind, _ in records] == ["sale", "drawer_open"] * 2 + ["payment", "sale"]
    offer = records[4][1]
    # One unified offer: the wallet's first address and an invoice, at one locked rate.
    assert offer["state"] == "offered" and offer["onchain"]["address"] == BIP84_RECEIVE_0
    assert offer["lightning"]["msat"] > 0 and offer["rate"]["currency"] == "EUR"
    (sale,) = lightning_sales(records)
    (payment,) = sale["payments"]
    assert sale["sale_id"] == offer["sale_id"]
    assert payment["amount"] == sale["total"]["minor"]
    assert payment["msat"] == payment["received_msat"] == offer["lightning"]["msat"]
    assert payment["refund_msat"] == 0 and payment["rate"] == offer["rate"]
    assert payment["payment_hash"] == offer["lightning"]["payment_hash"]

    # A second start reuses the enrolled device and the chain continues on central; the
    # simulated node (which forgot everything) is told to count payments on from the first run.
    second = demo(tmp_path, "--sales", "1")
    assert second.returncode == 0, second.stderr
    assert "verified on device (10 records) and central (10)" in second.stdout
    assert len(lightning_sales(journal(tmp_path))) == 2


def test_headless_demo_refuses_zero_sales(tmp_path: Path) -> None:
    result = demo(tmp_path, "--sales", "0")
    assert result.returncode == 2
    assert "--sales must be at least 1" in result.stderr


async def test_lightning_socket_is_in_the_demo_folder_when_it_fits(tmp_path: Path) -> None:
    async with AsyncExitStack() as stack:
        path = lightning_socket_path(tmp_path, stack)
        assert path == tmp_path / "lightning" / "lightning-rpc" and path.parent.is_dir()
    assert path.parent.is_dir()  # the demo's own folder stays


async def test_lightning_socket_moves_to_a_short_folder_when_the_path_is_too_long(
    tmp_path: Path,
) -> None:
    root = tmp_path / ("a-long-demo-folder-name-" * 5)
    assert len(os.fsencode(root / "lightning" / "lightning-rpc")) > SOCKET_PATH_MAX
    async with AsyncExitStack() as stack:
        path = lightning_socket_path(root, stack)
        assert len(os.fsencode(path)) <= SOCKET_PATH_MAX
        assert path.parent.is_dir() and not path.is_relative_to(root)
    assert not path.parent.exists()  # removed with the demo
