"""Remote actions: ops ask one device for a test print, a drawer test, the doctor, its last log
lines or a kiosk restart (docs/OPERATIONS.md, "Remote actions"; docs/PROTOCOL.md 2.7).

- ``request_action`` (``POST /devices/{id}/actions``, ops only): queues a ``remote_actions`` row
  and its audit log row in one transaction, as the ops user (row policies on).
- ``pending`` (``GET /api/v1/actions``, signed by the device): the device's unfinished actions
  that have not expired, each signed with central's configuration key
  (``bitagora_protocol.remote_action``); a queued one becomes delivered.
- ``post_result`` (``POST /api/v1/actions/{id}/result``, signed by the device): finishes the
  action with what the device reports and appends it to the audit log; a second post of a
  finished action changes nothing and answers its state (idempotent).
- ``expire_overdue``: an action not delivered within ``DELIVERY_WINDOW`` expires, and one
  delivered whose result never came within ``RESULT_WAIT`` after that; each expiry is audited.
  Run by the housekeeping round and before a device page is shown.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from bitagora_protocol import remote_action
from bitagora_protocol.remote_action import ActionRefused, RemoteAction
from bitagora_protocol.strict_json import StrictJsonError, check_values
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.device_auth import authenticate
from central.errors import ApiError, json_object, malformed
from central.i18n import N_
from central.tenancy import as_user
from central.web_auth import Principal, page

DELIVERY_WINDOW = timedelta(minutes=15)
RESULT_WAIT = timedelta(hours=24)
MAX_RESULT_BYTES = 512 * 1024  # a thousand log lines of up to 500 characters fit
SHOWN_ON_PAGE = 50

# The device page's line for each outcome (its ``?done=`` parameter).
NOTES = {
    "action_queued": N_(
        "Action queued: the device fetches it within its uplink's polling interval."
    ),
    "action_refused": N_("Nothing was queued: unknown action or bad parameters."),
    "action_revoked": N_("Nothing was queued: the device is revoked."),
}
LABELS = {
    "test_print": N_("Test print"),
    "drawer_test": N_("Open-drawer test"),
    "doctor": N_("Run doctor"),
    "logs": N_("Upload log lines"),
    "restart": N_("Restart the kiosk"),
}


@page(ops_only=True)
async def request_action(request: Request, who: Principal) -> Response:
    device_id = request.path_params["device_id"]
    form = await checked_form(request)
    kind = str(form.get("kind") or "")
    parameters: dict[str, Any] = {}
    if kind == "logs":
        parameters = {"lines": _number(str(form.get("lines") or remote_action.DEFAULT_LOG_LINES))}
    try:
        remote_action.check_parameters(kind, parameters)
    except ActionRefused:
        return _back(device_id, "action_refused")
    actor = Actor.of(request, who.name)
    async with as_user(central(request).pool, who.claims) as conn:
        device = await conn.fetchrow(
            "SELECT merchant_id, revoked_at FROM devices WHERE device_id = $1", device_id
        )
        if device is None:
            return _back(device_id, "action_refused")
        if device["revoked_at"] is not None:
            return _back(device_id, "action_revoked")
        action_id = await conn.fetchval(
            "INSERT INTO remote_actions (merchant_id, device_id, kind, parameters, requested_by,"
            " requested_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            device["merchant_id"],
            device_id,
            kind,
            json.dumps(parameters),
            actor.name,
            actor.at,
            actor.at + DELIVERY_WINDOW,
        )
        await record(
            conn,
            actor,
            f"remote_action.{kind}",
            f"action {action_id}",
            device["merchant_id"],
            device_id=device_id,
            detail=f"action {action_id} queued" + (f", {parameters}" if parameters else ""),
        )
    return _back(device_id, "action_queued")


def _number(text: str) -> int:
    """A positive decimal integer that fits a bigint, else 0 (which names nothing)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else 0


def _back(device_id: str, outcome: str) -> Response:
    return RedirectResponse(f"/devices/{quote(device_id)}?done={outcome}", status_code=303)


async def pending(request: Request) -> JSONResponse:
    """The device's actions to do, signed; the queued ones are now delivered."""
    ctx = central(request)
    device, _ = await authenticate(request, ctx, body_limit=0)
    now = ctx.now()
    rows = await ctx.pool.fetch(
        "UPDATE remote_actions SET state = 'delivered', delivered_at = coalesce(delivered_at, $2)"
        " WHERE device_id = $1 AND finished_at IS NULL AND expires_at > $2"
        " RETURNING id, kind, parameters, requested_at, expires_at",
        device.device_id,
        now,
    )
    actions = [
        remote_action.sign(
            ctx.signing_key,
            RemoteAction(
                row["id"],
                device.device_id,
                row["kind"],
                json.loads(row["parameters"]),
                int(row["requested_at"].timestamp()),
                int(row["expires_at"].timestamp()),
            ),
        )
        for row in sorted(rows, key=lambda row: int(row["id"]))
    ]
    return JSONResponse({"actions": actions, "server_time": int(now.timestamp())})


