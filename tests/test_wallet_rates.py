"""Exchange rates from real HTTP tickers on a local server, shaped like the exchanges' own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from http_helpers import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from appliance.config import ConfigError, RatesSettings, load_settings
from appliance.wallet.rates import (
    SOURCES,
    NoRate,
    Quote,
    RateService,
    combine,
    parse_kraken,
)

ALL = ("kraken", "bitstamp", "coinbase", "coingecko")


def ticker(source: str, rate: str, currency: str) -> Any:
    """The body each exchange's public API answers, with the price as it writes it."""
    if source == "kraken":
        padded = rate + ("00000" if "." in rate else ".00000")  # Kraken writes fixed decimals
        pair = {"c": [padded, "0.00120000"], "a": ["1", "1", "1.0"], "v": ["1", "2"]}
        return {"error": [], "result": {f"XXBTZ{currency}": pair}}
    if source == "bitstamp":
        return {"timestamp": "1764390000", "last": rate, "bid": rate, "ask": rate, "open": 1}
    if source == "coinbase":
        return {"data": {"amount": rate, "base": "BTC", "currency": currency}}
    return {"bitcoin": {currency.lower(): json.loads(rate)}}  # CoinGecko: a JSON number


@dataclass
class Exchanges:
    """One local server playing every exchange; ``behaviour[source]`` says how it answers:
    a rate string, ``500``, ``"garbage"``, ``"hold"`` (never answers until the test ends) or
    ``"down"`` (the server is pointed at a closed port instead)."""

    behaviour: dict[str, Any] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    hold: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            source = request.path_params["source"]
            self.hits[source] = self.hits.get(source, 0) + 1
            how = self.behaviour[source]
            if how == 500:
                return JSONResponse({"error": "internal"}, status_code=500)
            if how == "garbage":
                return Response("<html>maintenance</html>", media_type="text/html")
            if how == "hold":
                await self.hold.wait()
                return JSONResponse({})
            if isinstance(how, dict):
                return JSONResponse(how)
            currency = self.currency_of(source, request)
            return Response(
                json.dumps(ticker(source, how, currency)), media_type="application/json"
            )

        return Starlette(routes=[Route("/{source}/{rest:path}", handle)])

    @staticmethod
    def currency_of(source: str, request: Request) -> str:
        rest = request.path_params["rest"]
        if source == "kraken":
            return request.query_params["pair"].removeprefix("XBT")
        if source == "bitstamp":
            return rest.split("/")[-2].removeprefix("btc").upper()
        if source == "coinbase":
            return rest.split("/")[-2].removeprefix("BTC-")
        return request.query_params["vs_currencies"].upper()


