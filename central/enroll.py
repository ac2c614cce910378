"""Enrollment: one-time codes made by ops, redeemed by a device with its public key.

Codes look like ``ABCD-EFGH-JKMN``: twelve characters from an alphabet without look-alikes
(no I, L, O, U, 0, 1), about 59 bits, typed case- and space-insensitively. Only their SHA-256 is
stored. ``POST /api/v1/enroll`` (unsigned) ``{"code", "public_key": 64 hex, "version"}`` answers
201 ``{"device_id", "merchant", "merchant_id", "central_key"}`` (``central_key``: the key that
signs configuration documents, which the device pins) or 403 ``{"error":
"enrollment_code_invalid", "reason": "unknown" | "used" | "expired"}``. Enrolling an already
known key again (a technician's redo) is allowed with a fresh code and keeps the device's journal.
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

from bitagora_protocol.journal import device_id_for, public_key_bytes
from central.context import central
from central.device_auth import read_body
from central.errors import ApiError, json_object, malformed

log = logging.getLogger(__name__)

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"
CODE_GROUPS, GROUP_LENGTH = 3, 4
DEFAULT_TTL = timedelta(hours=24)
_SEPARATORS = re.compile(r"[\s\-]+")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


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
    issued = now or datetime.now(UTC)
    code = new_code()
    async with conn.transaction():
        merchant_id = await conn.fetchval(
            "INSERT INTO merchants (name) VALUES ($1)"
            " ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id",
            merchant,
        )
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
    code, public_key, version = data.get("code"), data.get("public_key"), data.get("version")
    if not isinstance(code, str) or not 0 < len(code) <= 64:
        raise malformed("code must be a string")
    if not isinstance(public_key, str) or not _HEX64.match(public_key):
        raise malformed("public_key must be 64 hex digits (a raw Ed25519 public key)")
    if not isinstance(version, str) or len(version) > 100:
        raise malformed("version must be a string")
    raw_key = bytes.fromhex(public_key)
    try:
        Ed25519PublicKey.from_public_bytes(raw_key)
    except ValueError:
        raise malformed("public_key is not an Ed25519 public key") from None
    return code, raw_key, version


async def enroll(request: Request) -> JSONResponse:
    ctx = central(request)
    try:
        code, raw_key, version = _parse_request(await read_body(request, 16 * 1024))
    except ApiError as err:
        ctx.metrics.inc("bitagora_central_requests_total", endpoint="enroll", outcome=err.error)
        raise
    device_id = device_id_for(raw_key)
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
        if reason is None:
            await conn.execute(
                "INSERT INTO devices (device_id, public_key, merchant_id, version, enrolled_at)"
                " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (device_id) DO UPDATE SET"
                " merchant_id = EXCLUDED.merchant_id, version = EXCLUDED.version,"
                " enrolled_at = EXCLUDED.enrolled_at",
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
