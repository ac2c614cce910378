"""A local Bolt Card (LNURL-withdraw) service over HTTP, for the LNURL client's tests and the
till's card payments (no tests here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from http_helpers import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bitagora_devtools.sim.lightning import LightningSim

P = "4E2E289D945A66BB13377A728884E867"  # a Bolt Card's encrypted UID and counter
C = "E19CCB1FED8892CE"  # and its SUN CMAC


@dataclass
class CardService:
    """A Bolt Card service (like LNbits' boltcards extension): checks the card's p/c on the
    first GET, then pays the invoice handed to its callback. Fields change how it answers.

    ``pay``: how it pays a BOLT11 invoice (on a Lightning simulator); it is awaited before the
    callback answers OK, as LNbits does. None: the invoice is only recorded in ``callbacks``."""

    min_msat: int = 1_000
    max_msat: int = 100_000_000
    first: Any = None  # a body to answer the first GET with instead of the withdrawRequest
    callback_answer: Any = field(default_factory=lambda: {"status": "OK"})
    pay: Callable[[str], Awaitable[None]] | None = None
    hold: asyncio.Event = field(default_factory=asyncio.Event)
    taps: list[dict[str, str]] = field(default_factory=list)
    callbacks: list[dict[str, str]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def card(request: Request) -> Response:
            self.taps.append(dict(request.query_params))
            if self.first == "hold":
                await self.hold.wait()
            if self.first == "garbage":
                return Response("<h1>502 Bad Gateway</h1>", 502, media_type="text/html")
            if self.first is not None:
                return JSONResponse(self.first)
            if request.query_params.get("c") != C:
                return JSONResponse({"status": "ERROR", "reason": "card not recognised"}, 400)
            return JSONResponse(
                {
                    "tag": "withdrawRequest",
                    "callback": str(request.url_for("callback")) + "?session=s1",
                    "k1": "k1-" + request.query_params["p"],
                    "defaultDescription": "Bolt Card",
                    "minWithdrawable": self.min_msat,
                    "maxWithdrawable": self.max_msat,
                }
            )

        async def callback(request: Request) -> Response:
            self.callbacks.append(dict(request.query_params))
            if self.callback_answer == "hold":
                await self.hold.wait()
            if self.callback_answer == "garbage":
                return Response("ok", media_type="text/plain")
            if self.pay is not None and self.callback_answer == {"status": "OK"}:
                await self.pay(request.query_params["pr"])
            return JSONResponse(self.callback_answer)

        return Starlette(routes=[Route("/ln", card), Route("/ln/cb", callback, name="callback")])


def paying_on(node: LightningSim) -> Callable[[str], Awaitable[None]]:
    """How the card's service pays (``CardService.pay``): the invoice it was given, found on the
    Lightning simulator by its BOLT11."""

    async def pay(bolt11: str) -> None:
        (label,) = [label for label, inv in node.invoices.items() if inv.bolt11 == bolt11]
        await node.pay(label)

    return pay


@asynccontextmanager
async def card_link(service: CardService) -> AsyncIterator[str]:
    """Serve ``service`` on a local port; yields the link a tapped card gives (with p and c)."""
    async with serve(service.app(), hold=service.hold) as url:
        yield f"{url}/ln?p={P}&c={C}"