class Clock:
    """A monotonic clock the test moves on (the service measures age with it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def exchanges() -> AsyncIterator[tuple[Exchanges, str]]:
    exchange = Exchanges()
    async with serve(exchange.app(), hold=exchange.hold) as url:
        yield exchange, url


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def settings_for(url: str, down: tuple[str, ...] = (), **extra: Any) -> RatesSettings:
    urls = [f"{s}=http://127.0.0.1:9/{s}" if s in down else f"{s}={url}/{s}" for s in ALL]
    values: dict[str, Any] = {"sources": ALL, "base_urls": tuple(urls), "timeout_s": 1}
    values.update(extra)
    settings = RatesSettings(**values)
    settings.check()
    return settings


async def test_all_sources_agree(exchanges: tuple[Exchanges, str], client: httpx.AsyncClient):
    exchange, url = exchanges
    exchange.behaviour = {
        "kraken": "61200.1",
        "bitstamp": "61210",
        "coinbase": "61230.55",
        "coingecko": "61250",
    }
    service = RateService(settings_for(url), "EUR", client)
    rate = await service.current()
    assert rate.rate == Decimal("61220.275")  # median of four: mean of the middle two
    assert isinstance(rate.rate, Decimal)
    assert {q.source: q.rate for q in rate.quotes} == {
        "kraken": Decimal("61200.100000"),
        "bitstamp": Decimal("61210"),
        "coinbase": Decimal("61230.55"),
        "coingecko": Decimal("61250"),
    }
    assert rate.dropped == ()
    assert rate.currency == "EUR"
    body = rate.body()
    assert body["rate"] == "61220.275"
    assert body["currency"] == "EUR"
    assert {"source": "coinbase", "rate": "61230.55"} in body["sources"]
    assert body["fetched_at"].endswith("Z")
    json.dumps(body)  # journal-ready: strings only, no Decimal or float


async def test_other_currency_reaches_each_source(
    exchanges: tuple[Exchanges, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.behaviour = dict.fromkeys(ALL, "98765")
    rate = await RateService(settings_for(url), "USD", client).current()
    assert rate.rate == Decimal("98765") and rate.currency == "USD"


async def test_one_outlier_is_dropped(exchanges: tuple[Exchanges, str], client: httpx.AsyncClient):
    exchange, url = exchanges
    exchange.behaviour = {
        "kraken": "61200",
        "bitstamp": "61300",
        "coinbase": "6125.0",  # a decimal point in the wrong place
        "coingecko": "61250",
    }
    rate = await RateService(settings_for(url), "EUR", client).current()
    assert rate.rate == Decimal("61250")
    assert [q.source for q in rate.dropped] == ["coinbase"]
    assert rate.body()["dropped"] == [{"source": "coinbase", "rate": "6125.0"}]


@pytest.mark.parametrize(
    "failure", [500, "garbage", "hold", "down", {"data": {"amount": "n/a"}}, "0", "1"]
)
async def test_one_failing_source_is_left_out(
    exchanges: tuple[Exchanges, str], client: httpx.AsyncClient, failure: Any
) -> None:
    exchange, url = exchanges
    exchange.behaviour = {"kraken": "61200", "bitstamp": "61300", "coingecko": "61250"}
    exchange.behaviour["coinbase"] = failure
    down = ("coinbase",) if failure == "down" else ()
    rate = await RateService(settings_for(url, down), "EUR", client).current()
    assert rate.rate == Decimal("61250")
    assert sorted(q.source for q in rate.quotes) == ["bitstamp", "coingecko", "kraken"]


async def test_all_down_is_no_rate(exchanges: tuple[Exchanges, str], client: httpx.AsyncClient):
    exchange, url = exchanges
    exchange.behaviour = {"kraken": 500, "bitstamp": "garbage", "coingecko": "hold"}
    service = RateService(settings_for(url, ("coinbase",)), "EUR", client)
    with pytest.raises(NoRate, match="no source answered") as caught:
        await service.current()
    assert caught.value.failures == {
        "kraken": "answered HTTP 500",
        "bitstamp": "answer is not JSON",
        "coingecko": "no answer within 1 s",
        "coinbase": "unreachable (ConnectError)",
    }
    assert service.usable() is None


async def test_disagreeing_sources_give_no_rate(
    exchanges: tuple[Exchanges, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.behaviour = {"kraken": "60000", "bitstamp": "66000", "coinbase": 500}
    exchange.behaviour["coingecko"] = 500
    with pytest.raises(NoRate, match="0 of 2 quotes agree within 2%, 2 needed"):
        await RateService(settings_for(url), "EUR", client).current()


async def test_cache_refresh_and_staleness(
    exchanges: tuple[Exchanges, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.behaviour = dict.fromkeys(ALL, "61000")
    clock = Clock()
    fixed = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    service = RateService(
        settings_for(url, refresh_s=60, max_age_s=300),
        "EUR",
        client,
        clock=clock,
        wall_clock=lambda: fixed,
    )
    first = await service.current()
    assert first.body()["fetched_at"] == "2026-11-29T12:00:00.000000Z"
    assert exchange.hits == dict.fromkeys(ALL, 1)

    clock.now += 59  # younger than refresh_s: nobody is asked
    assert await service.current() is first
    assert exchange.hits == dict.fromkeys(ALL, 1)

    clock.now += 2  # past refresh_s: asked again, the new rate is used
    exchange.behaviour = dict.fromkeys(ALL, "62000")
    second = await service.current()
    assert second.rate == Decimal("62000")
    assert exchange.hits == dict.fromkeys(ALL, 2)

    exchange.behaviour = dict.fromkeys(ALL, 500)  # sources fail: the last rate, while young
    clock.now += 299
    assert await service.current() is second
    clock.now += 2  # older than max_age_s: refused
    with pytest.raises(NoRate):
        await service.current()
    assert service.usable() is None


async def test_concurrent_callers_share_one_round(
    exchanges: tuple[Exchanges, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.behaviour = dict.fromkeys(ALL, "61000")
    service = RateService(settings_for(url), "EUR", client)
    rates = await asyncio.gather(*(service.current() for _ in range(5)))
    assert all(r is rates[0] for r in rates)
    assert exchange.hits == dict.fromkeys(ALL, 1)


def test_combine_rules() -> None:
    quotes = [Quote("a", Decimal("100000")), Quote("b", Decimal("101000"))]
    rate, used, dropped = combine(quotes, outlier_pct=2, min_sources=2)
    assert rate == Decimal("100500") and len(used) == 2 and dropped == ()
    with pytest.raises(NoRate, match="1 of 1 quotes agree within 2%, 2 needed"):
        combine(quotes[:1], outlier_pct=2, min_sources=2)
    with pytest.raises(NoRate, match="no source answered"):
        combine([], outlier_pct=2, min_sources=1)


def test_kraken_error_is_reported() -> None:
    from appliance.wallet.rates import SourceError

    with pytest.raises(SourceError, match="Unknown asset pair"):
        parse_kraken({"error": ["EQuery:Unknown asset pair"]}, "ARS")
    assert set(SOURCES) == set(ALL)


def test_settings_are_checked(tmp_path: Any) -> None:
    path = tmp_path / "appliance.toml"
    path.write_text(
        '[rates]\nsources = ["kraken", "bitstamp"]\nmax_age_s = 120\n'
        'base_urls = ["kraken=http://127.0.0.1:8123"]\n',
        encoding="utf-8",
    )
    settings = load_settings(tmp_path, path, env={})
    assert settings.rates.sources == ("kraken", "bitstamp")
    assert settings.rates.urls() == {"kraken": "http://127.0.0.1:8123"}
    service = RateService.from_settings(settings, httpx.AsyncClient())
    assert service.currency == "EUR" and service.settings is settings.rates
    for text, key in [
        ('sources = ["binance"]', "rates.sources"),
        ('sources = ["kraken"]', "rates.min_sources"),
        ("max_age_s = 5", "rates.max_age_s"),
        ("refresh_s = 600", "rates.refresh_s"),
        ("outlier_pct = 0", "rates.outlier_pct"),
        ('base_urls = ["kraken"]', "rates.base_urls"),
        ('base_urls = ["kraken=ftp://x"]', "rates.base_urls"),
        ('timeout_s = "5"', "rates.timeout_s"),
    ]:
        path.write_text(f"[rates]\n{text}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_settings(tmp_path, path, env={})
    env = {"BITAGORA_RATES_SOURCES": "coinbase|kraken", "BITAGORA_RATES_MIN_SOURCES": "1"}
    path.write_text("", encoding="utf-8")
    assert load_settings(tmp_path, path, env=env).rates.sources == ("coinbase", "kraken")
