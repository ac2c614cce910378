"""A device's journal as central holds it, in the export format of docs/PROTOCOL.md (1.5).

Ops (and the headless demo) download it to verify central's copy independently, with
`bitagora journal verify` or the verifier printed in the protocol document. The header's ``head``
is the chain head the device signed in its latest heartbeat: the copy verifies only if it holds
the record that head names, so records central lacks show as a truncation. A device that never
sent a head gives an export without one, which verifiers refuse (completeness unproven).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from central.context import central
from central.tenancy import as_user
from central.web_auth import Principal, page

EXPORT_FORMAT = "bitagora-journal/1"
PAGE = 1000


@page(ops_only=True)
async def device_journal(request: Request, who: Principal) -> Response:
    device_id = request.path_params["device_id"]
    pool = central(request).pool
    async with as_user(pool, who.claims) as conn:
        device = await conn.fetchrow(
            "SELECT public_key, head_seq, head_hash, head_sig FROM devices WHERE device_id = $1",
            device_id,
        )
    if device is None:
        return PlainTextResponse(f"no device {device_id}\n", status_code=404)

    async def lines() -> AsyncIterator[str]:
        header: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "device_id": device_id,
            "public_key": bytes(device["public_key"]).hex(),
        }
        if device["head_seq"] is not None:
            header["head"] = {
                "seq": device["head_seq"],
                "hash": device["head_hash"],
                "sig": device["head_sig"],
            }
        yield json.dumps(header) + "\n"
        next_seq = 1
        while True:
            async with as_user(pool, who.claims) as conn:
                rows = await conn.fetch(
                    "SELECT seq, kind, at, body_json, prev_hash, hash, sig FROM journal_records"
                    " WHERE device_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
                    device_id,
                    next_seq,
                    PAGE,
                )
            for row in rows:
                record = {
                    "seq": row["seq"],
                    "kind": row["kind"],
                    "at": row["at"],
                    "device_id": device_id,
                    "body": json.loads(row["body_json"]),
                    "prev_hash": row["prev_hash"],
                    "hash": row["hash"],
                    "sig": row["sig"],
                }
                yield json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
            if len(rows) < PAGE:
                return
            next_seq = rows[-1]["seq"] + 1

    filename = f"{device_id}-journal.jsonl"
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
