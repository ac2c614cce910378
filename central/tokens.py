"""Supabase Auth access tokens: ``Authorization: Bearer <JWT>`` on any page, when configured.

Central accepts a token signed with the project's JWT secret (HS256,
``BITAGORA_SUPABASE_JWT_SECRET``), for the audience ``authenticated``, not expired. Its
``app_metadata`` must say who the user is to central, exactly as a session's claims do:
``bitagora_role`` ``ops``, or ``owner``/``manager`` with a ``merchant_id``. Supabase lets only
the service role write ``app_metadata``, so a user cannot grant themselves a merchant. The
token's claims, unchanged, become the request's ``request.jwt.claims``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

SECRET_ENV = "BITAGORA_SUPABASE_JWT_SECRET"
AUDIENCE = "authenticated"
_LEEWAY_S = 30  # clocks of Supabase and central may differ a little


class TokenRefused(Exception):
    """A bearer token central does not accept; the message says why (never the token)."""


@dataclass(frozen=True)
class TokenVerifier:
    secret: str

    def claims(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
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
