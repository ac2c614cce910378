"""``POST /api/v1/heartbeat``: a device's status report, signed like every device call.

Body ``{"version", "uptime_s", "backlog", "oldest_unsent_age_s" (int or null), "last_seq",
"printer": {"online", "paper"}, "clock"}``; further fields (drawer, nfc, disk, ...) are kept as
part of the last heartbeat. Answer ``{"held_seq": N, "server_time": unix}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from central.context import central
from central.device_auth import authenticate
from central.errors import ApiError, json_object, malformed

_LIMIT = 2**62
MAX_BODY_BYTES = 64 * 1024


def _int(data: Mapping[str, Any], name: str, *, nullable: bool = False) -> int | None:
    value = data.get(name)
    if value is None and nullable and name in data:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= _LIMIT:
        raise malformed(f"{name} must be an integer" + (" or null" if nullable else ""))
    return value


def parse_heartbeat(body: bytes) -> dict[str, Any]:
    data = json_object(body)
    version = data.get("version")
    if not isinstance(version, str) or len(version) > 100:
        raise malformed("version must be a string")
    printer = data.get("printer")
    if (
        not isinstance(printer, dict)
        or not isinstance(printer.get("online"), bool)
        or not isinstance(printer.get("paper"), str)
    ):
        raise malformed('printer must be {"online": bool, "paper": str}')
    return {
        "version": version,
        "uptime_s": _int(data, "uptime_s"),
        "backlog": _int(data, "backlog"),
        "oldest_unsent_age_s": _int(data, "oldest_unsent_age_s", nullable=True),
        "last_seq": _int(data, "last_seq"),
        "clock": _int(data, "clock"),
        "printer_online": printer["online"],
        "printer_paper": printer["paper"][:100],
        "raw": data,
    }


async def heartbeat(request: Request) -> JSONResponse:
    ctx = central(request)
    try:
        device, body = await authenticate(request, ctx, body_limit=MAX_BODY_BYTES)
        beat = parse_heartbeat(body)
    except ApiError as err:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="heartbeat", outcome=err.error)
        raise
    now = ctx.now()
    server_time = int(now.timestamp())
    held_seq = await ctx.pool.fetchval(
        "UPDATE devices SET last_seen_at = $2, version = $3, uptime_s = $4, backlog = $5,"
        " oldest_unsent_age_s = $6, reported_last_seq = $7, printer_online = $8,"
        " printer_paper = $9, clock_offset_s = $10, last_heartbeat = $11"
        " WHERE device_id = $1 RETURNING held_seq",
        device.device_id,
        now,
        beat["version"],
        beat["uptime_s"],
        beat["backlog"],
        beat["oldest_unsent_age_s"],
        beat["last_seq"],
        beat["printer_online"],
        beat["printer_paper"],
        beat["clock"] - server_time,
        json.dumps(beat["raw"]),
    )
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="heartbeat", outcome="ok")
    return JSONResponse({"held_seq": held_seq, "server_time": server_time})
