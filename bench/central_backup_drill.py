"""Drill: back up central's database holding N signed journal records, restore it into an empty
database and check it (row counts, every device's chain verified), with the real pg_dump and
pg_restore of the embedded server. Prints the time of each half (docs/OPERATIONS.md, "Backups of
central's database").
Usage: python bench/central_backup_drill.py [--records 100000] [--devices 10]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

import asyncpg
from bench_postgres import BenchPostgres, add_postgres_option
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pyrage import x25519
from smoke import parse_args

from bitagora_protocol.journal import (
    canonical_json,
    device_id_for,
    genesis_prev_hash,
    public_key_bytes,
    seal,
)
from central.backup import back_up
from central.restore import restore
from central.schema import apply_migrations


async def fill(url: str, records: int, devices: int) -> None:
    """``devices`` enrolled devices with ``records`` sealed sale records between them."""
    conn = await asyncpg.connect(url)
    try:
        await apply_migrations(conn)
        merchant = await conn.fetchval("INSERT INTO merchants (name) VALUES ('Drill') RETURNING id")
        for _ in range(devices):
            key = Ed25519PrivateKey.generate()
            raw = public_key_bytes(key.public_key())
            device_id = device_id_for(raw)
            rows, prev = [], genesis_prev_hash(device_id)
            for seq in range(1, records // devices + 1):
                body = {"total": {"minor": 100 + seq % 900, "currency": "EUR"}, "lines": []}
                record = seal(key, device_id, seq, "sale", body, prev)
                rows.append(
                    (
                        device_id,
                        seq,
                        record.kind,
                        record.at,
                        canonical_json(body).decode(),
                        record.prev_hash,
                        record.hash,
                        record.sig,
                        merchant,
                    )
                )
                prev = record.hash
            await conn.execute(
                "INSERT INTO devices (device_id, public_key, merchant_id, held_seq, held_hash)"
                " VALUES ($1, $2, $3, $4, $5)",
                device_id,
                raw,
                merchant,
                len(rows),
                prev,
            )
            await conn.copy_records_to_table(
                "journal_records",
                records=rows,
                columns=[
                    "device_id",
                    "seq",
                    "kind",
                    "at",
                    "body_json",
                    "prev_hash",
                    "hash",
                    "sig",
                    "merchant_id",
                ],
            )
    finally:
        await conn.close()


async def drill(folder: Path, records: int, devices: int, postgres_url: str | None) -> None:
    server = await BenchPostgres.open(postgres_url, folder)
    try:
        drilled = await server.database("drill")
        restored = await server.database("drill_restored")
        await fill(drilled, records, devices)
        identity = x25519.Identity.generate()
        made = await back_up(drilled, folder, [identity.to_public()])
        print(f"backup: {made.rows} rows, {made.bytes / 2**20:.1f} MiB, {made.seconds:.1f} s")
        done = await restore(restored, made.path, [identity])
        assert not done.problems, done.problems
        print(
            f"restore and check: {done.rows} rows, {done.records} journal records of "
            f"{done.devices} devices verified, {done.seconds:.1f} s"
        )
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--devices", type=int, default=10)
    add_postgres_option(parser)
    args = parse_args(parser, records=500, devices=2)
    with tempfile.TemporaryDirectory(prefix="central-drill-") as folder:
        asyncio.run(drill(Path(folder), args.records, args.devices, args.postgres_url))


if __name__ == "__main__":
    main()
