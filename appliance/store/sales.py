"""Finishing a sale: sale rows, journal record and outbox row in one durable transaction."""

from __future__ import annotations

from typing import Any

import aiosqlite

from appliance.core.journal import Record
from appliance.store import journal
from appliance.store.db import transaction
from appliance.store.identity import DeviceIdentity


async def record_sale(conn: aiosqlite.Connection, identity: DeviceIdentity,
                      body: dict[str, Any]) -> Record:
    """Commit the sale described by ``body`` (see core.sale.sale_body); return its journal record.

    The sale is durable once this returns (WAL with synchronous=FULL fsyncs the commit).
    """
    async with transaction(conn):
        record = await journal.append(conn, identity, "sale", body)
        await conn.execute(
            "INSERT INTO sales (sale_id, journal_seq, finished_at, staff_id, currency, subtotal, "
            "tax, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (body["sale_id"], record.seq, record.at, body["staff"]["id"], body["currency"],
             body["subtotal"]["minor"], body["tax"]["minor"], body["total"]["minor"]))
        await conn.executemany(
            "INSERT INTO sale_lines (sale_id, line_no, sku, name, quantity, unit_price, amount, "
            "tax_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(body["sale_id"], n, ln["sku"], ln["name"], ln["quantity"], ln["unit_price"],
              ln["amount"], ln["tax_code"]) for n, ln in enumerate(body["lines"], 1)])
        await conn.executemany(
            "INSERT INTO sale_payments (sale_id, line_no, method, amount, tendered, change) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(body["sale_id"], n, p["method"], p["amount"], p["tendered"], p["change"])
             for n, p in enumerate(body["payments"], 1)])
    return record


async def sale_count(conn: aiosqlite.Connection) -> int:
    row = await (await conn.execute("SELECT count(*) FROM sales")).fetchone()
    return row[0] if row else 0
