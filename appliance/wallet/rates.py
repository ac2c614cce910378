"""Fiat ↔ BTC (or USDT) exchange rate from several public tickers: asked at once, median,
outliers dropped, cached, never used stale.

- **Sources** (``[rates] sources``): each is a URL on the exchange's public API and a small parser
  of its ticker JSON. Numbers are read as ``Decimal`` (``parse_float``/``parse_int``), never float.
  A source that does not answer within ``timeout_s``, answers other than 200, sends something that
  is not JSON or lacks the price, or quotes an absurd rate (:func:`appliance.core.btc.check_rate`)
  is left out and the reason kept for the log, the error (``NoRate.failures``) and, when a rate
  comes out anyway, its ``ExchangeRate.failed``.
- **Median with outliers dropped**: the median of all quotes is taken; a quote more than
  ``outlier_pct`` percent away from it is dropped; the rate is the median of the quotes left, if
  at least ``min_sources`` are left. Two sources that disagree by more than twice ``outlier_pct``
  therefore give no rate at all rather than their average: a sale waits for agreement.
- **Cache**: a rate is reused without asking again while younger than ``refresh_s``; when asking
  fails, the last rate is still used while younger than ``max_age_s``, never after. Age is
  measured on the monotonic clock (a Pi has no RTC; the wall clock may jump when NTP syncs);
  ``fetched_at`` (UTC wall clock) is only recorded for the journal.
- **No usable rate** raises :class:`NoRate`: the bitcoin payment is refused. There is no fallback
  rate, and rate 0 or 1 cannot come out of here (``check_rate`` refuses them per quote).
- **Assets** (``ASSETS``): the same sources quote bitcoin and Tether's USDT, each under its own
  ticker name; a ``RateService`` serves one asset and one currency, and a USDT quote is checked
  against USDT's plausible range (:func:`appliance.core.usdt.check_usdt_rate`). Not every
  exchange lists every pair (Kraken and Bitstamp quote USDT in USD, EUR and GBP only): a pair a
  source does not list is that source failing, so ``min_sources`` still applies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from appliance.config import RatesSettings, Settings
from appliance.core.btc import RateError, check_rate
from appliance.core.usdt import check_usdt_rate

log = logging.getLogger(__name__)


class RatesError(Exception):
    """Base of the exchange-rate errors."""


class SourceError(RatesError):
    """One source gave no usable quote; the message says why in a few words."""


class NoRate(RatesError):
    """No rate may be used now, so bitcoin payments are refused. ``failures`` maps each source
    that failed to why."""

    def __init__(self, reason: str, failures: Mapping[str, str] | None = None) -> None:
        self.reason = reason
        self.failures = dict(failures or {})
        detail = "; ".join(f"{name}: {why}" for name, why in sorted(self.failures.items()))
        super().__init__(f"No exchange rate: {reason}" + (f" ({detail})" if detail else ""))


def decimal_string(value: Decimal) -> str:
    """A Decimal as plain positional digits ("61234.5", never "6.12345E+4"), for the journal."""
    return format(value, "f")


@dataclass(frozen=True)
class Quote:
    source: str
    rate: Decimal

    def body(self) -> dict[str, str]:
        return {"source": self.source, "rate": decimal_string(self.rate)}


@dataclass(frozen=True)
class Asset:
    """What is priced, under the names the sources give it."""

    code: str  # BTC | USDT: Coinbase's and Bitstamp's name (lower case for Bitstamp)
    kraken: str  # Kraken's: XBT for bitcoin
    coingecko: str  # CoinGecko's coin id
    check: Callable[[Decimal], Decimal]  # refuses an absurd quote (RateError)


ASSETS: dict[str, Asset] = {
    "BTC": Asset("BTC", "XBT", "bitcoin", check_rate),
    "USDT": Asset("USDT", "USDT", "tether", check_usdt_rate),
}


@dataclass(frozen=True)
class ExchangeRate:
    """A rate a sale may lock: fiat major units of ``currency`` per BTC (or per USDT, from a
    USDT rate service)."""

    rate: Decimal
    currency: str
    fetched_at: datetime  # UTC wall clock, recorded, never compared
    quotes: tuple[Quote, ...]  # the quotes the median was taken over
    dropped: tuple[Quote, ...] = ()  # outliers left out
    monotonic_at: float = field(default=0.0, compare=False)  # when fetched, for the age
    # Sources that gave no quote in this round, and why (for the log and `bitagora doctor`; not
    # part of the rate lock).
    failed: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def age_s(self, now: float) -> float:
        return now - self.monotonic_at

    def body(self) -> dict[str, Any]:
        """The rate lock as the payment records carry it (docs/PROTOCOL.md, "Rate lock")."""
        return {
            "rate": decimal_string(self.rate),
            "currency": self.currency,
            "fetched_at": self.fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "sources": [q.body() for q in self.quotes],
            "dropped": [q.body() for q in self.dropped],
        }


# --- parsers of the public tickers --------------------------------------------------------------


def _number(value: Any, what: str) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except ArithmeticError:
            pass
    raise SourceError(f"{what} is not a number: {str(value)[:40]!r}")


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            raise SourceError(f"answer has no {'.'.join(path)}")
        data = data[key]
    return data


def parse_coingecko(data: Any, asset: Asset, currency: str) -> Decimal:
    """``/api/v3/simple/price?ids=bitcoin&vs_currencies=eur`` → ``{"bitcoin": {"eur": 61234.5}}``
    (``ids=tether`` for USDT)"""
    return _number(_get(data, asset.coingecko, currency.lower()), f"{asset.coingecko} price")


def parse_kraken(data: Any, asset: Asset, currency: str) -> Decimal:
    """``/0/public/Ticker?pair=XBTEUR`` → ``{"error": [], "result": {"XXBTZEUR": {"c": [last,
    volume], ...}}}``; the result's key is Kraken's own pair name, so the only entry is taken."""
    errors = _get(data, "error")
    if errors:
        raise SourceError(f"kraken says {str(errors)[:80]}")
    result = _get(data, "result")
    if not isinstance(result, dict) or len(result) != 1:
        raise SourceError("answer has not exactly one pair in result")
    (ticker,) = result.values()
    last = _get(ticker, "c")
    if not isinstance(last, list) or not last:
        raise SourceError("answer has no last trade price")
    return _number(last[0], "last trade price")


def parse_bitstamp(data: Any, asset: Asset, currency: str) -> Decimal:
    """``/api/v2/ticker/btceur/`` (``usdteur``) → ``{"last": "61234", "bid": ..., ...}``"""
    return _number(_get(data, "last"), "last price")


def parse_coinbase(data: Any, asset: Asset, currency: str) -> Decimal:
    """``/v2/prices/BTC-EUR/spot`` (``USDT-EUR``) → ``{"data": {"amount": "61234.56", "base":
    "BTC", "currency": "EUR"}}``"""
    quoted = _get(data, "data", "currency")
    base = _get(data, "data", "base")
    if quoted != currency or base != asset.code:
        raise SourceError(f"answer quotes {base}-{quoted}, not {asset.code}-{currency}")
    return _number(_get(data, "data", "amount"), "spot price")


@dataclass(frozen=True)
class SourceKind:
    base_url: str
    path: Callable[[Asset, str], str]
    parse: Callable[[Any, Asset, str], Decimal]


SOURCES: dict[str, SourceKind] = {
    "coingecko": SourceKind(
        "https://api.coingecko.com",
        lambda a, c: f"/api/v3/simple/price?ids={a.coingecko}&vs_currencies={c.lower()}",
        parse_coingecko,
    ),
    "kraken": SourceKind(
        "https://api.kraken.com", lambda a, c: f"/0/public/Ticker?pair={a.kraken}{c}", parse_kraken
    ),
    "bitstamp": SourceKind(
        "https://www.bitstamp.net",
        lambda a, c: f"/api/v2/ticker/{a.code.lower()}{c.lower()}/",
        parse_bitstamp,
    ),
    "coinbase": SourceKind(
        "https://api.coinbase.com",
        lambda a, c: f"/v2/prices/{a.code}-{c}/spot",
        parse_coinbase,
    ),
}


# --- the median ---------------------------------------------------------------------------------


def median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def combine(
    quotes: Sequence[Quote],
    outlier_pct: int,
    min_sources: int,
    check: Callable[[Decimal], Decimal] = check_rate,
) -> tuple[Decimal, tuple[Quote, ...], tuple[Quote, ...]]:
    """(rate, quotes used, quotes dropped) by the rule in the module docstring, or NoRate."""
    if not quotes:
        raise NoRate("no source answered")
    centre = median([q.rate for q in quotes])
    limit = centre * outlier_pct / 100
    used = tuple(q for q in quotes if abs(q.rate - centre) <= limit)
    dropped = tuple(q for q in quotes if abs(q.rate - centre) > limit)
    if len(used) < min_sources:
        raise NoRate(
            f"{len(used)} of {len(quotes)} quotes agree within {outlier_pct}%, {min_sources} needed"
        )
    return check(median([q.rate for q in used])), used, dropped


def _utcnow() -> datetime:
    return datetime.now(UTC)


class RateService:
    """The device's exchange rate for one currency, of bitcoin or (``asset="USDT"``) of USDT.
    ``client`` belongs to the caller (as in the uplink), so tests point sources at a local server
    through ``settings.base_urls``."""

    def __init__(
        self,
        settings: RatesSettings,
        currency: str,
        client: httpx.AsyncClient,
        *,
        asset: str = "BTC",
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.settings = settings
        self.currency = currency
        self.asset = ASSETS[asset]
        self.client = client
        self._clock = clock
        self._wall_clock = wall_clock
        overrides = settings.urls()
        self._urls = {
            name: overrides.get(name, SOURCES[name].base_url)
            + SOURCES[name].path(self.asset, currency)
            for name in settings.sources
        }
        self._cache: ExchangeRate | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls, settings: Settings, client: httpx.AsyncClient, asset: str = "BTC"
    ) -> RateService:
        """The device's rate service for ``asset``: ``[rates]`` for ``device.currency``."""
        return cls(settings.rates, settings.device.currency, client, asset=asset)

    def usable(self) -> ExchangeRate | None:
        """The cached rate if it is not older than ``max_age_s``, without asking anyone."""
        if self._cache and self._cache.age_s(self._clock()) <= self.settings.max_age_s:
            return self._cache
        return None

    async def current(self) -> ExchangeRate:
        """A rate no older than ``max_age_s`` (asking the sources when the cached one is older
        than ``refresh_s``), or :class:`NoRate`."""
        async with self._lock:  # one round of requests at a time; later callers get its result
            cached = self._cache
            if cached and cached.age_s(self._clock()) <= self.settings.refresh_s:
                return cached
            try:
                return await self._refresh()
            except NoRate as err:
                still = self.usable()
                if still is None:
                    raise
                log.warning("exchange rate refresh failed, using the last one: %s", err)
                return still

    async def refresh(self) -> ExchangeRate:
        """Ask every source now; the new rate replaces the cache, or :class:`NoRate`."""
        async with self._lock:
            return await self._refresh()

    async def _refresh(self) -> ExchangeRate:
        names = list(self._urls)
        started = self._clock()
        results = await asyncio.gather(*(self._quote(n) for n in names), return_exceptions=True)
        quotes: list[Quote] = []
        failures: dict[str, str] = {}
        for name, result in zip(names, results, strict=True):
            if isinstance(result, Quote):
                quotes.append(result)
            elif isinstance(result, SourceError):
                failures[name] = str(result)
            elif isinstance(result, Exception):  # odd data tripped a parser: still one source
                log.error("exchange rate source %s: unexpected failure", name, exc_info=result)
                failures[name] = f"failed ({type(result).__name__})"
            else:
                raise result  # a cancellation: not a source failing
        for name, why in failures.items():
            log.warning("exchange rate source failed", extra={"source": name, "reason": why})
        try:
            rate, used, dropped = combine(
                quotes, self.settings.outlier_pct, self.settings.min_sources, self.asset.check
            )
        except NoRate as err:
            raise NoRate(err.reason, failures) from None
        fresh = ExchangeRate(
            rate,
            self.currency,
            self._wall_clock(),
            used,
            dropped,
            monotonic_at=started,
            failed=tuple(sorted(failures.items())),
        )
        self._cache = fresh
        return fresh

    async def _quote(self, name: str) -> Quote:
        timeout = self.settings.timeout_s
        try:
            async with asyncio.timeout(timeout):
                response = await self.client.get(
                    self._urls[name], timeout=timeout, headers={"accept": "application/json"}
                )
        except (TimeoutError, httpx.TimeoutException):
            raise SourceError(f"no answer within {timeout} s") from None
        except httpx.HTTPError as err:
            raise SourceError(f"unreachable ({type(err).__name__})") from None
        if response.status_code != 200:
            raise SourceError(f"answered HTTP {response.status_code}")
        try:
            data = json.loads(response.content, parse_float=Decimal, parse_int=Decimal)
        except ValueError:
            raise SourceError("answer is not JSON") from None
        rate = SOURCES[name].parse(data, self.asset, self.currency)
        try:
            self.asset.check(rate)
        except RateError as err:
            raise SourceError(str(err)) from None
        return Quote(name, rate)
