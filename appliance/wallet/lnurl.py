"""Bolt Card payments: LNURL-withdraw (LUD-03) from the link a card gives when tapped.

A Bolt Card's NDEF record is ``lnurlw://host/path?p=…&c=…`` (LUD-17; ``p`` and ``c`` are the card's
encrypted UID/counter and its CMAC, fresh on every tap). Paying a sale with it:

1. :func:`withdraw_url` turns what the card (or a QR code) gave into the https URL to ask:
   ``lnurlw://`` becomes ``https://`` (``http://`` for a ``.onion`` host, per LUD-17), a bech32
   ``LNURL1…`` string (LUD-01) is decoded, a ``lightning:`` prefix is dropped.
2. :func:`fetch_withdraw_request` GETs it (``p`` and ``c`` included) and checks the answer:
   ``tag == "withdrawRequest"``, a ``callback`` URL, a ``k1``, and ``minWithdrawable`` ≤
   ``maxWithdrawable`` in msat.
3. :meth:`WithdrawRequest.check_amount` says in words when the sale is outside those bounds.
4. :func:`submit_invoice` GETs ``callback?k1=…&pr=<BOLT11>``; ``{"status": "OK"}`` means the
   service will pay the invoice (settlement is then seen on our node, not here).

Any ``{"status": "ERROR", "reason": …}`` raises :class:`LnurlServiceError` carrying the service's
own reason for the screen. Timeouts, unreachable services, non-JSON and malformed answers each
have their own error; every message is fit to show to staff and names only the service's host,
never the card's ``p``/``c`` (they are card data and stay out of logs).

**Transport security**: LUD-01/17 require https, or plain http only to a Tor ``.onion`` host; both
the card's URL and the callback are checked. ``allow_insecure=True`` lifts that for tests and
regtest set-ups against a local service (and a card's ``lnurlw://`` link then means ``http://``,
as such a service speaks); no setting turns it on, so a shop's device cannot.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from embit.bech32 import CHARSET, Encoding, bech32_verify_checksum, convertbits

from appliance.core.btc import format_sats

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
REASON_MAX_CHARS = 200


class LnurlError(Exception):
    """Base of the Bolt Card payment errors; the message is meant for the screen."""


class LnurlLinkError(LnurlError):
    """What the card gave is not a usable LNURL-withdraw link (or not a secure one)."""


class LnurlNetworkError(LnurlError):
    """The card's service could not be reached."""


class LnurlTimeout(LnurlNetworkError):
    """The card's service did not answer in time."""


class LnurlProtocolError(LnurlError):
    """The service answered something that is not a valid LNURL-withdraw answer."""


class LnurlServiceError(LnurlError):
    """The service said ``{"status": "ERROR"}``; ``reason`` is its own words (cleaned)."""

    def __init__(self, reason: str, step: str) -> None:
        self.reason = reason
        super().__init__(f"The card's service refused {step}: {reason}")


class LnurlAmountError(LnurlError):
    """The sale's amount is outside what the card's service allows now."""


# --- links ----------------------------------------------------------------------------------------


def decode_bech32_lnurl(text: str) -> str:
    """The URL inside a bech32 ``LNURL1…`` string (LUD-01). LNURLs are usually longer than the
    90 characters BIP173 allows an address, so the checksum is verified without that limit."""
    if text != text.lower() and text != text.upper():
        raise LnurlLinkError("The LNURL mixes upper and lower case.")
    lowered = text.lower()
    hrp, _, rest = lowered.rpartition("1")
    if hrp != "lnurl" or len(rest) < 6 or any(c not in CHARSET for c in rest):
        raise LnurlLinkError("Not an LNURL (bech32 'lnurl1…').")
    data = [CHARSET.find(c) for c in rest]
    if bech32_verify_checksum(hrp, data) != Encoding.BECH32:
        raise LnurlLinkError("The LNURL's checksum is wrong (mistyped or damaged).")
    raw = convertbits(data[:-6], 5, 8, False)
    if raw is None:
        raise LnurlLinkError("The LNURL does not hold whole bytes.")
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise LnurlLinkError("The LNURL does not hold a URL.") from None


