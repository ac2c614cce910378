"""Error reports to Sentry leave central without secrets: a real request to a real Starlette app
that fails with a password, a PIN, a card number, a key and a cookie in reach, reported through
sentry-sdk's own client into a transport that keeps what would have been sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sentry_sdk
from http_helpers import serve
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from central.error_reporting import FILTERED, report_errors, scrub

pytestmark = pytest.mark.timeout(60)

PASSWORD = "correct-horse-battery"
PIN = "918273"
CARD = "4111 1111 1111 1111"
KEY = "a3f1" * 16
COOKIE = "session-cookie-value-xyz"
BEARER = "bearer-token-value-abc"


class KeptTransport(Transport):
    """What the client would send, as the JSON of each event."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type == "event":
                self.events.append(json.loads(item.payload.get_bytes()))


@pytest.fixture
def kept() -> Iterator[KeptTransport]:
    transport = KeptTransport()
    report_errors("https://public@sentry.example/1", transport=transport)
    try:
        yield transport
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: reporting off for the tests that follow


async def failing(request: Request) -> Response:
    form = await request.form()
    password, pin = form["password"], form["pin"]  # noqa: F841 (locals Sentry would send)
    card_number = CARD  # noqa: F841
    signing_key = KEY  # noqa: F841
    raise RuntimeError(f"could not charge {CARD} with pin={PIN}")


async def test_reports_carry_no_password_pin_card_key_or_cookie(kept: KeptTransport) -> None:
    app = Starlette(routes=[Route("/fail", failing, methods=["POST"])])
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        sentry_sdk.add_breadcrumb(message=f"login password={PASSWORD}", category="log")
        answer = await http.post(
            "/fail",
            data={"password": PASSWORD, "pin": PIN},
            headers={"Cookie": f"bitagora_ops={COOKIE}", "Authorization": f"Bearer {BEARER}"},
        )
        assert answer.status_code == 500
    sentry_sdk.flush()
    assert len(kept.events) == 1
    sent = json.dumps(kept.events[0])
    assert "RuntimeError" in sent and "failing" in sent  # the report is useful …
    for secret in (PASSWORD, PIN, CARD, CARD.replace(" ", ""), KEY, COOKIE, BEARER):
        assert secret not in sent, secret  # … and holds no secret
    assert FILTERED in sent


def test_scrub_keeps_what_is_not_secret() -> None:
    event = {
        "message": "device dev-1 pushed 4111111111111112 records",  # not a card: Luhn fails
        "request": {"headers": [["Content-Type", "text/html"], ["X-Api-Token", "t"]]},
        "extra": {"pin_hash": "h", "seq": 42, "shipping": "by post"},
    }
    assert scrub(event, {}) == {
        "message": "device dev-1 pushed 4111111111111112 records",
        "request": {"headers": [["Content-Type", "text/html"], ["X-Api-Token", FILTERED]]},
        "extra": {"pin_hash": FILTERED, "seq": 42, "shipping": "by post"},
    }
