"""The uplink sends stored records as they are stored (store.journal.wire_record): the batch's
bytes are the same as encoding each ``Record.to_dict`` (what the uplink sent before, and what
docs/PROTOCOL.md describes), bodies with quotes, backslashes, control and non-ASCII characters
included."""

from __future__ import annotations

import json
from pathlib import Path

from store_helpers import open_device

from appliance.store import journal
from appliance.store.db import transaction

ODD_TEXTS = ['Café "au lait" \\ ☕', "tab\there\nnewline \x01", "😀 emoji", "</script>", ""]


async def test_a_stored_record_goes_out_as_its_json_form(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path / "device")
    try:
        async with transaction(conn):
            for index, text in enumerate(ODD_TEXTS):
                body = {"reason": "test", "note": text, "count": index, "nested": {"b": [1, text]}}
                await journal.append(conn, identity, "config", body)
        records = await journal.read_range(conn, 1, 100)
        wired = await journal.read_wire_range(conn, 1, 100)
        assert [w.seq for w in wired] == [r.seq for r in records] and len(wired) >= 5
        for record, wire in zip(records, wired, strict=True):
            sent_before = json.dumps(record.to_dict(), separators=(",", ":"), ensure_ascii=False)
            assert wire.json == sent_before
            assert json.loads(wire.json) == record.to_dict()
    finally:
        await conn.close()
