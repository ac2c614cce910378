"""Authenticating device requests: RFC 9421 signature, clock window, nonce replay.

The signature headers and the named device are checked before any body byte is read (each route
caps its body), then the signature, so an unauthenticated caller can neither make central buffer
a body nor fill the nonce table; then ``created`` must lie within ``WINDOW_S`` of central's clock
and an ``expires``, if signed, must be in the future; then the nonce must be new for that device;
then the device must not be revoked (403 ``revoked`` with ops' reason).
A nonce is remembered until ``created + WINDOW_S``: after that the window check alone
refuses the request, so the nonce table stays small (pruned periodically).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.requests import Request

from bitagora_protocol.httpsig import SignatureError, SignedBy, signature_key_id, verify_request
from central.context import Central
from central.errors import ApiError

log = logging.getLogger(__name__)

WINDOW_S = 600


@dataclass(frozen=True)
class Device:
    device_id: str
    public_key: Ed25519PublicKey


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than ``limit`` bytes: a declared length over it is
    refused unread, and a streamed body is counted as it arrives and dropped once over."""
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


def request_path(request: Request) -> str:
    # The signature covers the path as sent on the wire (still percent-encoded).
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


def signer_named(request: Request) -> str:
    """The keyid of the request's signature, or 401 ``missing_signature`` before any body
    byte is read: an unsigned caller costs central no more than its headers."""
    key_id = signature_key_id(request.headers)
    if key_id is None or "signature" not in request.headers:
        log.info("refused device request: missing_signature")
        raise ApiError(401, "missing_signature")
    return key_id


def verify_signed(request: Request, body: bytes, device: Device, now: float) -> SignedBy:
    """Check the signature over ``body`` by ``device``'s key, then ``created`` and ``expires``
    against central's clock ``now``; 401 with the code of docs/PROTOCOL.md 2.2 otherwise."""

    def resolve(requested: str) -> Ed25519PublicKey | None:
        return device.public_key if requested == device.device_id else None

    try:
        signed = verify_request(
            request.method, request_path(request), request.headers, body, resolve
        )
    except SignatureError as err:
        log.info(
            "refused device request: %s (%s) keyid=%s", err.code, err.message, device.device_id
        )
        raise ApiError(401, err.code) from None
    if abs(signed.created - now) > WINDOW_S:
        raise ApiError(401, "clock_skew", server_time=int(now))
    if signed.expires is not None and signed.expires <= now:
        raise ApiError(401, "expired", server_time=int(now))
    return signed


# The nonce's insert; RETURNING true only when it was new. Heartbeats run it as a CTE of their
# device update (central/heartbeat.py), so a beat is one round trip after the key lookup.
NONCE_INSERT = (
    "INSERT INTO request_nonces (device_id, nonce, expires_at) VALUES ($1, {nonce}, {expires})"
    " ON CONFLICT DO NOTHING RETURNING true"
)


@dataclass(frozen=True)
class Signed:
    """A request whose signature, clock window and body checked out; its nonce is not yet
    taken (``authenticate`` takes it; a caller of ``verify_signature`` must)."""

    device: Device
    body: bytes
    nonce: str
    nonce_expires_at: datetime


async def verify_signature(request: Request, ctx: Central, *, body_limit: int) -> Signed:
    """Everything ``authenticate`` checks but the nonce, the device's revocation included (403
    ``revoked`` with the reason, once the signature is good).

    The signature headers and the device's key are checked before the body is read, so an
    unsigned or unknown caller is refused without buffering anything; ``body_limit`` is the
    route's cap.
    """
    key_id = signer_named(request)
    row = await ctx.pool.fetchrow(
        "SELECT public_key, revoked_at, revoked_reason FROM devices WHERE device_id = $1", key_id
    )
    if row is None:
        log.info("refused device request: unknown_device keyid=%s", key_id)
        raise ApiError(401, "unknown_device")
    device = Device(key_id, Ed25519PublicKey.from_public_bytes(bytes(row["public_key"])))
    body = await read_body(request, body_limit)
    signed = verify_signed(request, body, device, ctx.clock())
    if row["revoked_at"] is not None:
        # After the signature: only the key's holder learns that and why it is revoked.
        log.warning("refused device request: revoked keyid=%s", key_id)
        raise ApiError(403, "revoked", reason=row["revoked_reason"] or "")
    window_end = datetime.fromtimestamp(signed.created + WINDOW_S, UTC)
    return Signed(device, body, signed.nonce, window_end)


async def authenticate(request: Request, ctx: Central, *, body_limit: int) -> tuple[Device, bytes]:
    """Verify a signed device request and take its nonce; return the device and the body it
    signed."""
    signed = await verify_signature(request, ctx, body_limit=body_limit)
    fresh = await ctx.pool.fetchval(
        NONCE_INSERT.format(nonce="$2", expires="$3"),
        signed.device.device_id,
        signed.nonce,
        signed.nonce_expires_at,
    )
    if not fresh:
        raise ApiError(401, "replay")
    return signed.device, signed.body


async def prune_nonces(pool: asyncpg.Pool, now: datetime) -> int:
    """Forget nonces whose signatures are out of the window anyway; return how many."""
    status = await pool.execute("DELETE FROM request_nonces WHERE expires_at < $1", now)
    return int(status.split()[-1])