def _is_onion(url: httpx.URL) -> bool:
    return url.host.endswith(".onion")


def _check_secure(url: httpx.URL, what: str, allow_insecure: bool) -> None:
    if url.scheme == "https" or (url.scheme == "http" and (_is_onion(url) or allow_insecure)):
        if not url.host:
            raise LnurlLinkError(f"The {what} has no host.")
        return
    if url.scheme == "http":
        raise LnurlLinkError(
            f"The {what} ({url.host}) is plain http; only https (or a .onion host) is allowed."
        )
    raise LnurlLinkError(f"The {what} is not a web link (scheme {url.scheme or 'none'!r}).")


def withdraw_url(link: str, *, allow_insecure: bool = False) -> str:
    """The URL to GET for what a card or QR code gave: ``lnurlw://…``, ``LNURL1…``,
    ``lightning:LNURL1…`` or an https URL."""
    text = link.strip()
    if text.lower().startswith("lightning:"):
        text = text[len("lightning:") :]
    if text.lower().startswith("lnurl1"):
        text = decode_bech32_lnurl(text)
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise LnurlLinkError("The card gave no link.")
    scheme = scheme.lower()
    if scheme in ("lnurlp", "lnurlc", "keyauth"):
        raise LnurlLinkError("The card's link is not for paying (not lnurlw://).")
    if scheme == "lnurlw":
        host = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
        # A local test or regtest service speaks plain http; its cards say lnurlw:// all the same.
        insecure = allow_insecure or host.lower().endswith(".onion")
        scheme = "http" if insecure else "https"
    try:
        url = httpx.URL(f"{scheme}://{rest}")
    except httpx.InvalidURL:
        raise LnurlLinkError("The card's link is not a valid URL.") from None
    _check_secure(url, "card's link", allow_insecure)
    return str(url)


# --- the exchange ---------------------------------------------------------------------------------


