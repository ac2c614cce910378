"""Enrollment: one-time codes made by ops, redeemed by a device with its public key.

Codes look like ``ABCD-EFGH-JKMN``: twelve characters from an alphabet without look-alikes
(no I, L, O, U, 0, 1), about 59 bits, typed case- and space-insensitively. Only their SHA-256 is
stored. ``POST /api/v1/enroll`` ``{"code", "public_key": 64 lowercase hex, "version"}``, signed
(RFC 9421, as every device call) by the very key it enrolls, with ``keyid`` the device id that
key makes: the signature proves the caller holds the private key, so a public key copied from an
export enrolls nothing. Answers 201 ``{"device_id", "merchant", "merchant_id", "central_key"}``
(``central_key``: the key that signs configuration documents, which the device pins), 401 as a
signed call (``missing_signature``, ``bad_digest``, ``bad_signature``, ``clock_skew``,
``expired``), 403 ``{"error": "enrollment_code_invalid", "reason": "unknown" | "used" |
"expired"}`` or 409 ``{"error": "enrolled_elsewhere"}``. Enrolling an already known key again
(a technician's redo) is allowed with a fresh code of the same merchant and keeps the device's
journal; moving a device to another merchant is an ops action (``move_device``), never a code.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from datetime import UTC, datetime, timedelta

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from starlette.requests import Request
from starlette.responses import JSONResponse

from bitagora_protocol.journal import (
    JournalError,
    device_id_for,
    device_public_key,
    public_key_bytes,
)
from bitagora_protocol.strict_json import StrictJsonError, check_values
from central.audit import Actor, record
from central.context import central
from central.device_auth import Device, read_body, signer_named, verify_signed
from central.errors import ApiError, json_object, malformed

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_GROUPS, GROUP_LENGTH = 3, 4
DEFAULT_TTL = timedelta(hours=24)
_SEPARATORS = re.compile(r"[\s\-]+")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
MAX_BODY_BYTES = 16 * 1024


def new_code() -> str:
    groups = (
        "".join(secrets.choice(CODE_ALPHABET) for _ in range(GROUP_LENGTH))
        for _ in range(CODE_GROUPS)
    )
    return "-".join(groups)


def normalize_code(text: str) -> str:
    """The canonical form of a typed code: separators and spaces dropped, upper case."""
    return _SEPARATORS.sub("", text).upper()


def code_hash(text: str) -> str:
    return hashlib.sha256(normalize_code(text).encode("utf-8")).hexdigest()


async def create_code(
    conn: asyncpg.Connection,
    merchant: str,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> str:
    """Make a code for ``merchant`` (created if new), valid for ``ttl``; return it."""
    merchant = merchant.strip()
    if not merchant:
        raise ValueError("merchant name must not be empty")
    async with conn.transaction():
        merchant_id = await conn.fetchval(
            "INSERT INTO merchants (name) VALUES ($1)"
            " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            merchant,
        )
        return await issue_code(conn, merchant_id, ttl=ttl, now=now)


async def issue_code(
    conn: asyncpg.Connection,
    merchant_id: int,
    *,
    ttl: timedelta = DEFAULT_TTL,
    now: datetime | None = None,
) -> str:
    """Make a code for the existing merchant ``merchant_id``, valid for ``ttl``; return it.
    Only its hash is stored: the code is shown once."""
    issued = now or datetime.now(UTC)
    code = new_code()
    await conn.execute(
        "INSERT INTO enrollment_codes (code_hash, merchant_id, created_at, expires_at)"
        " VALUES ($1, $2, $3, $4)",
        code_hash(code),
        merchant_id,
        issued,
        issued + ttl,
    )
    return code


def _parse_request(body: bytes) -> tuple[str, bytes, str]:
    data = json_object(body)
    try:
        check_values(data, "enrollment")
    except StrictJsonError as err:
        raise ApiError(400, "invalid_value", reason=str(err)) from None
    code, public_key, version = data.get("code"), data.get("public_key"), data.get("version")
    if not isinstance(code, str) or not 0 < len(code) <= 64:
        raise malformed("code must be a string")
    if not isinstance(public_key, str) or not _HEX64.match(public_key):
        raise malformed("public_key must be 64 lowercase hex digits (a raw Ed25519 public key)")
    if not isinstance(version, str) or len(version) > 100:
        raise malformed("version must be a string")
    raw_key = bytes.fromhex(public_key)
    try:
        device_public_key(raw_key)
    except JournalError as err:
        raise malformed(f"public_key: {err.reason}") from None
    return code, raw_key, version


async def _proven_request(request: Request, now: float) -> tuple[str, bytes, str, str]:
    """(code, raw public key, version, device id) of an enrollment request signed by the key it
    enrolls; 401 before the body is read when it carries no signature."""
    key_id = signer_named(request)
    body = await read_body(request, MAX_BODY_BYTES)
    code, raw_key, version = _parse_request(body)
    device_id = device_id_for(raw_key)
    if key_id != device_id:
        raise ApiError(401, "bad_signature", reason="keyid is not the device id of public_key")
    # No nonce is kept: a replayed enrollment carries the same single-use code.
    verify_signed(
        request, body, Device(device_id, Ed25519PublicKey.from_public_bytes(raw_key)), now
    )
    return code, raw_key, version, device_id


async def enroll(request: Request) -> JSONResponse:
    ctx = central(request)
    try:
        code, raw_key, version, device_id = await _proven_request(request, ctx.clock())
    except ApiError as err:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="enroll", outcome=err.error)
        raise
    now = ctx.now()
    async with ctx.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT e.merchant_id, e.expires_at, e.used_at, m.name FROM enrollment_codes e"
            " JOIN merchants m ON m.id = e.merchant_id WHERE e.code_hash = $1 FOR UPDATE OF e",
            code_hash(code),
        )
        reason = (
            "unknown"
            if row is None
            else "used"
            if row["used_at"] is not None
            else "expired"
            if row["expires_at"] <= now
            else None
        )
        revoked = None
        if reason is None:
            enrolled = await conn.fetchrow(
                "SELECT merchant_id, revoked_at, revoked_reason FROM devices WHERE device_id = $1",
                device_id,
            )
            if enrolled is not None and enrolled["revoked_at"] is not None:
                reason, revoked = "revoked", enrolled["revoked_reason"] or ""  # code stays unused
            elif enrolled is not None and enrolled["merchant_id"] != row["merchant_id"]:
                reason = "elsewhere"  # the code stays unused: it moves nothing
        if reason is None:
            await conn.execute(
                "INSERT INTO devices (device_id, public_key, merchant_id, version, enrolled_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO UPDATE SET"
                " version = EXCLUDED.version, enrolled_at = EXCLUDED.enrolled_at",
                device_id,
                raw_key,
                row["merchant_id"],
                version,
                now,
            )
            await conn.execute(
                "UPDATE enrollment_codes SET used_at = $2, used_by = $3 WHERE code_hash = $1",
                code_hash(code),
                now,
                device_id,
            )
    if reason == "elsewhere":
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="enroll", outcome=reason)
        log.warning(
            "enrollment refused: %s is enrolled with another merchant; moving it is "
            "`bitagora central device move`",
            device_id,
        )
        raise ApiError(409, "enrolled_elsewhere")
    if revoked is not None:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="enroll", outcome="revoked")
        log.warning("enrollment refused: %s is revoked", device_id)
        raise ApiError(403, "revoked", reason=revoked)
    if reason is not None:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="enroll", outcome=reason)
        log.info("enrollment refused: %s code", reason)
        raise ApiError(403, "enrollment_code_invalid", reason=reason)
    assert row is not None
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="enroll", outcome="ok")
    log.info("enrolled device %s for merchant %r (version %s)", device_id, row["name"], version)
    answer = {
        "device_id": device_id,
        "merchant": row["name"],
        "merchant_id": row["merchant_id"],
        "central_key": public_key_bytes(ctx.signing_key.public_key()).hex(),
    }
    return JSONResponse(answer, status_code=201)


class MoveRefused(ValueError):
    """A device move that cannot be done: unknown device or merchant, or already there."""


async def move_device(
    conn: asyncpg.Connection, device_id: str, merchant: str, moved_by: Actor
) -> tuple[str, str]:
    """Move an enrolled device to ``merchant`` (an ops action; recorded in ``device_moves`` and
    the audit log);
    return (old merchant, new merchant) names. Records already received stay with the merchant
    they were sold for; later ones belong to the new merchant."""
    async with conn.transaction():
        current = await conn.fetchrow(
            "SELECT d.merchant_id, m.name FROM devices d JOIN merchants m ON m.id = d.merchant_id"
            " WHERE d.device_id = $1 FOR UPDATE OF d",
            device_id,
        )
        if current is None:
            raise MoveRefused(f"no enrolled device {device_id}")
        target = await conn.fetchval("SELECT id FROM merchants WHERE name = $1", merchant.strip())
        if target is None:
            raise MoveRefused(f"no merchant named {merchant!r}")
        if target == current["merchant_id"]:
            raise MoveRefused(f"{device_id} already belongs to {merchant!r}")
        await conn.execute(
            "UPDATE devices SET merchant_id = $2 WHERE device_id = $1", device_id, target
        )
        await conn.execute(
            "INSERT INTO device_moves (device_id, from_merchant_id, to_merchant_id, moved_by)"
            " VALUES ($1, $2, $3, $4)",
            device_id,
            current["merchant_id"],
            target,
            moved_by.name,
        )
        await record(
            conn,
            moved_by,
            "device.move",
            f"{device_id} to {merchant.strip()}",
            target,
            device_id=device_id,
            detail=f"from {current['name']!r} to {merchant.strip()!r}",
        )
    log.warning(
        "device %s moved from merchant %r to %r by %s",
        device_id,
        current["name"],
        merchant,
        moved_by.name,
        extra={"event": "device_moved", "device_id": device_id},
    )
    return current["name"], merchant.strip()
