"""The journal records central holds, as rows of ``journal_records`` and back as records: the
columns to select and the ``Record`` a row is (its body stored as canonical JSON text)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bitagora_protocol.journal import Record

COLUMNS = "seq, kind, at, body_json, prev_hash, hash, sig"


def held_record(device_id: str, row: Mapping[str, Any]) -> Record:
    """The record a ``journal_records`` row of ``device_id`` holds (``COLUMNS`` selected)."""
    return Record(
        seq=row["seq"],
        kind=row["kind"],
        at=row["at"],
        device_id=device_id,
        body=json.loads(row["body_json"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
        sig=row["sig"],
    )
