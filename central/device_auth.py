"""Authenticating device requests: RFC 9421 signature, clock window, nonce replay.

The signature is checked first, so an unauthenticated caller cannot fill the nonce table; then
``created`` must lie within ``WINDOW_S`` of central's clock; then the nonce must be new for that
device. A nonce is remembered until ``created + WINDOW_S``: after that the window check alone
refuses the request, so the nonce table stays small (pruned periodically).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.requests import Request

from bitagora_protocol.httpsig import SignatureError, signature_key_id, verify_request
from central.context import Central
from central.errors import ApiError

log = logging.getLogger(__name__)

WINDOW_S = 600
MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Device:
    device_id: str
    public_key: Ed25519PublicKey


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing more than ``limit`` bytes without buffering them all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", limit=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _request_path(request: Request) -> str:
    # The signature covers the path as sent on the wire (still percent-encoded).
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


async def authenticate(
    request: Request, ctx: Central, *, body_limit: int = MAX_BODY_BYTES
) -> tuple[Device, bytes]:
    """Verify a signed device request; return the device and the body it signed."""
    body = await read_body(request, body_limit)
    key_id = signature_key_id(request.headers)
    device: Device | None = None
    if key_id is not None:
        row = await ctx.pool.fetchrow("SELECT public_key FROM devices WHERE device_id = $1", key_id)
        if row is not None:
            device = Device(key_id, Ed25519PublicKey.from_public_bytes(bytes(row["public_key"])))

    def resolve(requested: str) -> Ed25519PublicKey | None:
        return device.public_key if device is not None and requested == device.device_id else None

    try:
        signed = verify_request(
            request.method, _request_path(request), request.headers, body, resolve
        )
    except SignatureError as err:
        log.info("refused device request: %s (%s) keyid=%s", err.code, err.message, key_id)
        raise ApiError(401, err.code) from None
    assert device is not None  # verify_request resolved the key, so the row exists

    now = ctx.clock()
    if abs(signed.created - now) > WINDOW_S:
        raise ApiError(401, "clock_skew", server_time=int(now))
    expires = datetime.fromtimestamp(signed.created + WINDOW_S, UTC)
    fresh = await ctx.pool.fetchval(
        "INSERT INTO request_nonces (device_id, nonce, expires_at) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING true",
        device.device_id,
        signed.nonce,
        expires,
    )
    if not fresh:
        raise ApiError(401, "replay")
    return device, body


async def prune_nonces(pool: asyncpg.Pool, now: datetime) -> int:
    """Forget nonces whose signatures are out of the window anyway; return how many."""
    status = await pool.execute("DELETE FROM request_nonces WHERE expires_at < $1", now)
    return int(status.split()[-1])


async def prune_nonces_forever(ctx: Central, interval_s: float) -> None:
    """The lifespan's pruning task; it runs until cancelled."""
    while True:
        try:
            removed = await prune_nonces(ctx.pool, ctx.now())
            if removed:
                log.debug("pruned %d nonces", removed)
        except Exception as err:  # a failed round is retried at the next interval
            log.warning("nonce pruning failed: %s", err)
        await asyncio.sleep(interval_s)
