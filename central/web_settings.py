"""The settings of central's web side, from the environment (docs/OPERATIONS.md, "Web security"):

- ``BITAGORA_CENTRAL_PUBLIC_URL``: the address browsers use (``https://central.example.org``).
  When it is https, cookies are ``Secure`` and answers carry HSTS; it is also the origin that
  unsafe requests must come from (else the one each request was addressed to).
- ``BITAGORA_CENTRAL_CORS_ORIGINS``: origins, comma-separated, whose pages may call central
  from a browser (with a bearer token); none by default.
- ``BITAGORA_CENTRAL_METRICS_TOKEN``: the bearer token ``/metrics`` asks for; without it
  ``/metrics`` answers nobody.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

PUBLIC_URL_ENV = "BITAGORA_CENTRAL_PUBLIC_URL"
CORS_ORIGINS_ENV = "BITAGORA_CENTRAL_CORS_ORIGINS"
METRICS_TOKEN_ENV = "BITAGORA_CENTRAL_METRICS_TOKEN"
MIN_METRICS_TOKEN = 16


@dataclass(frozen=True)
class WebSettings:
    public_url: str | None = None
    cors_origins: tuple[str, ...] = ()
    metrics_token: str | None = None

    @property
    def https(self) -> bool:
        return self.public_url is not None and self.public_url.lower().startswith("https://")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WebSettings:
        """The settings; ``ValueError`` naming the variable for a bad value."""
        public_url = env.get(PUBLIC_URL_ENV, "").strip() or None
        if public_url is not None and origin_of(public_url) is None:
            raise ValueError(f"{PUBLIC_URL_ENV}: not an http(s) URL: {public_url!r}")
        origins = tuple(o.strip() for o in env.get(CORS_ORIGINS_ENV, "").split(",") if o.strip())
        for origin in origins:
            if origin_of(origin) != origin:
                raise ValueError(
                    f"{CORS_ORIGINS_ENV}: {origin!r} is not an origin (scheme://host[:port])"
                )
        token = env.get(METRICS_TOKEN_ENV, "").strip() or None
        if token is not None and len(token) < MIN_METRICS_TOKEN:
            raise ValueError(f"{METRICS_TOKEN_ENV}: use at least {MIN_METRICS_TOKEN} characters")
        return cls(public_url, origins, token)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower case, default port left out; None if it has
    none (``null``, a relative or malformed URL)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[scheme] else "")
