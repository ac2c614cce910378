"""The signed configuration document of a merchant, built once per version and served to its
devices: ``GET /api/v1/config`` (docs/PROTOCOL.md 2.6).

The request is signed as every device request (RFC 9421, ``device_auth``). The answer carries an
``ETag`` naming the merchant, the version and central's key, so ``If-None-Match`` is answered 304
from one indexed row without reading the document. A version's document is built on its first
request, in one REPEATABLE READ transaction (products, settings, staff and version of one
moment), signed, and kept gzip-compressed in ``merchant_config_documents``; every device of the
merchant then gets those bytes (``Content-Encoding: gzip``, or decompressed for a client that
does not accept gzip).
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from dataclasses import dataclass
from datetime import UTC

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.requests import Request
from starlette.responses import Response

from bitagora_protocol.catalog import catalog_sha256
from bitagora_protocol.config_document import FORMAT, encode, sign
from bitagora_protocol.journal import public_key_bytes
from central import merchant_catalog
from central.context import central
from central.device_auth import authenticate
from central.errors import ApiError

log = logging.getLogger(__name__)

GZIP_LEVEL = 6  # 9 saves ~3 % more of a 50,000-product document for twice the time
REQUEST_BODY_LIMIT = 1024


@dataclass(frozen=True)
class Served:
    version: int
    etag: str
    body_gzip: bytes


def etag_for(merchant: int, version: int, key: Ed25519PrivateKey) -> str:
    """A strong ETag: the same merchant, version and key always mean the same bytes."""
    return f'"m{merchant}-v{version}-{public_key_bytes(key.public_key()).hex()[:16]}"'


async def build(conn: asyncpg.Connection, merchant: int, key: Ed25519PrivateKey) -> Served | None:
    """The merchant's current document (from the cache, or built and cached now); None when the
    merchant has no configuration yet."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow(
            "SELECT c.version, c.changed_at, m.name FROM merchant_config c"
            " JOIN merchants m ON m.id = c.merchant_id WHERE c.merchant_id = $1",
            merchant,
        )
        if row is None:
            return None
        version, etag = int(row["version"]), etag_for(merchant, int(row["version"]), key)
        cached = await conn.fetchrow(
            "SELECT body_gzip FROM merchant_config_documents WHERE merchant_id = $1 AND etag = $2",
            merchant,
            etag,
        )
        if cached is not None:
            return Served(version, etag, bytes(cached["body_gzip"]))
        settings = await merchant_catalog.settings(conn, merchant)
        items = await merchant_catalog.products(conn, merchant)
        staff = await merchant_catalog.staff(conn, merchant)
    issued_at = row["changed_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    canonical = [item.canonical() for item in items]

    def compose() -> bytes:
        document = {
            "format": FORMAT,
            "merchant": {"id": merchant, "name": row["name"]},
            "version": version,
            "issued_at": issued_at,
            "catalog": {
                "currency": settings.currency,
                "sha256": catalog_sha256(settings.currency, canonical),
                "items": canonical,
            },
            "settings": {
                "currency": settings.currency,
                "receipt": {
                    "header_lines": list(settings.header_lines),
                    "footer_lines": list(settings.footer_lines),
                },
                "payment_methods": list(settings.payment_methods),
                # Optional: without it, each till keeps its own [device] cash_rounding.
                **(
                    {"cash_rounding": settings.cash_rounding}
                    if settings.cash_rounding is not None
                    else {}
                ),
                # Only when set: a device that has none keeps its own device.language.
                **({"language": settings.language} if settings.language else {}),
            },
            "staff": [
                {
                    "id": p.id,
                    "name": p.name,
                    "role": p.role,
                    "active": p.active,
                    "badges": list(p.badges),
                    **({"language": p.language} if p.language else {}),
                }
                for p in staff
            ],
        }
        return gzip.compress(encode(sign(key, document)), GZIP_LEVEL, mtime=0)

    body_gzip = await asyncio.to_thread(compose)
    # Two requests may build the same version at once; both built the same bytes. An older
    # version never replaces a newer one.
    await conn.execute(
        "INSERT INTO merchant_config_documents (merchant_id, version, etag, body_gzip)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (merchant_id) DO UPDATE SET"
        " version = EXCLUDED.version, etag = EXCLUDED.etag, body_gzip = EXCLUDED.body_gzip,"
        " built_at = now() WHERE merchant_config_documents.version <= EXCLUDED.version",
        merchant,
        version,
        etag,
        body_gzip,
    )
    log.info(
        "built configuration document v%d for merchant %d: %d products, %d bytes gzipped",
        version,
        merchant,
        len(items),
        len(body_gzip),
    )
    return Served(version, etag, body_gzip)


async def config_document(request: Request) -> Response:
    ctx = central(request)
    # A GET signs the empty body; anything beyond a few bytes is not a configuration request.
    device, _ = await authenticate(request, ctx, body_limit=REQUEST_BODY_LIMIT)
    async with ctx.pool.acquire() as conn:
        merchant = await conn.fetchval(
            "SELECT merchant_id FROM devices WHERE device_id = $1", device.device_id
        )
        version = await conn.fetchval(
            "SELECT version FROM merchant_config WHERE merchant_id = $1", merchant
        )
        if version is None:
            ctx.metrics.inc("bitagora_central_requests_total", endpoint="config", outcome="none")
            raise ApiError(404, "no_configuration")
        etag = etag_for(merchant, int(version), ctx.signing_key)
        headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
        if etag in _etags(request.headers.get("if-none-match", "")):
            ctx.metrics.inc(
                "bitagora_central_requests_total", endpoint="config", outcome="not_modified"
            )
            return Response(status_code=304, headers=headers)
        served = await build(conn, merchant, ctx.signing_key)
    assert served is not None  # the version row exists; rows are never deleted
    headers["ETag"] = served.etag
    ctx.metrics.inc("bitagora_central_requests_total", endpoint="config", outcome="ok")
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(served.body_gzip, media_type="application/json", headers=headers)
    body = await asyncio.to_thread(gzip.decompress, served.body_gzip)
    return Response(body, media_type="application/json", headers=headers)


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
