"""Bolt Card payments against a real local LNURL-withdraw service over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from embit.bech32 import Encoding, bech32_encode, convertbits
from lnurl_helpers import C, CardService, P, card_link

from appliance.drivers.ndef import encode_message, parse_message, uri_record
from appliance.drivers.nfc import CardTap
from appliance.wallet.lnurl import (
    LnurlAmountError,
    LnurlLinkError,
    LnurlNetworkError,
    LnurlProtocolError,
    LnurlServiceError,
    LnurlTimeout,
    WithdrawRequest,
    decode_bech32_lnurl,
    fetch_withdraw_request,
    submit_invoice,
    withdraw,
    withdraw_url,
)

INVOICE = "lnbcrt50u1pjtestinvoice"


def lnurl_encode(url: str) -> str:
    data = convertbits(list(url.encode("utf-8")), 8, 5, True)
    return str(bech32_encode(Encoding.BECH32, "lnurl", data)).upper()


@pytest.fixture
async def service() -> AsyncIterator[tuple[CardService, str]]:
    card_service = CardService()
    async with card_link(card_service) as link:
        yield card_service, link


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


async def test_successful_withdraw(
    service: tuple[CardService, str], client: httpx.AsyncClient
) -> None:
    card_service, link = service
    asked: list[int] = []

    async def make_invoice(msat: int) -> str:
        asked.append(msat)
        return INVOICE

    request = await withdraw(client, link, 5_000_000, make_invoice, allow_insecure=True)
    assert request.k1 == "k1-" + P and request.description == "Bolt Card"
    assert card_service.taps == [{"p": P, "c": C}]
    assert asked == [5_000_000]
    assert card_service.callbacks == [{"session": "s1", "k1": "k1-" + P, "pr": INVOICE}]


async def test_a_bech32_lnurl_reaches_the_same_service(
    service: tuple[CardService, str], client: httpx.AsyncClient
) -> None:
    _, link = service
    encoded = lnurl_encode(link)
    assert len(encoded) > 90  # longer than BIP173 allows an address
    assert decode_bech32_lnurl(encoded) == link
    request = await fetch_withdraw_request(client, "lightning:" + encoded, allow_insecure=True)
    assert request.min_msat == 1_000 and request.max_msat == 100_000_000


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (100_000_001_000, "at most 100,000 sats now; the sale is 100,000,001 sats"),
        (999, "at least 1 sat; the sale is only 999 msat"),
    ],
)
async def test_amount_outside_the_card_bounds_is_refused_before_any_invoice(
    service: tuple[CardService, str], client: httpx.AsyncClient, amount: int, words: str
) -> None:
    card_service, link = service

    async def make_invoice(msat: int) -> str:
        raise AssertionError("no invoice may be made for an amount the card cannot pay")

    with pytest.raises(LnurlAmountError, match=words):
        await withdraw(client, link, amount, make_invoice, allow_insecure=True)
    assert card_service.callbacks == []


async def test_service_error_reason_is_shown(
    service: tuple[CardService, str], client: httpx.AsyncClient
) -> None:
    _, link = service
    with pytest.raises(LnurlServiceError) as caught:
        await fetch_withdraw_request(client, link.replace(C, "BAD"), allow_insecure=True)
    assert caught.value.reason == "card not recognised"
    assert str(caught.value) == "The card's service refused the card: card not recognised"


async def test_callback_error_reason_is_shown(
    service: tuple[CardService, str], client: httpx.AsyncClient
) -> None:
    card_service, link = service
    card_service.callback_answer = {"status": "ERROR", "reason": "Daily limit\nexceeded\x07"}
    request = await fetch_withdraw_request(client, link, allow_insecure=True)
    with pytest.raises(LnurlServiceError, match="refused the invoice: Daily limit exceeded$"):
        await submit_invoice(client, request, INVOICE)


@pytest.mark.parametrize("step", ["first", "callback"])
async def test_timeout(
    service: tuple[CardService, str], client: httpx.AsyncClient, step: str
) -> None:
    card_service, link = service
    request = await fetch_withdraw_request(client, link, allow_insecure=True)
    if step == "first":
        card_service.first = "hold"
        call = fetch_withdraw_request(client, link, allow_insecure=True, timeout_s=0.3)
    else:
        card_service.callback_answer = "hold"
        call = submit_invoice(client, request, INVOICE, timeout_s=0.3)
    with pytest.raises(LnurlTimeout, match="did not answer within 0.3 s"):
        await call


@pytest.mark.parametrize(
    ("first", "match"),
    [
        ("garbage", "not JSON \\(HTTP 502\\)"),
        ([1, 2], "oddly"),
        ({"tag": "payRequest", "callback": "x", "k1": "y"}, "not a withdraw link"),
        ({"tag": "withdrawRequest", "k1": "y"}, "no callback"),
        ({"tag": "withdrawRequest", "callback": "http://127.0.0.1/cb"}, "no k1"),
        (
            {
                "tag": "withdrawRequest",
                "callback": "http://127.0.0.1/cb",
                "k1": "y",
                "minWithdrawable": 1000,
                "maxWithdrawable": 10.5,
            },
            "maxWithdrawable",
        ),
        (
            {
                "tag": "withdrawRequest",
                "callback": "http://127.0.0.1/cb",
                "k1": "y",
                "minWithdrawable": 5000,
                "maxWithdrawable": 1000,
            },
            "minWithdrawable > maxWithdrawable",
        ),
    ],
)
async def test_malformed_first_answer(
    service: tuple[CardService, str], client: httpx.AsyncClient, first: Any, match: str
) -> None:
    card_service, link = service
    card_service.first = first
    with pytest.raises(LnurlProtocolError, match=match):
        await fetch_withdraw_request(client, link, allow_insecure=True)


@pytest.mark.parametrize(
    ("answer", "match"), [("garbage", "not JSON"), ({"status": "PENDING"}, "neither")]
)
async def test_malformed_callback_answer(
    service: tuple[CardService, str], client: httpx.AsyncClient, answer: Any, match: str
) -> None:
    card_service, link = service
    card_service.callback_answer = answer
    request = await fetch_withdraw_request(client, link, allow_insecure=True)
    with pytest.raises(LnurlProtocolError, match=match):
        await submit_invoice(client, request, INVOICE)


async def test_plain_http_is_refused_without_the_flag(
    service: tuple[CardService, str], client: httpx.AsyncClient
) -> None:
    card_service, link = service
    with pytest.raises(LnurlLinkError, match=r"plain http; only https \(or a .onion host\)"):
        await fetch_withdraw_request(client, link)
    assert card_service.taps == []  # refused before anything was sent
    insecure_callback = {
        "tag": "withdrawRequest",
        "callback": "http://shop.example/cb",
        "k1": "y",
        "minWithdrawable": 1,
        "maxWithdrawable": 2,
    }
    with pytest.raises(LnurlLinkError, match="callback"):
        WithdrawRequest.from_json(insecure_callback)
    onion = dict(insecure_callback, callback="http://abcdef.onion/cb")
    assert WithdrawRequest.from_json(onion).callback == "http://abcdef.onion/cb"


async def test_unreachable_service(client: httpx.AsyncClient) -> None:
    with pytest.raises(LnurlNetworkError, match="cannot be reached") as caught:
        await fetch_withdraw_request(client, f"http://127.0.0.1:9/ln?p={P}", allow_insecure=True)
    assert P not in str(caught.value)  # card data stays off the screen and out of logs


def test_bolt_card_tap_gives_an_https_url() -> None:
    memory = encode_message([uri_record("lnurlw://card.example.com/ln?p=A1B2&c=C3D4")])
    tap = CardTap(uid="04AABBCCDD2280", atqa=0x44, sak=0, records=parse_message(memory))
    assert tap.uri is not None
    assert withdraw_url(tap.uri) == "https://card.example.com/ln?p=A1B2&c=C3D4"
    assert withdraw_url("LNURLW://x.onion/ln?p=1") == "http://x.onion/ln?p=1"
    assert withdraw_url("https://card.example.com/ln") == "https://card.example.com/ln"


def test_a_card_of_a_local_service_means_http_only_when_insecure_is_allowed() -> None:
    """A test or regtest card service speaks plain http, and its cards say lnurlw:// all the
    same: under ``allow_insecure`` that means http, else https as LUD-17 says."""
    card = "lnurlw://127.0.0.1:5001/ln?p=A1B2&c=C3D4"
    assert withdraw_url(card) == "https://127.0.0.1:5001/ln?p=A1B2&c=C3D4"
    assert withdraw_url(card, allow_insecure=True) == "http://127.0.0.1:5001/ln?p=A1B2&c=C3D4"
    https = "https://card.example.com/ln"
    assert withdraw_url(https, allow_insecure=True) == https  # a link naming its scheme keeps it


@pytest.mark.parametrize(
    ("link", "match"),
    [
        ("lnurlp://shop.example/pay", "not for paying"),
        ("", "no link"),
        ("ftp://card.example.com/x", "not a web link"),
        ("lnurl1dp68gurn8ghj7", "checksum"),
        ("LNURL1dp68gurn8ghj7mrww4exctnv9hxzmnpw3kx2apwd3hx6ctnv9", "mixes"),
        ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "no link"),
    ],
)
def test_bad_links(link: str, match: str) -> None:
    with pytest.raises(LnurlLinkError, match=match):
        withdraw_url(link)


def test_amount_words_for_the_screen() -> None:
    request = WithdrawRequest("https://x/cb", "k", 0, 0)
    with pytest.raises(LnurlAmountError, match="cannot pay anything now"):
        request.check_amount(1_000)
