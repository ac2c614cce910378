"""The TronGrid HTTP API subset that USDT-TRC20 payments use, over a chain tests can drive: tests,
the demo and `bitagora sim trongrid`.

Every API request must carry the ``TRON-PRO-API-KEY`` header with the simulator's key (TronGrid
answers a missing or unknown key 401 ``{"Error": "ApiKey not exists"}``); the key is never
printed. Served, in TronGrid's JSON shapes:

- ``GET /v1/accounts/:address/transactions/trc20`` with ``only_confirmed``/``only_unconfirmed``,
  ``only_to``, ``contract_address``, ``limit`` (1..200, default 20) and ``fingerprint`` (the
  next page, from the previous answer's ``meta.fingerprint``): TRC-20 transfers, newest first.
  Like TronGrid's index, it lists a transfer whose transaction failed; only the transaction's
  result says so. An address that is not a TRON address answers 400.
- ``POST /walletsolidity/gettransactioninfobyid`` ``{"value": txid}``: the solidified
  transaction's result (``receipt.result`` ``SUCCESS``, or ``REVERT`` with ``"result":
  "FAILED"``), or ``{}`` while it is not solidified.
- ``POST /wallet/getcontract`` ``{"value": contract, "visible": true}``: the token contract, or
  ``{}`` for an address that holds none.

Controls (``TronGridSim`` from Python, or ``POST /_sim/...`` without the key):

- ``pay(address, units, token=USDT, failed=False, solid=False) -> txid`` (``/_sim/pay`` with
  JSON ``{"address", "units", "token", "failed", "solid"}``): a transfer of ``units``
  (6-decimal units of the token) to the address, in a block not yet solidified unless ``solid``.
  ``token`` another contract: the wrong token; ``failed``: the transaction reverted.
- ``solidify()`` (``/_sim/solidify``): every transfer so far is solidified (confirmed).
- ``failing = 503`` (``/_sim/fail`` with ``{"status"}``, 0 to stop): every API request answers it.
- ``lagging = True`` (``/_sim/lag`` with ``{"on"}``): the solidity node is behind the index, so
  ``gettransactioninfobyid`` answers ``{}`` for transfers the listing shows solidified.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from appliance.wallet.tron import TronAddressError, check_address, hex_address
from bitagora_devtools.sim.http_serve import run_http, serve_until_stopped

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.routing import Route

USDT_MAINNET = "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"
# Another TRC-20 contract (USDC on TRON), for "the customer sent the wrong token".
OTHER_TOKEN = "TEkxiTehnzSmSe2XqrBj4w32RUN966rdz8"
TOKENS: dict[str, dict[str, Any]] = {
    USDT_MAINNET: {"symbol": "USDT", "name": "Tether USD", "decimals": 6},
    OTHER_TOKEN: {"symbol": "USDC", "name": "USD Coin", "decimals": 6},
}
PAYER = "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL"
MAX_LIMIT = 200


@dataclass
class SimTransfer:
    txid: str
    to: str
    units: int
    token: str
    failed: bool
    solid: bool
    block: int
    order: int

    def to_trongrid(self) -> dict[str, Any]:
        return {
            "transaction_id": self.txid,
            "token_info": {"address": self.token, **TOKENS[self.token]},
            "block_timestamp": 1_700_000_000_000 + self.block * 3000,
            "from": PAYER,
            "to": self.to,
            "type": "Transfer",
            "value": str(self.units),
        }

    def info(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": self.txid,
            "blockNumber": self.block,
            "blockTimeStamp": 1_700_000_000_000 + self.block * 3000,
            "contract_address": hex_address(self.token),
            "receipt": {"energy_usage_total": 14650, "result": "SUCCESS"},
        }
        if self.failed:
            found["receipt"]["result"] = "REVERT"
            found["result"] = "FAILED"
        return found


@dataclass
class TronGridSim:
    api_key: str = field(default_factory=lambda: secrets.token_hex(16))
    block: int = 60_000_000
    failing: int = 0
    lagging: bool = False
    transfers: dict[str, SimTransfer] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    keys_seen: list[str] = field(default_factory=list)  # what came in the header, for tests

    def pay(
        self,
        address: str,
        units: int,
        token: str = USDT_MAINNET,
        failed: bool = False,
        solid: bool = False,
    ) -> str:
        check_address(address)
        if units <= 0:
            raise ValueError("units must be positive")
        if token not in TOKENS:
            raise ValueError(f"unknown token contract {token}")
        order = len(self.transfers)
        self.block += 1
        txid = hashlib.sha256(f"{address}:{units}:{token}:{order}".encode()).hexdigest()
        self.transfers[txid] = SimTransfer(
            txid, address, units, token, failed, solid, self.block, order
        )
        return txid

    def solidify(self) -> int:
        for transfer in self.transfers.values():
            transfer.solid = True
        return len(self.transfers)

    def listing(self, address: str, query: dict[str, str]) -> list[SimTransfer]:
        found = [t for t in self.transfers.values() if t.to == address]
        if query.get("only_confirmed") == "true":
            found = [t for t in found if t.solid]
        if query.get("only_unconfirmed") == "true":
            found = [t for t in found if not t.solid]
        if contract := query.get("contract_address"):
            found = [t for t in found if t.token == contract]
        return sorted(found, key=lambda t: -t.order)

    def app(self) -> Starlette:
        from starlette.applications import Starlette

        return Starlette(routes=self.routes())

    def routes(self) -> list[Route]:
        from starlette.requests import Request
        from starlette.responses import JSONResponse, PlainTextResponse, Response
        from starlette.routing import Route

        def refuse(request: Request) -> Response | None:
            self.requests.append(request.url.path)
            given = request.headers.get("tron-pro-api-key", "")
            self.keys_seen.append(given)
            if self.failing:
                return PlainTextResponse("simulated outage", status_code=self.failing)
            if not secrets.compare_digest(given, self.api_key):
                return JSONResponse({"Error": "ApiKey not exists"}, status_code=401)
            return None

        async def trc20(request: Request) -> Response:
            if (failure := refuse(request)) is not None:
                return failure
            address = request.path_params["address"]
            try:
                check_address(address)
            except TronAddressError:
                return JSONResponse(
                    {"success": False, "error": "Invalid address", "statusCode": 400},
                    status_code=400,
                )
            query = dict(request.query_params)
            try:
                limit = int(query.get("limit", "20"))
                start = int(query.get("fingerprint", "0"))
            except ValueError:
                return JSONResponse({"success": False, "error": "bad query"}, status_code=400)
            if not 1 <= limit <= MAX_LIMIT:
                return JSONResponse({"success": False, "error": "bad limit"}, status_code=400)
            found = self.listing(address, query)
            page = found[start : start + limit]
            meta: dict[str, Any] = {"at": 1_700_000_000_000, "page_size": len(page)}
            if start + limit < len(found):
                meta["fingerprint"] = str(start + limit)
            data = [t.to_trongrid() for t in page]
            return JSONResponse({"data": data, "success": True, "meta": meta})

        async def transaction_info(request: Request) -> Response:
            if (failure := refuse(request)) is not None:
                return failure
            body = await request.json()
            found = self.transfers.get(str(body.get("value", "")))
            if found is None or not found.solid or self.lagging:
                return JSONResponse({})
            return JSONResponse(found.info())

        async def contract(request: Request) -> Response:
            if (failure := refuse(request)) is not None:
                return failure
            body = await request.json()
            token = TOKENS.get(str(body.get("value", "")))
            if token is None:
                return JSONResponse({})
            return JSONResponse(
                {
                    "origin_address": PAYER,
                    "contract_address": body["value"],
                    "name": str(token["name"]).replace(" ", ""),
                    "bytecode": "6080",
                }
            )

        async def control(request: Request) -> Response:
            body = await request.json() if await request.body() else {}
            action = request.path_params["action"]
            try:
                if action == "pay":
                    txid = self.pay(
                        str(body["address"]),
                        int(body["units"]),
                        str(body.get("token", USDT_MAINNET)),
                        bool(body.get("failed", False)),
                        bool(body.get("solid", False)),
                    )
                    return JSONResponse({"txid": txid})
                if action == "solidify":
                    return JSONResponse({"solidified": self.solidify()})
                if action == "fail":
                    self.failing = int(body.get("status", 0))
                    return JSONResponse({"failing": self.failing})
                if action == "lag":
                    self.lagging = bool(body.get("on", True))
                    return JSONResponse({"lagging": self.lagging})
            except (KeyError, TypeError, ValueError) as err:
                return JSONResponse({"error": str(err)}, status_code=400)
            return JSONResponse({"error": f"unknown action {action}"}, status_code=404)

        return [
            Route("/v1/accounts/{address}/transactions/trc20", trc20),
            Route("/walletsolidity/gettransactioninfobyid", transaction_info, methods=["POST"]),
            Route("/wallet/getcontract", contract, methods=["POST"]),
            Route("/_sim/{action}", control, methods=["POST"]),
        ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3007)
    parser.add_argument(
        "--api-key-file",
        default=None,
        help="the key clients must send (default: a random one, written to this file if named)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    sim = TronGridSim()
    if args.api_key_file:
        path = Path(args.api_key_file)
        if path.exists():
            sim.api_key = path.read_text().strip()
        else:
            path.write_text(sim.api_key + "\n")
            path.chmod(0o600)

    def announce(url: str) -> list[str]:
        return [
            f"trongrid simulator on {url} (USDT contract {USDT_MAINNET}); "
            'POST /_sim/pay {"address","units","token","failed","solid"}, /_sim/solidify'
        ]

    return run_http(
        "the TronGrid simulator",
        lambda start: serve_until_stopped(start, sim.app(), args.host, args.port, announce),
    )
