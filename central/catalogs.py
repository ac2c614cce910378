"""The catalog version each device sells from, kept from its ``catalog`` records as they arrive.

``apply`` runs inside the ingest transaction, after the records are verified, so the table never
disagrees with the stored journals. A record whose body lacks a field is skipped, not refused: the
chain is what matters, this table is a convenience for operations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from bitagora_protocol.journal import Record


def catalog_of(record: Record) -> tuple[int, str, str, int] | None:
    """(version, sha256, currency, products) of a well-formed ``catalog`` record."""
    if record.kind != "catalog":
        return None
    body = record.body
    version, sha256 = body.get("version"), body.get("sha256")
    currency, products = body.get("currency"), body.get("products")
    if (
        isinstance(version, int)
        and not isinstance(version, bool)
        and 0 < version < 2**62
        and isinstance(sha256, str)
        and isinstance(currency, str)
        and isinstance(products, int)
        and not isinstance(products, bool)
        and 0 <= products < 2**62
    ):
        return version, sha256, currency, products
    return None


async def apply(
    conn: asyncpg.Connection, device_id: str, merchant_id: int, records: Sequence[Record]
) -> None:
    """Keep the newest ``catalog`` record of ``records`` (seq order) as the device's catalog."""
    newest = None
    for record in records:
        found = catalog_of(record)
        if found is not None:
            newest = (record, found)
    if newest is None:
        return
    record, (version, sha256, currency, products) = newest
    await conn.execute(
        "INSERT INTO device_catalogs (device_id, version, sha256, currency, products, seq,"
        " changed_at, merchant_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (device_id) DO UPDATE SET merchant_id = EXCLUDED.merchant_id,"
        " version = EXCLUDED.version, sha256 = EXCLUDED.sha256, currency = EXCLUDED.currency,"
        " products = EXCLUDED.products, seq = EXCLUDED.seq, changed_at = EXCLUDED.changed_at"
        " WHERE device_catalogs.seq < EXCLUDED.seq",
        device_id,
        version,
        sha256,
        currency,
        products,
        record.seq,
        record.at,
        merchant_id,
    )


async def of_device(conn: asyncpg.Connection, device_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT version, sha256, currency, products, seq, changed_at FROM device_catalogs"
        " WHERE device_id = $1",
        device_id,
    )
    return dict(row) if row else None
