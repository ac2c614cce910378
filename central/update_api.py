"""The device's side of staged updates (docs/PROTOCOL.md 2.8), each request signed like every
device call (``device_auth``):

- ``GET /api/v1/update``: the bundle offered to the device now: 200 with the offer and its
  ``ETag`` (304 for ``If-None-Match`` naming it), 204 when there is none.
- ``GET /api/v1/update/bundle``: the offered bundle's bytes, streamed a slice at a time from
  PostgreSQL (404 ``no_offer`` when none).
- ``POST /api/v1/update/report``: what became of an update, from a rollout or a USB stick:
  ``{"outcome": "installed" | "rolled_back" | "failed", "version", "failed", "reason", "at"}``;
  200 ``{"rollout": id or null}``. A failure or rollback raises the device's "update" alert.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from bitagora_protocol.strict_json import StrictJsonError, check_values
from bitagora_protocol.update_bundle import VERSION
from central import alerts, rollouts
from central.context import central
from central.device_auth import authenticate
from central.errors import ApiError, json_object, malformed

REQUEST_BODY_LIMIT = 1024
REPORT_BODY_LIMIT = 4096
MAX_REASON = 500
MAX_AT = 40


async def update_offer(request: Request) -> Response:
    ctx = central(request)
    device, _ = await authenticate(request, ctx, body_limit=REQUEST_BODY_LIMIT)
    async with ctx.pool.acquire() as conn:
        offer = await rollouts.offer(conn, device.device_id, ctx.now())
    if offer is None:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="update", outcome="none")
        return Response(status_code=204)
    headers = {"ETag": offer.etag, "Cache-Control": "no-cache"}
    if offer.etag in request.headers.get("if-none-match", ""):
        ctx.metrics.inc(
            "bitagora_central_requests_total", endpoint="update", outcome="not_modified"
        )
        return Response(status_code=304, headers=headers)
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="update", outcome="ok")
    return JSONResponse(offer.to_dict(), headers=headers)


async def update_bundle(request: Request) -> Response:
    ctx = central(request)
    device, _ = await authenticate(request, ctx, body_limit=REQUEST_BODY_LIMIT)
    async with ctx.pool.acquire() as conn:
        offer = await rollouts.offer(conn, device.device_id, ctx.now())
    if offer is None:
        raise ApiError(404, "no_offer")
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="update_bundle", outcome="ok")
    return StreamingResponse(
        rollouts.bundle_slices(ctx.pool, offer),
        media_type="application/octet-stream",
        headers={
            "ETag": offer.etag,
            "X-Bundle-Version": offer.version,
            "Content-Length": str(offer.size_bytes),
        },
    )


def _text(data: dict[str, Any], name: str, limit: int, *, nullable: bool = False) -> str | None:
    value = data.get(name)
    if value is None and nullable:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise malformed(f"{name} must be a string of at most {limit} characters")
    return value


def parse_report(body: bytes) -> rollouts.Report:
    data = json_object(body)
    try:
        check_values(data, "report")
    except StrictJsonError as err:
        raise ApiError(400, "invalid_value", reason=str(err)) from None
    outcome = data.get("outcome")
    if outcome not in rollouts.OUTCOMES:
        raise malformed(f"outcome must be one of {', '.join(rollouts.OUTCOMES)}")
    version = _text(data, "version", 64)
    failed = _text(data, "failed", 64, nullable=True)
    for name, value in (("version", version), ("failed", failed)):
        if value is not None and not VERSION.fullmatch(value):
            raise malformed(f"{name} is not a release version")
    return rollouts.Report(
        str(outcome),
        str(version),
        failed,
        _text(data, "reason", MAX_REASON) or "",
        str(_text(data, "at", MAX_AT)),
    )


async def update_report(request: Request) -> JSONResponse:
    ctx = central(request)
    device, body = await authenticate(request, ctx, body_limit=REPORT_BODY_LIMIT)
    report = parse_report(body)
    now = ctx.now()
    async with ctx.pool.acquire() as conn:
        rollout_id = await rollouts.record_report(conn, device.device_id, report, now)
    await alerts.evaluate_device(ctx, device.device_id, now)
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="update_report", outcome="ok")
    return JSONResponse({"rollout": rollout_id})
