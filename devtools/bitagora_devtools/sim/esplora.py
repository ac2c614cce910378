"""An Esplora HTTP API subset with a chain a test can drive: tests and `bitagora sim esplora`.

Serves what ``appliance.wallet.chain.EsploraSource`` uses, in Esplora's JSON shapes:
``GET /blocks/tip/height``, ``GET /address/:a/txs`` (mempool first, newest first, then the newest
25 confirmed), ``GET /address/:a/txs/chain/:last_txid`` (the next 25 confirmed),
``GET /tx/:txid/status`` and ``GET /tx/:txid``. An address that is not a valid Bitcoin address
is answered 400 ``Invalid Bitcoin address`` as Esplora does. A real Esplora serves one network and
answers a valid address of another 400 ``Address on invalid network``; so does the simulator when
given a ``network`` (mainnet, testnet, signet, regtest; ``None``, the default, takes them all).

Driving it, from Python (``EsploraSim``) or over HTTP (``bitagora sim esplora`` prints the URL):

- ``pay(address, sats, confirmations=0, rbf=False) -> txid`` (``POST /_sim/pay`` with JSON
  ``{"address", "sats", "confirmations", "rbf"}``): a transaction paying ``sats`` to the
  address, in the mempool or already ``confirmations`` deep; ``rbf`` sets input nSequence to
  0xfffffffd (BIP125 signal), otherwise 0xffffffff.
- ``mine(blocks=1)`` (``POST /_sim/mine`` with ``{"blocks"}``): the first block takes every
  mempool transaction.
- ``drop(txid)`` (``POST /_sim/drop`` with ``{"txid"}``): an unconfirmed transaction leaves the
  mempool unmined (replaced or evicted): the API no longer lists it and no block takes it.
- ``failing = 503`` (``POST /_sim/fail`` with ``{"status"}``, 0 to stop): every API request
  answers that status, for outage tests.

The same chain also answers Bitcoin Core's JSON-RPC (``bitagora_devtools.sim.bitcoind``,
``bitagora sim bitcoind``), so a test pays once and both chain sources see it.

It needs Starlette and uvicorn (the ``central`` extra, which the development tools require).
"""

from __future__ import annotations

import argparse
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from embit import base58
from embit.networks import NETWORKS

from appliance.wallet.descriptors import NETWORKS_BY_NAME
from bitagora_devtools.sim.http_serve import run_http, serve_until_stopped

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.routing import Route

PAGE = 25
MEMPOOL_PAGE = 50
SEQUENCE_RBF = 0xFFFFFFFD
SEQUENCE_FINAL = 0xFFFFFFFF


@dataclass
class SimTx:
    txid: str
    address: str
    sats: int
    rbf: bool
    height: int | None  # None = in the mempool
    order: int
    dropped: bool = False  # left the mempool unmined (replaced or evicted)

    def to_esplora(self) -> dict[str, Any]:
        change = hashlib.sha256(b"change" + self.txid.encode()).hexdigest()[:40]
        return {
            "txid": self.txid,
            "version": 2,
            "locktime": 0,
            "vin": [
                {
                    "txid": hashlib.sha256(b"prev" + self.txid.encode()).hexdigest(),
                    "vout": 0,
                    "is_coinbase": False,
                    "sequence": SEQUENCE_RBF if self.rbf else SEQUENCE_FINAL,
                }
            ],
            "vout": [
                {
                    "scriptpubkey_type": "unknown",
                    "scriptpubkey_address": self.address,
                    "value": self.sats,
                },
                {"scriptpubkey_type": "v0_p2wpkh", "scriptpubkey": "0014" + change, "value": 1000},
            ],
            "size": 222,
            "weight": 561,
            "fee": 141,
            "status": self.status(),
        }

    def status(self) -> dict[str, Any]:
        if self.height is None:
            return {"confirmed": False}
        block_hash = hashlib.sha256(f"block{self.height}".encode()).hexdigest()
        return {
            "confirmed": True,
            "block_height": self.height,
            "block_hash": block_hash,
            "block_time": 1_700_000_000 + self.height * 600,
        }


def on_network(address: str, network: str) -> bool:
    """Whether a valid ``address`` belongs to ``network`` (signet shares testnet's addresses; a
    regtest Esplora also takes testnet's base58 ones, as electrs does)."""
    params = NETWORKS[NETWORKS_BY_NAME[network]]
    hrp, sep, _ = address.lower().rpartition("1")
    if sep and hrp in {n["bech32"] for n in NETWORKS.values()}:
        return bool(hrp == params["bech32"])
    version = base58.decode_check(address)[:1]
    return version in (params["p2pkh"], params["p2sh"])


