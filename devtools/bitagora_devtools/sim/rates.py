"""Every exchange's public ticker on one local server, at rates a test sets: tests and
``bitagora sim rates``.

It answers the paths ``appliance.wallet.rates.SOURCES`` asks, each in its exchange's own JSON
shape, so a ``RateService`` whose ``[rates] base_urls`` point every source at this server's root
works unmodified:

- Kraken ``GET /0/public/Ticker?pair=XBTEUR`` → ``{"error": [], "result": {"XXBTZEUR": {"c":
  ["61234.50000", "0.00120000"], ...}}}`` (prices as strings with five decimals);
- Bitstamp ``GET /api/v2/ticker/btceur/`` → ``{"last": "61234.50", "bid": ..., ...}``;
- Coinbase ``GET /v2/prices/BTC-EUR/spot`` → ``{"data": {"amount": "61234.50", "base": "BTC",
  "currency": "EUR"}}``;
- CoinGecko ``GET /api/v3/simple/price?ids=bitcoin&vs_currencies=eur`` → ``{"bitcoin": {"eur":
  61234.50}}`` (a JSON number, written from the Decimal's digits, never through a float).

USDT is quoted the same way under each exchange's name for it (Kraken ``pair=USDTEUR`` →
``{"USDTEUR": ...}``, Bitstamp ``usdteur``, Coinbase ``USDT-EUR``, CoinGecko ``ids=tether``), at
the USDT rates (``usdt_rates``, default USD 1.0002 and EUR 0.9213).

A currency without a rate is answered the way each exchange refuses a pair it does not list
(Kraken's ``EQuery:Unknown asset pair``, HTTP 404 from Bitstamp and Coinbase, an empty object from
CoinGecko), so the rate service has nothing to quote.

Driving it, from Python (``RatesSim``) or over HTTP (``bitagora sim rates`` prints the URL):

- ``set_rate(currency, rate, asset="BTC")`` (``POST /_sim/rate`` with ``{"currency", "rate"}``
  and optionally ``"asset": "USDT"``): every source quotes ``rate`` for ``currency``.
- ``answer(source=how)`` (``POST /_sim/rate`` with ``{"source", "rate"}`` or ``{"source",
  "fail"}``; ``{"source"}`` alone resets it): one source answers otherwise, until reset. ``how``
  is a rate (that source quotes it, in every currency: an outlier or an absurd quote), an HTTP
  status (``500``: it answers that, with an error body), ``"garbage"`` (an HTML maintenance page),
  ``"hold"`` (no answer until the source is reset or the server stops: a timeout) or, from
  Python, a dict (answered as the JSON body, e.g. a malformed ticker).
- ``hits[source]`` counts the requests each source received; ``GET /_sim/rate`` shows the state.

It needs Starlette and uvicorn (the ``central`` extra or the dev install); the device runs without.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from appliance.wallet.rates import ASSETS, SOURCES, Asset, decimal_string
from bitagora_devtools.sim.http_serve import run_http, serve_until_stopped

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request

FAILURES = ("garbage", "hold")
DEFAULT_RATES = {"EUR": Decimal("61234.50")}
DEFAULT_USDT_RATES = {"USD": Decimal("1.0002"), "EUR": Decimal("0.9213")}

# How one source answers instead of its ticker: a rate it quotes whatever the currency, an HTTP
# status, "garbage", "hold", or a JSON body.
Behaviour = Decimal | int | str | dict[str, Any]


def as_rate(value: Any) -> Decimal:
    """A rate from a control request or the command line: digits, never a float."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError(f"a rate is a decimal string like '61234.50', got {value!r}")
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"a rate is a decimal string like '61234.50', got {value!r}") from None
    if not rate.is_finite():
        raise ValueError(f"a rate is a finite number, got {value!r}")
    return rate


def ticker(source: str, rate: Decimal, asset: Asset, currency: str) -> str:
    """The JSON text ``source``'s public API answers for ``asset`` in ``currency`` at ``rate``."""
    price = decimal_string(rate)
    if source == "kraken":  # Kraken writes its XBT prices with five decimals
        last = decimal_string(rate.quantize(Decimal("0.00001")))
        pair = {"a": [price, "1", "1.000"], "c": [last, "0.00120000"], "v": ["1", "2"]}
        name = f"XXBTZ{currency}" if asset.code == "BTC" else f"{asset.kraken}{currency}"
        return json.dumps({"error": [], "result": {name: pair}})
    if source == "bitstamp":
        body = {"timestamp": "1764390000", "open": price, "high": price, "low": price}
        return json.dumps(body | {"last": price, "bid": price, "ask": price, "volume": "812.3"})
    if source == "coinbase":
        return json.dumps({"data": {"amount": price, "base": asset.code, "currency": currency}})
    if source == "coingecko":  # a JSON number: written from the digits, so no float rounds it
        coin = json.dumps(asset.coingecko)
        return "{" + coin + ": {" + json.dumps(currency.lower()) + ": " + price + "}}"
    raise ValueError(f"unknown source {source!r}")


