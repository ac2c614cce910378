"""Helpers shared by tests that need a real device store with sales in it."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import aiosqlite

from appliance.core.cart import Cart
from appliance.core.sale import Payment, sale_body
from appliance.store import device, sales
from appliance.store.db import DEFAULT_CHECKPOINT_PAGES, open_db
from appliance.store.identity import DeviceIdentity, load_or_create_identity
from bitagora_devtools.seed import demo_products
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money


async def open_device(
    data_dir: Path, checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES
) -> tuple[aiosqlite.Connection, DeviceIdentity]:
    identity = load_or_create_identity(data_dir)
    conn = await open_db(data_dir / "appliance.sqlite3", checkpoint_pages)
    await device.bind(conn, identity)
    return conn, identity


def cash_sale_body(index: int) -> dict:
    products = demo_products("EUR")
    cart = Cart("EUR")
    cart.add(products[index % len(products)], 1 + index % 3)
    cart.add(products[(index * 7 + 1) % len(products)])
    total = cart.totals().total
    tendered = Money(((total.minor // 1000) + 1) * 1000, "EUR")
    return sale_body(
        str(uuid.UUID(int=index + 1)),
        cart,
        "ana",
        "Ana",
        [Payment("cash", total, tendered, tendered - total)],
    )


async def write_sales(
    conn: aiosqlite.Connection, identity: DeviceIdentity, count: int, start: int = 0
) -> list[Record]:
    return [
        await sales.record_sale(conn, identity, cash_sale_body(i))
        for i in range(start, start + count)
    ]


def tamper_amount(db: Path, seq: int) -> None:
    """What a fraudster with file access would do: drop the guard and rewrite a total."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TRIGGER journal_no_update")
    (body,) = conn.execute("SELECT body FROM journal WHERE seq = ?", (seq,)).fetchone()
    data = json.loads(body)
    data["total"]["minor"] -= 100
    conn.execute(
        "UPDATE journal SET body = ? WHERE seq = ?",
        (json.dumps(data, separators=(",", ":"), sort_keys=True), seq),
    )
    conn.commit()
    conn.close()