@dataclass
class EsploraSim:
    tip: int = 800_000
    network: str | None = None  # None: addresses of every network are taken
    failing: int = 0
    txs: dict[str, SimTx] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def pay(self, address: str, sats: int, confirmations: int = 0, rbf: bool = False) -> str:
        if sats <= 0 or confirmations < 0:
            raise ValueError("sats must be positive and confirmations not negative")
        order = len(self.txs)
        txid = hashlib.sha256(f"{address}:{sats}:{order}".encode()).hexdigest()
        height = None if confirmations == 0 else self.tip - confirmations + 1
        self.txs[txid] = SimTx(txid, address, sats, rbf, height, order)
        return txid

    def mine(self, blocks: int = 1) -> int:
        for _ in range(blocks):
            self.tip += 1
            for tx in self.txs.values():
                if tx.height is None and not tx.dropped:
                    tx.height = self.tip
        return self.tip

    def drop(self, txid: str) -> None:
        tx = self.txs[txid]
        if tx.height is not None:
            raise ValueError("a mined transaction cannot leave the mempool")
        tx.dropped = True

    def in_mempool(self, tx: SimTx) -> bool:
        return tx.height is None and not tx.dropped

    def address_txs(self, address: str, after: str | None = None) -> list[dict[str, Any]]:
        mine = [tx for tx in self.txs.values() if tx.address == address and not tx.dropped]
        confirmed = sorted(
            (tx for tx in mine if tx.height is not None),
            key=lambda tx: (tx.height, tx.order),
            reverse=True,
        )
        if after is not None:
            ids = [tx.txid for tx in confirmed]
            start = ids.index(after) + 1 if after in ids else len(ids)
            return [tx.to_esplora() for tx in confirmed[start : start + PAGE]]
        mempool = sorted((tx for tx in mine if tx.height is None), key=lambda tx: -tx.order)
        return [tx.to_esplora() for tx in mempool[:MEMPOOL_PAGE] + confirmed[:PAGE]]

    def app(self) -> Starlette:
        from starlette.applications import Starlette

        return Starlette(routes=self.routes())

    def routes(self) -> list[Route]:
        """The Esplora API and the ``/_sim/`` controls, for this app or one that adds to them."""
        from starlette.requests import Request
        from starlette.responses import JSONResponse, PlainTextResponse, Response
        from starlette.routing import Route

        def refuse() -> Response | None:
            if self.failing:
                return PlainTextResponse("simulated outage", status_code=self.failing)
            return None

        from embit.script import address_to_scriptpubkey

        def valid(address: str) -> bool:
            try:
                address_to_scriptpubkey(address)
            except Exception:
                return False
            return True

        async def tip(request: Request) -> Response:
            self.requests.append(request.url.path)
            return refuse() or PlainTextResponse(str(self.tip))

        async def address_txs(request: Request) -> Response:
            self.requests.append(request.url.path)
            address = request.path_params["address"]
            if (failure := refuse()) is not None:
                return failure
            if not valid(address):
                return PlainTextResponse("Invalid Bitcoin address", status_code=400)
            if self.network is not None and not on_network(address, self.network):
                return PlainTextResponse("Address on invalid network", status_code=400)
            return JSONResponse(self.address_txs(address, request.path_params.get("last")))

        async def tx(request: Request) -> Response:
            self.requests.append(request.url.path)
            if (failure := refuse()) is not None:
                return failure
            found = self.txs.get(request.path_params["txid"])
            if found is None or found.dropped:
                return PlainTextResponse("Transaction not found", status_code=404)
            if request.url.path.endswith("/status"):
                return JSONResponse(found.status())
            return JSONResponse(found.to_esplora())

        async def control(request: Request) -> Response:
            body = await request.json() if await request.body() else {}
            action = request.path_params["action"]
            try:
                if action == "pay":
                    txid = self.pay(
                        str(body["address"]),
                        int(body["sats"]),
                        int(body.get("confirmations", 0)),
                        bool(body.get("rbf", False)),
                    )
                    return JSONResponse({"txid": txid, "tip": self.tip})
                if action == "mine":
                    return JSONResponse({"tip": self.mine(int(body.get("blocks", 1)))})
                if action == "fail":
                    self.failing = int(body.get("status", 0))
                    return JSONResponse({"failing": self.failing})
                if action == "drop":
                    self.drop(str(body["txid"]))
                    return JSONResponse({"dropped": body["txid"]})
            except (KeyError, TypeError, ValueError) as err:
                return JSONResponse({"error": str(err)}, status_code=400)
            return JSONResponse({"error": f"unknown action {action}"}, status_code=404)

        return [
            Route("/blocks/tip/height", tip),
            Route("/address/{address}/txs", address_txs),
            Route("/address/{address}/txs/chain/{last}", address_txs),
            Route("/tx/{txid}/status", tx),
            Route("/tx/{txid}", tx),
            Route("/_sim/{action}", control, methods=["POST"]),
        ]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3002)
    parser.add_argument("--tip", type=int, default=800_000, help="starting block height")
    parser.add_argument(
        "--network",
        choices=tuple(NETWORKS_BY_NAME),
        default=None,
        help="refuse addresses of other networks, as a real Esplora does (default: take all)",
    )


def run(args: argparse.Namespace) -> int:
    sim = EsploraSim(tip=args.tip, network=args.network)

    def announce(url: str) -> list[str]:
        return [
            f"esplora simulator on {url} (tip {sim.tip}, {sim.network or 'any network'}); "
            'POST /_sim/pay {"address","sats","confirmations","rbf"}, /_sim/mine {"blocks"}'
        ]

    return run_http(
        "the Esplora simulator",
        lambda start: serve_until_stopped(start, sim.app(), args.host, args.port, announce),
    )