def _result_body(body: bytes) -> tuple[str, dict[str, Any]]:
    data = json_object(body)
    try:
        check_values(data, "result", floats=True)
    except StrictJsonError as err:
        raise ApiError(400, "invalid_value", reason=str(err)) from None
    state, result = data.get("state"), data.get("result")
    if set(data) != {"state", "result"}:
        raise malformed("body must be exactly {state, result}")
    if state not in remote_action.RESULT_STATES:
        raise malformed(f"state must be one of {list(remote_action.RESULT_STATES)}")
    if not isinstance(result, dict):
        raise malformed("result must be an object")
    return str(state), result


async def post_result(request: Request) -> JSONResponse:
    ctx = central(request)
    device, body = await authenticate(request, ctx, body_limit=MAX_RESULT_BYTES)
    action_id = _number(request.path_params["action_id"])
    state, result = _result_body(body)
    now = ctx.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT merchant_id, kind, state, finished_at FROM remote_actions"
            " WHERE id = $1 AND device_id = $2 FOR UPDATE",
            action_id,
            device.device_id,
        )
        if row is None:
            raise ApiError(404, "unknown_action")
        if row["finished_at"] is not None:
            return JSONResponse({"id": action_id, "state": row["state"]})
        await conn.execute(
            "UPDATE remote_actions SET state = $2, result = $3, finished_at = $4,"
            " delivered_at = coalesce(delivered_at, $4) WHERE id = $1",
            action_id,
            state,
            json.dumps(result),
            now,
        )
        address = request.client.host if request.client else None
        await record(
            conn,
            Actor(f"device:{device.device_id}", address, now),
            "remote_action.result",
            f"action {action_id}",
            row["merchant_id"],
            device_id=device.device_id,
            detail=f"{row['kind']} {state}" + _summary(result),
        )
    return JSONResponse({"id": action_id, "state": state})


def _summary(result: dict[str, Any]) -> str:
    """A few words of a result for the audit log (the whole of it stays on the device page)."""
    for key in ("error", "refused", "problem"):
        if isinstance(result.get(key), str) and result[key]:
            return f": {result[key]}"
    return ""


async def expire_overdue(pool: asyncpg.Pool, now: datetime) -> int:
    """Expire what was not delivered in time, or delivered and never answered; return how
    many, each with its audit log row."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "UPDATE remote_actions SET state = 'expired', finished_at = $1,"
            " result = jsonb_build_object('error', CASE WHEN state = 'queued'"
            " THEN 'not delivered before it expired' ELSE 'no result came back' END)"
            " WHERE finished_at IS NULL AND ((state = 'queued' AND expires_at <= $1)"
            " OR (state = 'delivered' AND expires_at <= $1 - $2::interval))"
            " RETURNING id, merchant_id, device_id, kind, result ->> 'error' AS error",
            now,
            RESULT_WAIT,
        )
        for row in rows:
            await record(
                conn,
                Actor("central", None, now),
                "remote_action.expired",
                f"action {row['id']}",
                row["merchant_id"],
                device_id=row["device_id"],
                detail=f"{row['kind']} expired: {row['error']}",
            )
    return len(rows)


async def of_device(conn: asyncpg.Connection, device_id: str) -> list[dict[str, Any]]:
    """The device's last actions for its page, newest first, results pretty-printed."""
    rows = await conn.fetch(
        "SELECT id, kind, parameters, requested_by, requested_at, state, finished_at, result"
        " FROM remote_actions WHERE device_id = $1 ORDER BY id DESC LIMIT $2",
        device_id,
        SHOWN_ON_PAGE,
    )
    shown = []
    for row in rows:
        result = json.loads(row["result"]) if row["result"] is not None else {}
        lines, doctor = result.pop("lines", None), result.pop("doctor", None)
        shown.append(
            {
                **dict(row),
                "label": LABELS[row["kind"]],
                "parameters": json.loads(row["parameters"]),
                "lines": "\n".join(map(str, lines)) if isinstance(lines, list) else "",
                "doctor": _pretty(doctor) if doctor is not None else "",
                "result": _pretty(result) if result else "",
            }
        )
    return shown


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)
