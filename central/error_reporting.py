"""Optional error reports to Sentry (``SENTRY_DSN``), scrubbed before they leave central.

Sentry's Starlette integration reports every unhandled exception with its request and the
local variables of each frame: a login's password, a session cookie, a bearer token, a staff
PIN or a card number could all be among them. ``scrub`` (the ``before_send`` and
``before_breadcrumb`` hook) replaces, anywhere in the event, the value of every field whose
name says it is secret, and in every string the card numbers (13 to 19 digits that pass the Luhn
check) and ``name=value`` pairs of secret names. Request bodies are never sent at all.
"""

from __future__ import annotations

import re
from typing import Any

import sentry_sdk
from sentry_sdk.transport import Transport

DSN_ENV = "SENTRY_DSN"
FILTERED = "[Filtered]"

# Field names that are secret when any word of the name is one of these …
_SECRET_WORDS = frozenset(
    {"pin", "pins", "pan", "cvv", "cvc", "csrf", "dsn", "auth", "key", "seed", "otp", "code"}
)
# … or when the name contains one of these anywhere.
_SECRET_PARTS = (
    "pass",
    "secret",
    "token",
    "cookie",
    "authoriz",
    "session",
    "card",
    "private",
    "mnemonic",
    "xprv",
    "signature",
    "apikey",
)
_WORD = re.compile(r"[a-z0-9]+")
_CARD_NUMBER = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w-]*(?:pass|secret|token|pin|cookie|session|key|authorization)[\w-]*)"
    r"(\s*[=:]\s*)(\S+)"
)


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARTS) or any(
        word in _SECRET_WORDS for word in _WORD.findall(lowered)
    )


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _scrub_text(text: str) -> str:
    def card(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return FILTERED if _luhn(digits) else match.group(0)

    text = _CARD_NUMBER.sub(card, text)
    return _SECRET_PAIR.sub(lambda m: m.group(1) + m.group(2) + FILTERED, text)


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: FILTERED if isinstance(key, str) and _secret_name(key) else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        # Headers and cookies also come as [name, value] pairs.
        if len(value) == 2 and isinstance(value[0], str) and _secret_name(value[0]):
            return [value[0], FILTERED]
        return [_scrub(item) for item in value]
    if isinstance(value, str):
        return _scrub_text(value)
    return value


def scrub(event: Any, hint: Any) -> Any:
    """The event (or breadcrumb) without secrets: Sentry's ``before_send`` and
    ``before_breadcrumb``."""
    return _scrub(event)


def report_errors(dsn: str, *, transport: Transport | None = None) -> None:
    """Send central's unhandled errors to Sentry, scrubbed; ``transport`` for tests."""
    sentry_sdk.init(
        dsn=dsn,
        transport=transport,
        before_send=scrub,
        before_breadcrumb=scrub,
        max_request_body_size="never",
    )