def unknown_pair(source: str, asset: Asset, currency: str) -> tuple[int, str]:
    """(status, JSON text) of ``source`` asked for a currency it does not quote."""
    if source == "kraken":
        return 200, json.dumps({"error": ["EQuery:Unknown asset pair"]})
    if source == "bitstamp":
        return 404, json.dumps({"code": "404", "message": "Not Found"})
    if source == "coinbase":
        message = f"Invalid base or quote currency: {asset.code}-{currency}"
        return 404, json.dumps({"errors": [{"id": "not_found", "message": message}]})
    # CoinGecko: known coin, unknown vs_currency
    return 200, json.dumps({asset.coingecko: {}})


def pair_asked(source: str, request: Request) -> tuple[Asset | None, str]:
    """The asset (None: one the simulator does not quote) and currency (upper case) that
    ``source``'s ticker request asks for."""
    for asset in ASSETS.values():
        if source == "kraken":
            pair = request.query_params.get("pair", "")
            if pair.startswith(asset.kraken):
                return asset, pair.removeprefix(asset.kraken).upper()
        elif source == "bitstamp":
            pair = str(request.path_params["pair"])
            if pair.startswith(asset.code.lower()):
                return asset, pair.removeprefix(asset.code.lower()).upper()
        elif source == "coinbase":
            pair = str(request.path_params["pair"])
            if pair.startswith(f"{asset.code}-"):
                return asset, pair.removeprefix(f"{asset.code}-").upper()
        elif request.query_params.get("ids") == asset.coingecko:
            return asset, request.query_params.get("vs_currencies", "").upper()
    return None, ""


