"""The rollout pages (ops only): ``/rollouts`` lists rollouts, takes a bundle's upload, starts a
rollout and pauses, resumes or stops one; ``/rollouts/{id}`` shows each device's state. Every
change is written to the audit log in its own transaction (central/audit.py)."""

from __future__ import annotations

from datetime import time

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central import rollouts
from central.audit import Actor, record
from central.context import central
from central.csrf import checked_form
from central.i18n import _
from central.rollouts import RolloutError
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page


async def _render(
    request: Request, who: Principal, *, message: str = "", error: str = ""
) -> Response:
    async with as_user(central(request).pool, who.claims) as conn:
        listed = await rollouts.listed(conn)
        bundles = await conn.fetch(
            "SELECT id, version, package, size_bytes, uploaded_by, uploaded_at"
            " FROM update_bundles ORDER BY id DESC LIMIT 50"
        )
        merchants = await conn.fetch("SELECT id, name FROM merchants ORDER BY name")
    return templates.TemplateResponse(
        request,
        "rollouts.html",
        {
            "user": who.name,
            "rollouts": listed,
            "bundles": bundles,
            "merchants": merchants,
            "message": message,
            "errors": [error] if error else [],
            "key_configured": central(request).update_key is not None,
        },
        status_code=400 if error else 200,
    )


@page(ops_only=True)
async def rollouts_page(request: Request, who: Principal) -> Response:
    return await _render(request, who)


@page(ops_only=True)
async def upload_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    upload = form.get("bundle")
    if not isinstance(upload, UploadFile):
        return await _render(request, who, error=_("Choose a bundle file."))
    if upload.size is not None and upload.size > rollouts.MAX_BUNDLE_BYTES:
        return await _render(request, who, error=_("The bundle is too large."))
    data = await upload.read()
    ctx = central(request)
    actor = Actor.of(request, who.name)
    try:
        async with as_user(ctx.pool, who.claims) as conn:
            bundle_id, version = await rollouts.store_bundle(
                conn, data, ctx.update_key, who.name, actor.at
            )
            await record(
                conn,
                actor,
                "update.bundle_upload",
                f"bundle {bundle_id}: {version}",
                detail=f"{upload.filename}, {len(data)} bytes",
            )
    except RolloutError as err:
        return await _render(request, who, error=str(err))
    kept = _("Bundle %(version)s checked and kept.") % {"version": version}
    return await _render(request, who, message=kept)


def _window(form: FormData) -> tuple[time, time] | None:
    start, end = str(form.get("window_start") or ""), str(form.get("window_end") or "")
    if not start and not end:
        return None
    try:
        return time.fromisoformat(start), time.fromisoformat(end)
    except ValueError:
        raise RolloutError("maintenance window: a start and an end as HH:MM, or neither") from None


def _percent(form: FormData, name: str) -> int:
    text = str(form.get(name) or "")
    if not text.isdigit():
        raise RolloutError(f"{name.replace('_', ' ')}: a whole percentage")
    return int(text)


@page(ops_only=True)
async def create_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    actor = Actor.of(request, who.name)
    merchant = str(form.get("merchant") or "")
    try:
        bundle = str(form.get("bundle") or "")
        if not bundle.isdigit():
            raise RolloutError("Choose a bundle.")
        cohorts = rollouts.parse_cohorts(str(form.get("cohorts") or ""))
        async with as_user(central(request).pool, who.claims) as conn:
            rollout_id, devices = await rollouts.create(
                conn,
                bundle_id=int(bundle),
                merchant_id=int(merchant) if merchant.isdigit() else None,
                cohorts=cohorts,
                success_pct=_percent(form, "success_pct"),
                error_pct=_percent(form, "error_pct"),
                window=_window(form),
                after_z=form.get("after_z") == "on",
                by=who.name,
                now=actor.at,
            )
            await record(
                conn,
                actor,
                "update.rollout_start",
                f"rollout {rollout_id} of bundle {bundle}",
                int(merchant) if merchant.isdigit() else None,
                detail=f"cohorts {cohorts}, {devices} devices",
            )
    except RolloutError as err:
        return await _render(request, who, error=str(err))
    return RedirectResponse(f"/rollouts/{rollout_id}", status_code=303)


@page(ops_only=True)
async def state_form(request: Request, who: Principal) -> Response:
    form = await checked_form(request)
    rollout_id = int(request.path_params["rollout_id"])
    action = str(form.get("action") or "")
    reason = str(form.get("reason") or "")[:500]
    actor = Actor.of(request, who.name)
    try:
        async with as_user(central(request).pool, who.claims) as conn:
            state = await rollouts.change_state(conn, rollout_id, action, reason, actor.at)
            await record(
                conn,
                actor,
                f"update.rollout_{action}",
                f"rollout {rollout_id}",
                detail=f"now {state}",
                reason=reason,
            )
    except RolloutError as err:
        return await _render(request, who, error=str(err))
    return RedirectResponse(f"/rollouts/{rollout_id}", status_code=303)


@page(ops_only=True)
async def rollout_page(request: Request, who: Principal) -> Response:
    rollout_id = int(request.path_params["rollout_id"])
    async with as_user(central(request).pool, who.claims) as conn:
        rollout = next(iter(await rollouts.listed(conn, rollout_id)), None)
        devices = await rollouts.devices_of(conn, rollout_id) if rollout else []
    if rollout is None:
        return Response("no such rollout\n", status_code=404, media_type="text/plain")
    return templates.TemplateResponse(
        request, "rollout.html", {"user": who.name, "rollout": rollout, "devices": devices}
    )
