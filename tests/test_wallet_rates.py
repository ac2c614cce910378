"""Exchange rates from real HTTP tickers, shaped like the exchanges' own: the rates simulator
(devtools/bitagora_devtools/sim/rates.py) on a local port, in process and as
``bitagora sim rates``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from http_helpers import closed_port, serve, sim_command

from appliance.config import ConfigError, RatesSettings, load_settings
from appliance.wallet.rates import (
    ASSETS,
    SOURCES,
    ExchangeRate,
    NoRate,
    Quote,
    RateService,
    combine,
    parse_kraken,
)
from bitagora_devtools.sim.rates import RatesSim

ALL = ("kraken", "bitstamp", "coinbase", "coingecko")


class Clock:
    """A monotonic clock the test moves on (the service measures age with it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def exchanges() -> AsyncIterator[tuple[RatesSim, str]]:
    sim = RatesSim()
    async with serve(sim.app()) as url:
        try:
            yield sim, url
        finally:
            sim.release()  # held requests answer, so the server can stop


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def settings_for(url: str, down: tuple[str, ...] = (), **extra: Any) -> RatesSettings:
    closed = f"http://127.0.0.1:{closed_port()}"
    urls = [f"{s}={closed}" if s in down else f"{s}={url}" for s in ALL]
    values: dict[str, Any] = {"sources": ALL, "base_urls": tuple(urls), "timeout_s": 1}
    values.update(extra)
    settings = RatesSettings(**values)
    settings.check()
    return settings


async def test_all_sources_agree(exchanges: tuple[RatesSim, str], client: httpx.AsyncClient):
    exchange, url = exchanges
    exchange.answer(kraken="61200.1", bitstamp="61210", coinbase="61230.55", coingecko="61250")
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
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.set_rate("USD", "98765")  # EUR stays at the simulator's 61234.50
    rate = await RateService(settings_for(url), "USD", client).current()
    assert rate.rate == Decimal("98765") and rate.currency == "USD"


async def test_one_outlier_is_dropped(exchanges: tuple[RatesSim, str], client: httpx.AsyncClient):
    exchange, url = exchanges
    exchange.answer(
        kraken="61200",
        bitstamp="61300",
        coinbase="6125.0",  # a decimal point in the wrong place
        coingecko="61250",
    )
    rate = await RateService(settings_for(url), "EUR", client).current()
    assert rate.rate == Decimal("61250")
    assert [q.source for q in rate.dropped] == ["coinbase"]
    assert rate.body()["dropped"] == [{"source": "coinbase", "rate": "6125.0"}]


@pytest.mark.parametrize(
    "failure", [500, "garbage", "hold", "down", {"data": {"amount": "n/a"}}, "0", "1"]
)
async def test_one_failing_source_is_left_out(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient, failure: Any
) -> None:
    exchange, url = exchanges
    exchange.answer(kraken="61200", bitstamp="61300", coingecko="61250")
    down = ("coinbase",) if failure == "down" else ()
    if not down:
        exchange.answer(coinbase=failure)
    rate = await RateService(settings_for(url, down), "EUR", client).current()
    assert rate.rate == Decimal("61250")
    assert sorted(q.source for q in rate.quotes) == ["bitstamp", "coingecko", "kraken"]


async def test_all_down_is_no_rate(exchanges: tuple[RatesSim, str], client: httpx.AsyncClient):
    exchange, url = exchanges
    exchange.answer(kraken=500, bitstamp="garbage", coingecko="hold")
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


async def test_a_currency_no_exchange_quotes_is_no_rate(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    _, url = exchanges  # the simulator quotes EUR only: each exchange refuses CHF its own way
    with pytest.raises(NoRate, match="no source answered") as caught:
        await RateService(settings_for(url), "CHF", client).current()
    assert caught.value.failures == {
        "kraken": "kraken says ['EQuery:Unknown asset pair']",
        "bitstamp": "answered HTTP 404",
        "coinbase": "answered HTTP 404",
        "coingecko": "answer has no bitcoin.chf",
    }


async def test_disagreeing_sources_give_no_rate(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.answer(kraken="60000", bitstamp="66000", coinbase=500, coingecko=500)
    with pytest.raises(NoRate, match="0 of 2 quotes agree within 2%, 2 needed"):
        await RateService(settings_for(url), "EUR", client).current()


async def test_cache_refresh_and_staleness(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.set_rate("EUR", "61000")
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
    exchange.set_rate("EUR", "62000")
    second = await service.current()
    assert second.rate == Decimal("62000")
    assert exchange.hits == dict.fromkeys(ALL, 2)

    exchange.answer(**dict.fromkeys(ALL, 500))  # sources fail: the last rate, while young
    clock.now += 299
    assert await service.current() is second
    clock.now += 2  # older than max_age_s: refused
    with pytest.raises(NoRate):
        await service.current()
    assert service.usable() is None


async def test_concurrent_callers_share_one_round(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
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
        parse_kraken({"error": ["EQuery:Unknown asset pair"]}, ASSETS["BTC"], "ARS")
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


async def test_simulator_is_driven_over_http(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    control = url + "/_sim/rate"
    assert (await client.post(control, json={"currency": "EUR", "rate": "70000.5"})).is_success
    assert (await client.post(control, json={"source": "kraken", "fail": 500})).is_success
    assert (await client.post(control, json={"source": "coinbase", "rate": "1"})).is_success
    service = RateService(settings_for(url, timeout_s=2), "EUR", client)
    rate = await service.refresh()
    assert rate.rate == Decimal("70000.5")
    assert [q.source for q in rate.quotes] == ["bitstamp", "coingecko"]
    assert dict(rate.failed) == {
        "kraken": "answered HTTP 500",
        "coinbase": "rate 1 per BTC is outside 100..1E+12",
    }
    state = (await client.post(control, json={"source": "kraken"})).json()  # kraken back
    assert state["sources"] == {"coinbase": "1"} and state["rates"]["EUR"] == "70000.5"
    for wrong in (
        {"source": "binance", "fail": 500},
        {"rate": "1"},
        {"source": "kraken", "fail": "x"},
    ):
        answer = await client.post(control, json=wrong)
        assert answer.status_code == 400 and answer.json()["error"]
    assert exchange.hits["kraken"] == 1


def test_cli_simulator_serves_every_ticker() -> None:
    with sim_command("rates", "--port", "0", "--rate", "USD=98765.4") as (proc, first):
        match = re.match(r"rates simulator on (http://127\.0\.0\.1:\d+) \(USD 98765\.4\)", first)
        assert match, first or proc.stderr.read()  # type: ignore[union-attr]
        url = match.group(1)
        failing = httpx.post(url + "/_sim/rate", json={"source": "coingecko", "fail": 503})
        assert failing.json()["sources"] == {"coingecko": 503}

        async def check() -> ExchangeRate:
            async with httpx.AsyncClient() as http:
                return await RateService(settings_for(url), "USD", http).refresh()

        rate = asyncio.run(check())
        assert rate.rate == Decimal("98765.4")
        assert sorted(q.source for q in rate.quotes) == ["bitstamp", "coinbase", "kraken"]
        assert dict(rate.failed) == {"coingecko": "answered HTTP 503"}


async def test_usdt_is_quoted_by_each_source_under_its_own_name(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    exchange.answer(coinbase="0.9215")
    rate = await RateService(settings_for(url), "EUR", client, asset="USDT").current()
    assert rate.rate == Decimal("0.9213")  # USDT is not exactly a dollar, nor a euro
    assert {q.source for q in rate.quotes} == set(ALL)
    exchange.set_rate("ARS", "1187.5", asset="USDT")
    exchange.answer(coinbase=None)
    ars = await RateService(settings_for(url), "ARS", client, asset="USDT").current()
    assert ars.rate == Decimal("1187.5") and ars.body()["currency"] == "ARS"
    # The bitcoin service of the same till is not moved by USDT's rates.
    btc = await RateService(settings_for(url), "EUR", client).current()
    assert btc.rate == Decimal("61234.50")


async def test_usdt_rates_keep_the_staleness_guard_and_refuse_absurd_quotes(
    exchanges: tuple[RatesSim, str], client: httpx.AsyncClient
) -> None:
    exchange, url = exchanges
    clock = Clock()
    service = RateService(
        settings_for(url, refresh_s=60, max_age_s=300), "USD", client, asset="USDT", clock=clock
    )
    first = await service.current()
    assert first.rate == Decimal("1.0002")
    exchange.answer(kraken="0.001", bitstamp="0", coinbase=500, coingecko=500)
    clock.now += 299
    assert await service.current() is first
    clock.now += 2
    with pytest.raises(NoRate) as refused:
        await service.current()
    assert "per USDT is outside" in refused.value.failures["kraken"]
    assert "not a positive number" in refused.value.failures["bitstamp"]
    with pytest.raises(KeyError):
        RateService(settings_for(url), "EUR", client, asset="DOGE")