def _amount_words(msat: int) -> str:
    return format_sats(msat // 1000) if msat % 1000 == 0 else f"{msat:,} msat"


def _sale_words(msat: int) -> str:
    """The sale's amount as staff saw it on the pay screen: whole sats, rounded up (exact msat
    for a few sats, where rounding could make it read like the card's bound)."""
    return format_sats(-(-msat // 1000)) if msat >= 10_000 else _amount_words(msat)


def _clean_reason(value: Any) -> str:
    text = value if isinstance(value, str) else "no reason given"
    text = "".join(ch if ch.isprintable() else " " for ch in text).strip() or "no reason given"
    return text if len(text) <= REASON_MAX_CHARS else text[: REASON_MAX_CHARS - 1] + "…"


async def _get_json(
    client: httpx.AsyncClient, url: httpx.URL, step: str, timeout_s: float
) -> dict[str, Any]:
    try:
        response = await client.get(url, timeout=timeout_s, headers={"accept": "application/json"})
    except httpx.TimeoutException:
        raise LnurlTimeout(
            f"The card's service ({url.host}) did not answer within {timeout_s:g} s. "
            "Try again or use another payment."
        ) from None
    except httpx.HTTPError as err:
        raise LnurlNetworkError(
            f"The card's service ({url.host}) cannot be reached ({type(err).__name__})."
        ) from None
    try:
        data = json.loads(response.content)
    except ValueError:
        raise LnurlProtocolError(
            f"The card's service ({url.host}) answered {step} with something that is not JSON "
            f"(HTTP {response.status_code})."
        ) from None
    if not isinstance(data, dict):
        raise LnurlProtocolError(f"The card's service ({url.host}) answered {step} oddly.")
    if str(data.get("status", "")).upper() == "ERROR":
        raise LnurlServiceError(_clean_reason(data.get("reason")), step)
    if response.status_code != 200:
        raise LnurlProtocolError(
            f"The card's service ({url.host}) answered {step} with HTTP {response.status_code}."
        )
    return data


def _msat(data: dict[str, Any], key: str) -> int:
    value = data.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise LnurlProtocolError(f"The card's service sent no valid {key} (msat).")
    return value


@dataclass(frozen=True)
class WithdrawRequest:
    """A checked LUD-03 ``withdrawRequest``: amounts in msat."""

    callback: str
    k1: str
    min_msat: int
    max_msat: int
    description: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any], *, allow_insecure: bool = False) -> WithdrawRequest:
        if data.get("tag") != "withdrawRequest":
            raise LnurlProtocolError(
                f"The card's link is not a withdraw link (tag {str(data.get('tag'))[:30]!r})."
            )
        callback, k1 = data.get("callback"), data.get("k1")
        if not isinstance(callback, str) or not callback:
            raise LnurlProtocolError("The card's service sent no callback URL.")
        if not isinstance(k1, str) or not k1:
            raise LnurlProtocolError("The card's service sent no k1.")
        try:
            url = httpx.URL(callback)
        except httpx.InvalidURL:
            raise LnurlProtocolError("The card's service sent an invalid callback URL.") from None
        _check_secure(url, "service's callback", allow_insecure)
        low, high = _msat(data, "minWithdrawable"), _msat(data, "maxWithdrawable")
        if low > high:
            raise LnurlProtocolError("The card's service sent minWithdrawable > maxWithdrawable.")
        description = data.get("defaultDescription")
        return cls(callback, k1, low, high, description if isinstance(description, str) else "")

    def check_amount(self, msat: int) -> None:
        """Raise :class:`LnurlAmountError` in words when ``msat`` is outside the bounds."""
        if msat > self.max_msat:
            if self.max_msat == 0:
                raise LnurlAmountError("This card cannot pay anything now (limit reached?).")
            raise LnurlAmountError(
                f"This card can pay at most {_amount_words(self.max_msat)} now; the sale is "
                f"{_sale_words(msat)}. Use another payment."
            )
        if msat < self.min_msat:
            raise LnurlAmountError(
                f"This card's service pays at least {_amount_words(self.min_msat)}; the sale is "
                f"only {_sale_words(msat)}. Use another payment."
            )


async def fetch_withdraw_request(
    client: httpx.AsyncClient,
    link: str,
    *,
    allow_insecure: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> WithdrawRequest:
    """Ask the card's service what it will pay (step 1 of LUD-03)."""
    url = httpx.URL(withdraw_url(link, allow_insecure=allow_insecure))
    data = await _get_json(client, url, "the card", timeout_s)
    return WithdrawRequest.from_json(data, allow_insecure=allow_insecure)


async def submit_invoice(
    client: httpx.AsyncClient,
    request: WithdrawRequest,
    invoice: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> None:
    """Hand the sale's BOLT11 invoice to the service (step 2 of LUD-03); returns when it has
    accepted to pay it."""
    url = httpx.URL(request.callback).copy_merge_params({"k1": request.k1, "pr": invoice})
    data = await _get_json(client, url, "the invoice", timeout_s)
    if str(data.get("status", "")).upper() != "OK":
        raise LnurlProtocolError(
            f"The card's service ({url.host}) neither accepted nor refused the invoice."
        )
    log.info("bolt card withdraw accepted", extra={"service": url.host})


async def withdraw(
    client: httpx.AsyncClient,
    link: str,
    amount_msat: int,
    make_invoice: Callable[[int], Awaitable[str]],
    *,
    allow_insecure: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> WithdrawRequest:
    """The whole exchange: check the card's bounds before ``make_invoice(amount_msat)`` creates
    the invoice on our node, then submit it. Settlement is awaited on the node by the caller."""
    request = await fetch_withdraw_request(
        client, link, allow_insecure=allow_insecure, timeout_s=timeout_s
    )
    request.check_amount(amount_msat)
    invoice = await make_invoice(amount_msat)
    await submit_invoice(client, request, invoice, timeout_s=timeout_s)
    return request
