"""What ops do to a device from its page: resolve a fork, set its label and location, move it to
another merchant (the function ``bitagora central device move`` runs), revoke its key, and
decommission it. Each change and its audit log row (central/audit.py: what, who, when, why; the
device in ``device_id``; append-only) commit together, as the ops user (row policies on)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote

import asyncpg
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.enroll import MoveRefused, move_device
from central.i18n import N_
from central.tenancy import as_user
from central.web_auth import Principal, page

MAX_REASON = 500
MAX_LABEL = 100
MAX_LOCATION = 200

# The device page's line for each outcome (its ``?done=`` parameter).
# What the device page says after each form (translated when shown).
NOTES = {
    "resolved": N_(
        "Fork resolved: the device's next push is checked against the held chain again."
    ),
    "labelled": N_("Label and location saved."),
    "moved": N_("Device moved: its next records belong to the new merchant."),
    "revoked": N_("Device revoked: central refuses its key from now on."),
    "decommissioned": N_("Device decommissioned: revoked and left out of the fleet page."),
    "unchanged": N_("Nothing was changed: the device is already so."),
    "reason": N_("Nothing was changed: say why."),
    "refused": N_("Nothing was changed: no such merchant, or the device belongs to it already."),
}

# One device change: returns (action, detail) to record, None when nothing changed, or True when
# the change recorded itself (a move: ``move_device`` writes its own audit row).
Change = Callable[[asyncpg.Connection, str, FormData], Awaitable[tuple[str, str] | bool | None]]


def _field(form: FormData, name: str, limit: int) -> str:
    return str(form.get(name) or "").strip()[:limit]


async def _act(
    request: Request, who: Principal, change: Change, done: str, *, why: bool
) -> Response:
    device_id = request.path_params["device_id"]
    form = await checked_form(request)
    reason = _field(form, "reason", MAX_REASON)
    outcome = "reason" if why and not reason else done
    if outcome == done:
        try:
            async with as_user(central(request).pool, who.claims) as conn:
                changed = await change(conn, device_id, form)
                if changed is None:
                    outcome = "unchanged"
                elif isinstance(changed, tuple):
                    action, detail = changed
                    actor = Actor.of(request, who.name)
                    await record(
                        conn,
                        actor,
                        action,
                        device_id,
                        device_id=device_id,
                        detail=detail,
                        reason=reason,
                    )
        except MoveRefused:
            outcome = "refused"
    return RedirectResponse(f"/devices/{quote(device_id)}?done={outcome}", status_code=303)


async def _resolve(
    conn: asyncpg.Connection, device_id: str, form: FormData
) -> tuple[str, str] | None:
    seq = await conn.fetchval(
        "UPDATE devices d SET forked_at = NULL, fork_seq = NULL FROM devices old"
        " WHERE d.device_id = $1 AND old.device_id = d.device_id AND d.forked_at IS NOT NULL"
        " RETURNING old.fork_seq",
        device_id,
    )
    return None if seq is None else ("device.resolve_fork", f"fork at seq {seq}")


async def _label(
    conn: asyncpg.Connection, device_id: str, form: FormData
) -> tuple[str, str] | None:
    label, location = _field(form, "label", MAX_LABEL), _field(form, "location", MAX_LOCATION)
    changed = await conn.fetchval(
        "UPDATE devices SET label = $2, location = $3 WHERE device_id = $1"
        " AND (label, location) IS DISTINCT FROM ($2, $3) RETURNING true",
        device_id,
        label,
        location,
    )
    return ("device.label", f"label {label!r}, location {location!r}") if changed else None


async def _revoke(
    conn: asyncpg.Connection, device_id: str, form: FormData
) -> tuple[str, str] | None:
    changed = await conn.fetchval(
        "UPDATE devices SET revoked_at = now(), revoked_reason = $2"
        " WHERE device_id = $1 AND revoked_at IS NULL RETURNING true",
        device_id,
        _field(form, "reason", MAX_REASON),
    )
    return ("device.revoke", "key refused from now on") if changed else None


async def _decommission(
    conn: asyncpg.Connection, device_id: str, form: FormData
) -> tuple[str, str] | None:
    changed = await conn.fetchval(
        "UPDATE devices SET decommissioned_at = now(), revoked_at = coalesce(revoked_at, now()),"
        " revoked_reason = coalesce(revoked_reason, 'decommissioned: ' || $2)"
        " WHERE device_id = $1 AND decommissioned_at IS NULL RETURNING true",
        device_id,
        _field(form, "reason", MAX_REASON),
    )
    return ("device.decommission", "revoked, hidden from the fleet page") if changed else None


@page(ops_only=True)
async def resolve_fork(request: Request, who: Principal) -> Response:
    """Clear the fork flag so the device pushes again."""
    return await _act(request, who, _resolve, "resolved", why=True)


@page(ops_only=True)
async def set_label(request: Request, who: Principal) -> Response:
    return await _act(request, who, _label, "labelled", why=False)


@page(ops_only=True)
async def move(request: Request, who: Principal) -> Response:
    """What ``bitagora central device move`` does (also recorded in ``device_moves``)."""

    async def change(conn: asyncpg.Connection, device_id: str, form: FormData) -> bool:
        by = Actor.of(request, who.name)
        await move_device(conn, device_id, _field(form, "merchant", 200), by)
        return True

    return await _act(request, who, change, "moved", why=False)


@page(ops_only=True)
async def revoke(request: Request, who: Principal) -> Response:
    return await _act(request, who, _revoke, "revoked", why=True)


@page(ops_only=True)
async def decommission(request: Request, who: Principal) -> Response:
    return await _act(request, who, _decommission, "decommissioned", why=True)
