"""One device's page for ops (``/devices/{device_id}``): its heartbeats charted, the last raw
heartbeat, the journal record by record with each record's verification, quarantined batches,
the fork explained (what central holds against what the device sent at the fork's seq), the
lifecycle forms (central/device_lifecycle.py), the remote actions (central/remote_actions.py: a
form each, and each one's state and result) and every action ops took on it."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from bitagora_protocol import remote_action
from central import device_history, remote_actions
from central.charts import step_chart
from central.context import central
from central.device_lifecycle import NOTES as LIFECYCLE_NOTES
from central.device_status import status_of
from central.i18n import _
from central.journal_view import PAGE_SIZE, journal_page
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page

# What the page says after one of its forms (?done=...).
NOTES = {**LIFECYCLE_NOTES, **remote_actions.NOTES}


def _received_at_fork(batches: list[Any], fork_seq: int | None) -> str:
    """The record the device sent for the fork's seq, from the first batch quarantined there."""
    for batch in batches:
        if batch["seq"] != fork_seq:
            continue
        for record in json.loads(batch["batch_json"]).get("records", []):
            if isinstance(record, dict) and record.get("seq") == fork_seq:
                return json.dumps(record, indent=2, ensure_ascii=False, sort_keys=True)
    return ""


async def _held_at(conn: asyncpg.Connection, device_id: str, seq: int | None) -> str:
    row = await conn.fetchrow(
        "SELECT seq, kind, at, body_json, prev_hash, hash, sig FROM journal_records"
        " WHERE device_id = $1 AND seq = $2",
        device_id,
        seq,
    )
    if row is None:
        return ""
    held = {**dict(row), "body": json.loads(row["body_json"]), "device_id": device_id}
    del held["body_json"]
    return json.dumps(held, indent=2, ensure_ascii=False, sort_keys=True)


def _page_number(request: Request) -> int:
    try:
        return min(max(1, int(request.query_params.get("page", "1"))), 1_000_000)
    except ValueError:
        return 1


@page(ops_only=True)
async def device_page(request: Request, who: Principal) -> Response:
    device_id = request.path_params["device_id"]
    ctx = central(request)
    number = _page_number(request)
    await remote_actions.expire_overdue(ctx.pool, ctx.now())  # the states shown are current
    async with as_user(ctx.pool, who.claims) as conn:
        device = await conn.fetchrow(
            "SELECT d.*, m.name AS merchant FROM devices d JOIN merchants m"
            " ON m.id = d.merchant_id WHERE d.device_id = $1",
            device_id,
        )
        if device is None:
            return PlainTextResponse(f"no device {device_id}\n", status_code=404)
        beats = await device_history.history(conn, device_id)
        journal = await journal_page(conn, device_id, bytes(device["public_key"]), number)
        batches = await conn.fetch(  # the batches' bytes (up to 32 MiB) only at the fork's seq
            "SELECT id, seq, reason, CASE WHEN seq = $2 THEN batch_json END AS batch_json,"
            " octet_length(batch_json) AS bytes, received_at"
            " FROM quarantined_batches WHERE device_id = $1 ORDER BY id",
            device_id,
            device["fork_seq"],
        )
        held_at_fork = await _held_at(conn, device_id, device["fork_seq"])
        merchants = await conn.fetch("SELECT name FROM merchants ORDER BY name")
        actions = await conn.fetch(
            "SELECT action, detail, reason, actor AS done_by, at AS done_at FROM audit_log"
            " WHERE device_id = $1 ORDER BY id DESC",
            device_id,
        )
        remote = await remote_actions.of_device(conn, device_id)
    raw = json.loads(device["last_heartbeat"]) if device["last_heartbeat"] else {}
    now = ctx.now()
    return templates.TemplateResponse(
        request,
        "device.html",
        {
            "user": who.name,
            "d": device,
            "status": status_of(device, now),
            "chart": step_chart(
                [(f"{b['at']:%H:%M:%S}", b["backlog"] or 0) for b in beats],
                f"Backlog reported by {device_id}, last {len(beats)} heartbeats",
            ),
            "beats": len(beats),
            "raw": json.dumps(raw, indent=2, ensure_ascii=False) if raw else "",
            "doctor": json.dumps(raw["doctor"], indent=2, ensure_ascii=False)
            if "doctor" in raw
            else "",
            "journal": journal,
            "page": number,
            "more": len(journal) == PAGE_SIZE and number * PAGE_SIZE < device["held_seq"],
            "batches": batches,
            "held_at_fork": held_at_fork,
            "received_at_fork": _received_at_fork(list(batches), device["fork_seq"]),
            "actions": actions,
            "remote": remote,
            "remote_labels": remote_actions.LABELS,
            "max_log_lines": remote_action.MAX_LOG_LINES,
            "default_log_lines": remote_action.DEFAULT_LOG_LINES,
            "note": _(NOTES[done])
            if (done := request.query_params.get("done", "")) in NOTES
            else "",
            "merchants": merchants,
            "now": now,
        },
    )
