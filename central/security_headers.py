"""Security headers on every answer central gives.

- ``Content-Security-Policy``: no script at all, styles and images from central only
  (``central/static``), forms post to central only, no framing; inline script or style is
  refused by the browser, so markup that escaped escaping cannot run or restyle a page.
- ``X-Frame-Options: DENY`` (what ``frame-ancestors 'none'`` says, for older browsers),
  ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``.
- ``Strict-Transport-Security`` when central's public URL is https (``WebSettings``).
- ``Cache-Control: no-store`` unless the handler chose a policy: pages show sales and users,
  which no browser or proxy cache should keep.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; object-src 'none'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)
HSTS = "max-age=31536000"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self._headers = {
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }
        if https:
            self._headers["Strict-Transport-Security"] = HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self._headers.items():
                    headers[name] = value
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