@dataclass
class RatesSim:
    rates: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_RATES))
    usdt_rates: dict[str, Decimal] = field(default_factory=lambda: dict(DEFAULT_USDT_RATES))
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    _held: dict[str, asyncio.Event] = field(default_factory=dict, repr=False)

    def set_rate(self, currency: str, rate: str | Decimal, asset: str = "BTC") -> None:
        if not (len(currency) == 3 and currency.isalpha()):
            raise ValueError(f"a currency is a three-letter code, got {currency!r}")
        if asset not in ASSETS:
            raise ValueError(f"an asset is one of {', '.join(ASSETS)}, got {asset!r}")
        self._rates_of(ASSETS[asset])[currency.upper()] = as_rate(rate)

    def _rates_of(self, asset: Asset) -> dict[str, Decimal]:
        return self.usdt_rates if asset.code == "USDT" else self.rates

    def answer(self, **how: Behaviour | None) -> None:
        """``answer(kraken=500, coinbase="6123.4")``: those sources answer so; ``None`` resets."""
        for source, behaviour in how.items():
            if source not in SOURCES:
                raise ValueError(f"unknown source {source!r} (one of {', '.join(SOURCES)})")
            if behaviour is None:
                self.behaviour.pop(source, None)
            elif isinstance(behaviour, bool):
                raise ValueError(f"{source}: {behaviour!r} is not a way to answer")
            elif isinstance(behaviour, int):
                if not 400 <= behaviour <= 599:
                    raise ValueError(f"{source}: a failure status is 400..599, got {behaviour}")
                self.behaviour[source] = behaviour
            elif isinstance(behaviour, dict) or behaviour in FAILURES:
                self.behaviour[source] = behaviour
            else:
                self.behaviour[source] = as_rate(behaviour)
            if self.behaviour.get(source) == "hold":
                self._held.setdefault(source, asyncio.Event())
            elif (held := self._held.pop(source, None)) is not None:
                held.set()  # requests waiting on it answer the new way now

    def release(self) -> None:
        """Let every held request go (answered 503): before the server stops."""
        for held in self._held.values():
            held.set()
        self._held.clear()

    def state(self) -> dict[str, Any]:
        def shown(how: Behaviour) -> Any:
            return decimal_string(how) if isinstance(how, Decimal) else how

        return {
            "rates": {currency: decimal_string(rate) for currency, rate in self.rates.items()},
            "usdt_rates": {c: decimal_string(rate) for c, rate in self.usdt_rates.items()},
            "sources": {s: shown(self.behaviour[s]) for s in SOURCES if s in self.behaviour},
            "hits": dict(self.hits),
        }

    def control(self, body: Mapping[str, Any]) -> None:
        """One ``POST /_sim/rate`` body (see the module doc)."""
        source = body.get("source")
        if source is None:
            if "currency" not in body or "rate" not in body:
                raise ValueError('give {"currency", "rate"}, or a "source"')
            self.set_rate(str(body["currency"]), body["rate"], str(body.get("asset", "BTC")))
        elif "fail" in body:
            fail = body["fail"]
            if not (fail is None or fail in FAILURES or type(fail) is int):
                raise ValueError(f'"fail" is an HTTP status, "garbage" or "hold", got {fail!r}')
            self.answer(**{str(source): fail})
        elif "rate" in body:
            self.answer(**{str(source): as_rate(body["rate"])})
        else:
            self.answer(**{str(source): None})

    def app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        def json_text(text: str, status_code: int = 200) -> Response:
            return Response(text, status_code=status_code, media_type="application/json")

        def handler(source: str) -> Any:
            async def ticker_endpoint(request: Request) -> Response:
                self.hits[source] = self.hits.get(source, 0) + 1
                how = self.behaviour.get(source)
                if how == "hold":
                    await self._held[source].wait()
                    how = self.behaviour.get(source)
                    if how == "hold":  # still held: the server is stopping
                        return json_text('{"error": "released"}', 503)
                asset, currency = pair_asked(source, request)
                if isinstance(how, int):
                    return JSONResponse({"error": "simulated failure"}, status_code=how)
                if how == "garbage":
                    return Response("<html>maintenance</html>", media_type="text/html")
                if isinstance(how, dict):
                    return JSONResponse(how)
                if asset is None:
                    asset, currency = ASSETS["BTC"], ""  # refused as an unknown pair
                rate = how if isinstance(how, Decimal) else self._rates_of(asset).get(currency)
                if rate is None:
                    status, text = unknown_pair(source, asset, currency)
                    return json_text(text, status)
                return json_text(ticker(source, rate, asset, currency))

            return ticker_endpoint

        async def control(request: Request) -> Response:
            if request.method == "POST":
                try:
                    body = await request.json() if await request.body() else {}
                    if not isinstance(body, dict):
                        raise ValueError("the body is a JSON object")
                    self.control(body)
                except (TypeError, ValueError) as err:
                    return JSONResponse({"error": str(err)}, status_code=400)
            return JSONResponse(self.state())

        return Starlette(
            routes=[
                Route("/0/public/Ticker", handler("kraken")),
                Route("/api/v2/ticker/{pair}/", handler("bitstamp")),
                Route("/v2/prices/{pair}/spot", handler("coinbase")),
                Route("/api/v3/simple/price", handler("coingecko")),
                Route("/_sim/rate", control, methods=["GET", "POST"]),
            ]
        )


def base_urls(url: str) -> list[str]:
    """``[rates] base_urls`` that point every source at this server."""
    return [f"{source}={url}" for source in SOURCES]


def parse_rate_arg(text: str) -> tuple[str, Decimal]:
    currency, sep, rate = text.partition("=")
    if not (sep and len(currency) == 3 and currency.isalpha()):
        raise argparse.ArgumentTypeError(f"{text!r} is not CUR=RATE, e.g. EUR=61234.50")
    try:
        return currency.upper(), as_rate(rate)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3003)
    parser.add_argument(
        "--rate",
        type=parse_rate_arg,
        action="append",
        metavar="CUR=RATE",
        help="a currency's rate, repeatable (default EUR=61234.50)",
    )


def run(args: argparse.Namespace) -> int:
    sim = RatesSim(rates=dict(args.rate) if args.rate else dict(DEFAULT_RATES))

    def announce(url: str) -> list[str]:
        rates = ", ".join(f"{c} {decimal_string(r)}" for c, r in sim.rates.items())
        return [
            f"rates simulator on {url} ({rates}); "
            'POST /_sim/rate {"currency","rate"} or {"source","rate"|"fail"}',
            f"BITAGORA_RATES_BASE_URLS='{'|'.join(base_urls(url))}'",
        ]

    return run_http(
        "the rates simulator",
        lambda start: serve_until_stopped(
            start, sim.app(), args.host, args.port, announce, on_stop=sim.release
        ),
    )
