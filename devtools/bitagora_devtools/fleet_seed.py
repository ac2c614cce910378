"""A fleet of N devices written straight into central's PostgreSQL with COPY (10,000 in well
under a second), every kind the fleet page filters for, in a fixed pattern that tests rely on:

- merchant ``Shop NN`` with NN = (i // 10) % 10; version ``1.0.{i % 3}``; backlog i // 10;
- by i % 10: 0 never seen (offline), 1 seen 200 s ago (offline), 2 seen 45 s ago (late), else
  seen 5 s ago (online); each also i ms earlier, so that no two share a time;
- heartbeat interval 30 s, except ``SHORT_INTERVAL`` (2 s: offline although seen 5 s ago);
- one device each forked (``FORKED``), refused by central (``REFUSED``), out of paper
  (``PAPER_OUT``), with a high backlog (``HIGH_BACKLOG``), and labelled (``LABELLED``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

MERCHANTS = 10
FORKED = 4323
REFUSED = 1234
PAPER_OUT = 5555
HIGH_BACKLOG = 7777
SHORT_INTERVAL = 9998
LABELLED = 3333
LABEL = "Kasse Nord"
LOCATION = "Zürich HB, Gleis <3>"
_SEEN_AGO_S = {0: None, 1: 200, 2: 45}


def device_id(i: int) -> str:
    return f"dev-{i:05d}"


def merchant_name(n: int) -> str:
    return f"Shop {n:02d}"


def _device(i: int, merchant_ids: list[int], now: datetime) -> tuple[object, ...]:
    ago = _SEEN_AGO_S.get(i % 10, 5)
    seen = None if ago is None else now - timedelta(seconds=ago, milliseconds=i)
    return (
        device_id(i),
        i.to_bytes(32, "big"),  # unique, as public keys are; never used to verify here
        merchant_ids[(i // 10) % MERCHANTS],
        f"1.0.{i % 3}",
        seen,
        2 if i == SHORT_INTERVAL else 30,
        5000 if i == HIGH_BACKLOG else i // 10,
        True,
        "out" if i == PAPER_OUT else "ok",
        now if i == FORKED else None,
        7 if i == FORKED else None,
        "HTTP 409 chain_mismatch" if i == REFUSED else None,
        LABEL if i == LABELLED else "",
        LOCATION if i == LABELLED else "",
    )


async def seed_fleet(conn: asyncpg.Connection, count: int, now: datetime) -> None:
    """``count`` devices of ``MERCHANTS`` new merchants, seen relative to ``now``."""
    await conn.copy_records_to_table(
        "merchants", records=[(merchant_name(n),) for n in range(MERCHANTS)], columns=["name"]
    )
    ids = {row["name"]: row["id"] for row in await conn.fetch("SELECT id, name FROM merchants")}
    merchant_ids = [ids[merchant_name(n)] for n in range(MERCHANTS)]
    await conn.copy_records_to_table(
        "devices",
        records=[_device(i, merchant_ids, now) for i in range(count)],
        columns=[
            "device_id",
            "public_key",
            "merchant_id",
            "version",
            "last_seen_at",
            "heartbeat_s",
            "backlog",
            "printer_online",
            "printer_paper",
            "forked_at",
            "fork_seq",
            "uplink_refused",
            "label",
            "location",
        ],
    )
    await conn.execute("ANALYZE devices")
