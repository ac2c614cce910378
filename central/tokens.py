"""Supabase Auth access tokens: ``Authorization: Bearer <JWT>`` on any page, when configured.

Central accepts a token signed with the project's JWT secret (HS256,
``BITAGORA_SUPABASE_JWT_SECRET``) or with one of the project's signing keys (RS256 or ES256,
published at ``BITAGORA_SUPABASE_JWKS_URL``), for the audience ``authenticated``, not expired,
with a subject. Its ``app_metadata`` must say who the user is to central, exactly as a session's
claims do: ``bitagora_role`` ``ops``, or ``owner``/``manager`` with a ``merchant_id``. Supabase
lets only the service role write ``app_metadata``, so a user cannot grant themselves a merchant.
The token's claims, unchanged, become the request's ``request.jwt.claims``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import jwt

SECRET_ENV = "BITAGORA_SUPABASE_JWT_SECRET"
JWKS_URL_ENV = "BITAGORA_SUPABASE_JWKS_URL"
AUDIENCE = "authenticated"
ASYMMETRIC = ("RS256", "ES256")
_LEEWAY_S = 30  # clocks of Supabase and central may differ a little
_JWKS_TIMEOUT_S = 10


class TokenRefused(Exception):
    """A bearer token central does not accept; the message says why (never the token)."""


class TokenVerifier:
    """Checks tokens with the shared secret, the key set, or both (each for its own algorithms:
    a token naming HS256 is never checked against a public key, nor the reverse)."""

    def __init__(self, secret: str | None = None, jwks_url: str | None = None) -> None:
        self._secret = secret
        # PyJWKClient keeps the key set for five minutes and fetches it again for an unknown kid.
        self._jwks = jwt.PyJWKClient(jwks_url, timeout=_JWKS_TIMEOUT_S) if jwks_url else None

    async def claims(self, token: str) -> dict[str, Any]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            key: Any
            if algorithm == "HS256" and self._secret:
                key = self._secret
            elif algorithm in ASYMMETRIC and self._jwks is not None:
                # urllib underneath: off the event loop.
                signing = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
                key = signing.key
            else:
                raise TokenRefused(f"tokens signed with {algorithm!r} are not accepted here")
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=AUDIENCE,
                leeway=_LEEWAY_S,
                options={"require": ["exp", "sub"]},
            )
        except jwt.PyJWTError as err:
            raise TokenRefused(str(err)) from None
        check_app_metadata(claims)
        return claims


def check_app_metadata(claims: dict[str, Any]) -> None:
    meta = claims.get("app_metadata")
    if not isinstance(meta, dict):
        raise TokenRefused("no app_metadata")
    role, merchant_id = meta.get("bitagora_role"), meta.get("merchant_id")
    if role == "ops":
        return
    if role not in ("owner", "manager"):
        raise TokenRefused("app_metadata.bitagora_role is not ops, owner or manager")
    if not isinstance(merchant_id, int) or isinstance(merchant_id, bool) or merchant_id <= 0:
        raise TokenRefused("app_metadata.merchant_id is not a merchant id")
