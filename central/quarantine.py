"""Quarantined batches: a forked batch kept verbatim for investigation, once, within a cap.

A device that keeps re-sending the same forked batch must not grow central's database: the same
batch (by SHA-256) for the same seq is kept once, and a device keeps at most
``MAX_BATCHES_PER_DEVICE`` batches and ``MAX_BYTES_PER_DEVICE`` bytes of them. Beyond that a
batch is counted in ``devices.quarantine_dropped`` and logged, not kept: the first ones are what
an investigation needs, and the device's own journal still holds everything. The device is
flagged as forked (``forked_at``, ``fork_seq``: the first fork) in every case.
"""

from __future__ import annotations

import hashlib
import logging

import asyncpg

log = logging.getLogger(__name__)

MAX_BATCHES_PER_DEVICE = 20
MAX_BYTES_PER_DEVICE = 32 * 1024 * 1024


async def quarantine(conn: asyncpg.Connection, device_id: str, seq: int, raw_batch: str) -> None:
    """Keep a forked batch and flag the device; the caller holds the device's row lock."""
    digest = hashlib.sha256(raw_batch.encode("utf-8")).hexdigest()
    held = await conn.fetchrow(
        "SELECT count(*) AS batches, coalesce(sum(octet_length(batch_json)), 0) AS bytes,"
        " bool_or(seq = $2 AND batch_sha256 = $3) AS already FROM quarantined_batches"
        " WHERE device_id = $1",
        device_id,
        seq,
        digest,
    )
    size = len(raw_batch.encode("utf-8"))
    if held["already"]:
        log.info("journal fork: device=%s seq=%d; batch already quarantined", device_id, seq)
    elif held["batches"] >= MAX_BATCHES_PER_DEVICE or held["bytes"] + size > MAX_BYTES_PER_DEVICE:
        await conn.execute(
            "UPDATE devices SET quarantine_dropped = quarantine_dropped + 1 WHERE device_id = $1",
            device_id,
        )
        log.warning(
            "journal fork: device=%s seq=%d; quarantine full (%d batches, %d bytes): not kept",
            device_id,
            seq,
            held["batches"],
            held["bytes"],
        )
    else:
        await conn.execute(
            "INSERT INTO quarantined_batches (device_id, seq, reason, batch_json, batch_sha256)"
            " VALUES ($1, $2, 'fork', $3, $4)",
            device_id,
            seq,
            raw_batch,
            digest,
        )
        log.warning("journal fork: device=%s seq=%d; batch quarantined", device_id, seq)
    await conn.execute(
        "UPDATE devices SET forked_at = coalesce(forked_at, now()),"
        " fork_seq = coalesce(fork_seq, $2) WHERE device_id = $1",
        device_id,
        seq,
    )
