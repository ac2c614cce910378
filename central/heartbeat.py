"""``POST /api/v1/heartbeat``: a device's status report, signed like every device call.

Body ``{"version", "uptime_s", "backlog", "oldest_unsent_age_s" (int or null), "last_seq",
"printer": {"online", "paper"}, "clock"}``, optionally ``"head"`` (the signed chain head,
``bitagora_protocol.chain_head``: verified and kept) and ``"uplink": {"refused": ...}`` (a
permanent refusal the device reports, shown to ops); further fields (drawer, nfc, disk, ...)
are kept as part of the last heartbeat. Every value must be one PostgreSQL and any verifier can
hold (``bitagora_protocol.strict_json``, floats allowed), else 400 ``invalid_value``; a head whose
signature fails is 422 ``invalid_head``. Answer ``{"held_seq": N, "server_time": unix}``, with
``"actions": true`` when remote actions are queued for the device (central/remote_actions.py).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse

from bitagora_protocol.chain_head import ChainHead, verify_head
from bitagora_protocol.journal import JournalError
from bitagora_protocol.strict_json import StrictJsonError, check_values
from central import alerts, device_history
from central.context import Central, central
from central.device_auth import NONCE_INSERT, Device, Signed, verify_signature
from central.errors import ApiError, json_object, malformed

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_REFUSAL_TEXT = 300
MAX_HEARTBEAT_S = 86400


def _int(data: Mapping[str, Any], name: str, *, nullable: bool = False) -> int | None:
    value = data.get(name)
    if value is None and nullable and name in data:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise malformed(f"{name} must be an integer" + (" or null" if nullable else ""))
    return value


def _head(data: Mapping[str, Any], device: Device) -> ChainHead | None:
    if "head" not in data:
        return None  # devices of earlier releases send none
    try:
        head = ChainHead.from_dict(data["head"])
        verify_head(head, device.public_key, device.device_id)
    except JournalError as err:
        raise ApiError(422, "invalid_head", reason=err.reason) from None
    return head


def _refusal(data: Mapping[str, Any]) -> str | None:
    """The device's ``uplink.refused`` in words for the dashboard, or None."""
    uplink = data.get("uplink")
    refused = uplink.get("refused") if isinstance(uplink, dict) else None
    if not isinstance(refused, dict):
        return None
    words = f"HTTP {refused.get('status')} {refused.get('error')}"
    if refused.get("reason"):
        words += f": {refused['reason']}"
    return words[:MAX_REFUSAL_TEXT]


def _heartbeat_s(data: Mapping[str, Any]) -> int | None:
    """The device's heartbeat interval, central's yardstick for late and offline; None (the
    interval kept) when an earlier release sends none."""
    if "heartbeat_s" not in data:
        return None
    every = _int(data, "heartbeat_s")
    if every is None or not 1 <= every <= MAX_HEARTBEAT_S:
        raise malformed(f"heartbeat_s must be 1 to {MAX_HEARTBEAT_S}")
    return every


def parse_heartbeat(body: bytes, device: Device) -> dict[str, Any]:
    data = json_object(body)
    try:
        check_values(data, "heartbeat", floats=True)
    except StrictJsonError as err:
        raise ApiError(400, "invalid_value", reason=str(err)) from None
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
        "head": _head(data, device),
        "refused": _refusal(data),
        "heartbeat_s": _heartbeat_s(data),
        "raw": data,
    }


async def heartbeat(request: Request) -> JSONResponse:
    ctx = central(request)
    try:
        signed = await verify_signature(request, ctx, body_limit=MAX_BODY_BYTES)
        beat = parse_heartbeat(signed.body, signed.device)
        now = ctx.now()
        device = await _record(ctx, signed, beat, now)
        await _settle_alerts(ctx, device, now)
    except ApiError as err:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="heartbeat", outcome=err.error)
        raise
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="heartbeat", outcome="ok")
    answer = {"held_seq": device["held_seq"], "server_time": int(now.timestamp())}
    if device["actions"]:
        answer["actions"] = True  # remote actions wait: the device fetches them at once
    return JSONResponse(answer)


async def _record(
    ctx: Central, signed: Signed, beat: dict[str, Any], now: datetime
) -> asyncpg.Record:
    """Take the nonce, store the beat, add it to the history and return the device's row as
    the alert rules read it, with the seq central holds and whether remote actions wait for
    it (queued, not expired): one statement, one round trip. The update happens only if the
    nonce was new."""
    head: ChainHead | None = beat["head"]
    server_time = int(now.timestamp())
    device: asyncpg.Record | None = await ctx.pool.fetchrow(
        "WITH fresh AS (" + NONCE_INSERT.format(nonce="$16", expires="$17") + "),"
        " updated AS (UPDATE devices d SET last_seen_at = $2, version = $3, uptime_s = $4,"
        " backlog = $5, oldest_unsent_age_s = $6, reported_last_seq = $7, printer_online = $8,"
        " printer_paper = $9, clock_offset_s = $10, last_heartbeat = $11, uplink_refused = $12,"
        " head_seq = coalesce($13, head_seq), head_hash = coalesce($14, head_hash),"
        " head_sig = coalesce($15, head_sig), heartbeat_s = coalesce($18, heartbeat_s)"
        " WHERE device_id = $1 AND EXISTS (SELECT FROM fresh)"
        " RETURNING d.held_seq, EXISTS (SELECT FROM remote_actions r WHERE r.device_id = $1"
        " AND r.state = 'queued' AND r.expires_at > $2) AS actions,"
        f" {alerts.DEVICE_COLUMNS}), {device_history.KEEPING}"
        " SELECT * FROM updated",
        signed.device.device_id,
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
        beat["refused"],
        head.seq if head else None,
        head.hash if head else None,
        head.sig if head else None,
        signed.nonce,
        signed.nonce_expires_at,
        beat["heartbeat_s"],
        device_history.KEEP - 1,
    )
    if device is None:
        raise ApiError(401, "replay")
    return device


async def _settle_alerts(ctx: Central, device: asyncpg.Record, now: datetime) -> None:
    """Raise or resolve the device's alerts from the row just stored; a failure is logged and
    left to the fleet-wide evaluation, never the device's problem."""
    try:
        await alerts.settle(ctx.pool, now, [device])
    except (asyncpg.PostgresError, OSError) as err:
        log.warning("alert evaluation for %s failed: %s", device["device_id"], err)
