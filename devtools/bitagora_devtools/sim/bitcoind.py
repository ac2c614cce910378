"""Bitcoin Core's JSON-RPC over an ``EsploraSim``'s chain: tests and `bitagora sim bitcoind`.

``BitcoindSim(chain)`` answers what ``appliance.wallet.chain.BitcoinCoreSource`` calls, in Bitcoin
Core's shapes, about the same transactions the Esplora simulator serves: a test pays once and both
chain sources see it. ``POST /`` and ``POST /wallet/<name>`` take JSON-RPC: a ``"jsonrpc": "2.0"``
request is answered as Core 28+ does (HTTP 200, ``error`` or ``result``), any other as JSON-RPC 1.0
(an error with HTTP 500, 404 for an unknown method); ``legacy_errors`` answers every request the
1.0 way, as Core before 28 does. Amounts are JSON numbers with 8 decimals (``0.00002940``), as Core
writes them. The app also serves the chain's Esplora API and its ``/_sim/`` controls.

Methods: node ``getblockcount``, ``getblockchaininfo``, ``getmempoolentry``, ``loadwallet``,
``createwallet``; wallet ``getwalletinfo``, ``listdescriptors``,
``importdescriptors``, ``getaddressinfo``, ``listreceivedbyaddress``, ``gettransaction``. Positional
or named parameters. A wallet call on ``/`` goes to the one loaded wallet; none loaded is RPC
error -18, several -19; ``/wallet/<name>`` of a wallet not loaded is -18.

What Core's wallet does and the simulator does too, because the source depends on it:

- Wallets live on the node's "disk" (``wallets``) and are loaded or not (``loaded``).
- ``importdescriptors`` takes single-path ranged ``wpkh``/``sh(wpkh)``/``tr`` descriptors with a
  checksum and a key of the node's network; a BIP389 multipath one is refused, as Core before
  29.0 does. A descriptor already there keeps its history; its new range must include the old.
  A watch-only import into a wallet with private keys enabled fails.
- Timestamp ``"now"``: no rescan. A transaction that reached the mempool before the import is
  seen only if a block after the import takes it; one mined before, never.
- ``listreceivedbyaddress`` only lists addresses in the address book, and Core only puts a paid
  address there when its descriptor is active and external (receive).
- An unconfirmed transaction dropped from the mempool stays in the wallet at 0 confirmations,
  ``bip125-replaceable`` ``"unknown"`` (or ``"yes"`` if it signals), and ``getmempoolentry``
  says -5 ``Transaction not in mempool``.

Simplified: no keypool top-up (the range is what was imported), a widened range counts as imported
at the first import, no address labels, no ``hex`` in ``gettransaction``.

Switches for failure tests: ``chain.failing`` (every request answers that HTTP status),
``warmup`` (RPC error -28 with that text, as a starting node), ``forbidden`` (methods an
``rpcwhitelist`` denies: HTTP 403), ``bip125_field`` (False: no ``bip125-replaceable``, as Core
32 without ``-deprecatedrpc=bip125``), ``headers_ahead`` (initial block download),
``wallet_disabled`` (``disablewallet=1``), ``stall`` (requests wait for that event: a hung node).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embit.descriptor import Descriptor
from embit.descriptor.checksum import checksum as descriptor_checksum
from embit.networks import NETWORKS
from embit.script import address_to_scriptpubkey

from appliance.wallet.descriptors import NETWORKS_BY_NAME
from bitagora_devtools.sim.esplora import EsploraSim, SimTx, on_network
from bitagora_devtools.sim.http_serve import run_http, serve_until_stopped

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

CHAIN_NAMES = {"mainnet": "main", "testnet": "test", "signet": "signet", "regtest": "regtest"}
DEFAULT_RANGE_END = 999
EPOCH = 1_700_000_000

# Bitcoin Core's RPC error codes (src/rpc/protocol.h).
RPC_INVALID_REQUEST = -32600
RPC_METHOD_NOT_FOUND = -32601
RPC_MISC_ERROR = -1
RPC_WALLET_ERROR = -4
RPC_INVALID_ADDRESS_OR_KEY = -5
RPC_INVALID_PARAMETER = -8
RPC_WALLET_NOT_FOUND = -18
RPC_WALLET_NOT_SPECIFIED = -19
RPC_IN_WARMUP = -28
RPC_WALLET_ALREADY_LOADED = -35

# Each method's parameter names, in positional order.
NODE_METHODS: dict[str, tuple[str, ...]] = {
    "getblockcount": (),
    "getblockchaininfo": (),
    "getmempoolentry": ("txid",),
    "loadwallet": ("filename", "load_on_startup"),
    "createwallet": (
        "wallet_name",
        "disable_private_keys",
        "blank",
        "passphrase",
        "avoid_reuse",
        "descriptors",
        "load_on_startup",
        "external_signer",
    ),
}
WALLET_METHODS: dict[str, tuple[str, ...]] = {
    "getwalletinfo": (),
    "listdescriptors": ("private",),
    "importdescriptors": ("requests",),
    "getaddressinfo": ("address",),
    "listreceivedbyaddress": (
        "minconf",
        "include_empty",
        "include_watchonly",
        "address_filter",
        "include_immature_coinbase",
    ),
    "gettransaction": ("txid", "include_watchonly", "verbose"),
}


class RpcFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SimDescriptor:
    """One imported descriptor; addresses are derived as far as a lookup needs."""

    desc: str  # as imported, with its checksum
    network: str
    range_end: int  # inclusive
    active: bool
    internal: bool
    since_order: int  # transactions from this one on reached the wallet after the import
    since_tip: int  # and transactions mined above this height
    _derived: list[str] = field(default_factory=list)
    _parsed: Any = None

    def index_of(self, address: str) -> int | None:
        if address in self._derived:
            return self._derived.index(address)
        if self._parsed is None:
            self._parsed = Descriptor.from_string(self.desc.split("#")[0])
        params = NETWORKS[NETWORKS_BY_NAME[self.network]]
        while len(self._derived) <= self.range_end:
            derived = str(self._parsed.derive(len(self._derived)).address(params))
            self._derived.append(derived)
            if derived == address:
                return len(self._derived) - 1
        return None

    def sees(self, tx: SimTx) -> bool:
        return tx.order >= self.since_order or (
            tx.height is not None and tx.height > self.since_tip
        )

    def listing(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"desc": self.desc, "timestamp": EPOCH, "active": self.active}
        if self.active:
            entry["internal"] = self.internal
        return entry | {"range": [0, self.range_end], "next": 0, "next_index": 0}


@dataclass
class SimWallet:
    name: str
    private_keys: bool = False  # private_keys_enabled
    blank: bool = True
    descriptor_wallet: bool = True  # False: a legacy (BDB) wallet
    imported: list[SimDescriptor] = field(default_factory=list)

    def owner(self, address: str) -> tuple[SimDescriptor, int] | None:
        for desc in self.imported:
            index = desc.index_of(address)
            if index is not None:
                return desc, index
        return None


@dataclass
class BitcoindSim:
    chain: EsploraSim = field(default_factory=EsploraSim)
    logins: dict[str, str] = field(default_factory=lambda: {"bitagora": "sim-password"})
    cookie: tuple[str, str] | None = None  # the login in the .cookie file (write_cookie)
    wallets: dict[str, SimWallet] = field(default_factory=dict)
    loaded: list[str] = field(default_factory=list)
    legacy_errors: bool = False
    bip125_field: bool = True
    warmup: str | None = None
    forbidden: set[str] = field(default_factory=set)
    headers_ahead: int = 0
    wallet_disabled: bool = False  # run with disablewallet=1: no wallet methods at all
    stall: asyncio.Event | None = None  # set: every request waits for it (a hung node)
    calls: list[str] = field(default_factory=list)  # "method" or "method@wallet", authenticated

    @property
    def network(self) -> str:
        return self.chain.network or "mainnet"

    def write_cookie(self, path: Path) -> None:
        """A new cookie login, written to ``path`` as bitcoind does at each start."""
        self.cookie = ("__cookie__", secrets.token_hex(32))
        path.write_text(":".join(self.cookie), encoding="utf-8")
        path.chmod(0o600)

    # -- HTTP ------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.routing import Route

        return Starlette(
            routes=[
                Route("/", self._http, methods=["POST"]),
                Route("/wallet/{wallet}", self._http, methods=["POST"]),
                *self.chain.routes(),
            ]
        )

    async def _http(self, request: Request) -> Response:
        from starlette.responses import PlainTextResponse, Response

        if self.stall is not None:
            await self.stall.wait()
        if self.chain.failing:
            return PlainTextResponse("simulated outage", status_code=self.chain.failing)
        if not self._authorized(request.headers.get("authorization", "")):
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
        try:
            call = json.loads(await request.body(), parse_float=Decimal)
        except ValueError:
            return self._reply(None, None, RpcFault(-32700, "Parse error"), False)
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            fault = RpcFault(RPC_INVALID_REQUEST, "Invalid Request object")
            return self._reply(None, None, fault, False)
        method, wallet = call["method"], request.path_params.get("wallet")
        modern = call.get("jsonrpc") == "2.0" and not self.legacy_errors
        if method in self.forbidden:
            return Response(status_code=403)
        self.calls.append(f"{method}@{wallet}" if wallet else method)
        try:
            result = self._dispatch(method, call.get("params"), wallet)
        except RpcFault as fault:
            return self._reply(call.get("id"), None, fault, modern)
        return self._reply(call.get("id"), result, None, modern)

    def _authorized(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme != "Basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if self.cookie is not None and (user, password) == self.cookie:
            return True
        return user in self.logins and secrets.compare_digest(self.logins[user], password)

    def _reply(self, id_: Any, result: Any, fault: RpcFault | None, modern: bool) -> Response:
        from starlette.responses import Response

        error = None if fault is None else {"code": fault.code, "message": fault.message}
        status = 200
        if modern:
            body: dict[str, Any] = {"jsonrpc": "2.0", "id": id_}
            body |= {"result": result} if error is None else {"error": error}
        else:
            body = {"result": result, "error": error, "id": id_}
            if fault is not None:
                status = {RPC_INVALID_REQUEST: 400, RPC_METHOD_NOT_FOUND: 404}.get(fault.code, 500)
        return Response(_dumps(body) + "\n", status, media_type="application/json")

    def _dispatch(self, method: str, params: Any, wallet_name: str | None) -> Any:
        if self.warmup is not None:
            raise RpcFault(RPC_IN_WARMUP, self.warmup)
        if self.wallet_disabled and (method in WALLET_METHODS or "wallet" in method):
            raise RpcFault(RPC_METHOD_NOT_FOUND, "Method not found")
        if method in NODE_METHODS:
            args = _named(method, NODE_METHODS[method], params)
            handler: Callable[..., Any] = getattr(self, f"_{method}")
            return handler(**args)
        if method in WALLET_METHODS:
            args = _named(method, WALLET_METHODS[method], params)
            return getattr(self, f"_{method}")(self._wallet(wallet_name), **args)
        raise RpcFault(RPC_METHOD_NOT_FOUND, "Method not found")

    def _wallet(self, name: str | None) -> SimWallet:
        if name is None:
            if not self.loaded:
                raise RpcFault(
                    RPC_WALLET_NOT_FOUND,
                    "No wallet is loaded. Load a wallet using loadwallet or create a new one with "
                    "createwallet. (Note: A default wallet is no longer automatically created)",
                )
            if len(self.loaded) > 1:
                raise RpcFault(
                    RPC_WALLET_NOT_SPECIFIED,
                    "Wallet file not specified (must request wallet RPC through "
                    "/wallet/<filename> uri-path).",
                )
            name = self.loaded[0]
        if name not in self.loaded:
            raise RpcFault(RPC_WALLET_NOT_FOUND, "Requested wallet does not exist or is not loaded")
        return self.wallets[name]

    # -- node methods ----------------------------------------------------------------------------

    def _getblockcount(self) -> int:
        return self.chain.tip

    def _getblockchaininfo(self) -> dict[str, Any]:
        tip = self.chain.tip
        return {
            "chain": CHAIN_NAMES[self.network],
            "blocks": tip,
            "headers": tip + self.headers_ahead,
            "bestblockhash": hashlib.sha256(f"block{tip}".encode()).hexdigest(),
            "time": EPOCH + tip * 600,
            "mediantime": EPOCH + tip * 600 - 3000,
            "verificationprogress": Decimal("0.5") if self.headers_ahead else Decimal(1),
            "initialblockdownload": self.headers_ahead > 0,
            "pruned": False,
            "warnings": [],
        }

    def _getmempoolentry(self, txid: str) -> dict[str, Any]:
        tx = self.chain.txs.get(txid)
        if tx is None or not self.chain.in_mempool(tx):
            raise RpcFault(RPC_INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
        fee = Decimal("0.00000141")
        entry: dict[str, Any] = {
            "vsize": 141,
            "weight": 561,
            "time": EPOCH + tx.order,
            "height": self.chain.tip,
            "descendantcount": 1,
            "descendantsize": 141,
            "ancestorcount": 1,
            "ancestorsize": 141,
            "wtxid": tx.txid,
            "fees": {"base": fee, "modified": fee, "ancestor": fee, "descendant": fee},
            "depends": [],
            "spentby": [],
            "unbroadcast": False,
        }
        if self.bip125_field:
            entry["bip125-replaceable"] = tx.rbf
        return entry

    def _loadwallet(self, filename: str, load_on_startup: bool | None = None) -> dict[str, Any]:
        if filename not in self.wallets:
            raise RpcFault(
                RPC_WALLET_NOT_FOUND,
                f"Wallet file verification failed. Failed to load database path "
                f"'/sim/wallets/{filename}'. Path does not exist.",
            )
        if filename in self.loaded:
            raise RpcFault(RPC_WALLET_ALREADY_LOADED, f'Wallet "{filename}" is already loaded.')
        self.loaded.append(filename)
        return {"name": filename, "warnings": []}

    def _createwallet(
        self,
        wallet_name: str,
        disable_private_keys: bool = False,
        blank: bool = False,
        passphrase: str = "",
        avoid_reuse: bool = False,
        descriptors: bool = True,
        load_on_startup: bool | None = None,
        external_signer: bool = False,
    ) -> dict[str, Any]:
        if wallet_name in self.wallets:
            raise RpcFault(
                RPC_WALLET_ERROR,
                f"Wallet file verification failed. Failed to create database path "
                f"'/sim/wallets/{wallet_name}'. Database already exists.",
            )
        if not descriptors:
            raise RpcFault(RPC_WALLET_ERROR, "Legacy wallets can no longer be created")
        self.wallets[wallet_name] = SimWallet(wallet_name, not disable_private_keys, blank)
        self.loaded.append(wallet_name)
        return {"name": wallet_name, "warnings": []}

    # -- wallet methods --------------------------------------------------------------------------

    def _getwalletinfo(self, wallet: SimWallet) -> dict[str, Any]:
        return {
            "walletname": wallet.name,
            "walletversion": 169900,
            "format": "sqlite" if wallet.descriptor_wallet else "bdb",
            "txcount": len(self._visible(wallet)),
            "keypoolsize": 0,
            "private_keys_enabled": wallet.private_keys,
            "avoid_reuse": False,
            "scanning": False,
            "descriptors": wallet.descriptor_wallet,
            "external_signer": False,
            "blank": wallet.blank,
        }

    def _listdescriptors(self, wallet: SimWallet, private: bool = False) -> dict[str, Any]:
        return {"wallet_name": wallet.name, "descriptors": [d.listing() for d in wallet.imported]}

    def _importdescriptors(self, wallet: SimWallet, requests: Any) -> list[dict[str, Any]]:
        if not isinstance(requests, list):
            raise RpcFault(RPC_MISC_ERROR, "Expected type array for requests")
        results = []
        for request in requests:
            try:
                self._import_one(wallet, request)
            except RpcFault as fault:
                error = {"code": fault.code, "message": fault.message}
                results.append({"success": False, "error": error})
            else:
                results.append({"success": True})
        return results

    def _import_one(self, wallet: SimWallet, request: Any) -> None:
        if not isinstance(request, dict) or not isinstance(request.get("desc"), str):
            raise RpcFault(RPC_INVALID_PARAMETER, "Descriptor not found.")
        if "timestamp" not in request:
            raise RpcFault(RPC_INVALID_PARAMETER, "Missing required timestamp field for key")
        if wallet.private_keys:
            raise RpcFault(
                RPC_WALLET_ERROR,
                "Cannot import descriptor without private keys to a wallet with private keys "
                "enabled",
            )
        desc = request["desc"]
        body, sep, given = desc.partition("#")
        if not sep:
            raise RpcFault(RPC_INVALID_ADDRESS_OR_KEY, "Missing checksum")
        if "<" in body:
            raise RpcFault(
                RPC_INVALID_ADDRESS_OR_KEY, "Key path value '<0;1>' is not a valid uint32"
            )
        if descriptor_checksum(body) != given:
            raise RpcFault(
                RPC_INVALID_ADDRESS_OR_KEY,
                f"Provided checksum '{given}' does not match computed checksum "
                f"'{descriptor_checksum(body)}'",
            )
        keys = re.findall(r"[xt]pub[1-9A-HJ-NP-Za-km-z]+", body)
        wanted = "xpub" if self.network == "mainnet" else "tpub"
        if not keys or any(not key.startswith(wanted) for key in keys):
            raise RpcFault(
                RPC_INVALID_ADDRESS_OR_KEY, f"key '{keys[0] if keys else body}' is not valid"
            )
        try:
            Descriptor.from_string(body)
        except Exception:
            raise RpcFault(RPC_INVALID_ADDRESS_OR_KEY, "Invalid descriptor") from None
        span = request.get("range", DEFAULT_RANGE_END)
        end = span[1] if isinstance(span, list) else span
        active, internal = bool(request.get("active")), bool(request.get("internal"))
        for existing in wallet.imported:
            if existing.desc.split("#")[0] == body:
                if end < existing.range_end:
                    raise RpcFault(
                        RPC_INVALID_PARAMETER,
                        f"new range must include current range = [0,{existing.range_end}]",
                    )
                existing.range_end, existing.active, existing.internal = end, active, internal
                break
        else:
            now = request["timestamp"] == "now"
            wallet.imported.append(
                SimDescriptor(
                    desc,
                    self.network,
                    end,
                    active,
                    internal,
                    since_order=len(self.chain.txs) if now else 0,
                    since_tip=self.chain.tip if now else -1,
                )
            )
        if active:  # one active descriptor per script type and branch
            head = body.split("(")[0]
            for other in wallet.imported:
                if other.desc.split("#")[0] != body and other.desc.split("(")[0] == head:
                    if other.internal == internal:
                        other.active = False

    def _getaddressinfo(self, wallet: SimWallet, address: str) -> dict[str, Any]:
        script = self._script(address, "Invalid address")
        owner = wallet.owner(address)
        info: dict[str, Any] = {
            "address": address,
            "scriptPubKey": script,
            "ismine": owner is not None,
            "solvable": owner is not None,
            "iswatchonly": False,
            "isscript": address[:1] in ("3", "2"),
            "iswitness": script.startswith(("00", "51")),
            "ischange": owner is not None and owner[0].internal,
            "labels": [],
        }
        if owner is not None:
            info["parent_desc"] = owner[0].desc
        return info

    def _listreceivedbyaddress(
        self,
        wallet: SimWallet,
        minconf: int = 1,
        include_empty: bool = False,
        include_watchonly: bool = True,
        address_filter: str | None = None,
        include_immature_coinbase: bool = False,
    ) -> list[dict[str, Any]]:
        rows = []
        addresses = {tx.address for tx in self._visible(wallet)}
        if address_filter is not None:
            self._script(address_filter, "address_filter parameter was invalid", RPC_WALLET_ERROR)
            addresses &= {address_filter}
        for address in sorted(addresses):
            owner = wallet.owner(address)
            if owner is None or not owner[0].active or owner[0].internal:
                continue  # not in the address book: Core adds paid addresses of active receive
            txs = [
                tx
                for tx in self._visible(wallet)
                if tx.address == address and self._confirmations(tx) >= minconf
            ]
            if not txs and not include_empty:
                continue
            rows.append(
                {
                    "address": address,
                    "amount": _btc(sum(tx.sats for tx in txs)),
                    "confirmations": min((self._confirmations(tx) for tx in txs), default=0),
                    "label": "",
                    "txids": [tx.txid for tx in txs],
                }
            )
        return rows

    def _gettransaction(
        self, wallet: SimWallet, txid: str, include_watchonly: bool = True, verbose: bool = False
    ) -> dict[str, Any]:
        tx = next((t for t in self._visible(wallet) if t.txid == txid), None)
        if tx is None:
            raise RpcFault(RPC_INVALID_ADDRESS_OR_KEY, "Invalid or non-wallet transaction id")
        confirmations = self._confirmations(tx)
        answer: dict[str, Any] = {"amount": _btc(tx.sats), "confirmations": confirmations}
        if tx.height is not None:
            answer |= {
                "blockhash": hashlib.sha256(f"block{tx.height}".encode()).hexdigest(),
                "blockheight": tx.height,
                "blockindex": 1,
                "blocktime": EPOCH + tx.height * 600,
            }
        else:
            answer["trusted"] = False
        answer |= {
            "txid": tx.txid,
            "wtxid": tx.txid,
            "walletconflicts": [],
            "time": EPOCH + tx.order,
            "timereceived": EPOCH + tx.order,
        }
        if self.bip125_field:
            if confirmations > 0:
                answer["bip125-replaceable"] = "no"
            elif tx.rbf:
                answer["bip125-replaceable"] = "yes"
            else:
                answer["bip125-replaceable"] = "no" if self.chain.in_mempool(tx) else "unknown"
        answer["details"] = [
            {
                "address": tx.address,
                "category": "receive",
                "amount": _btc(tx.sats),
                "label": "",
                "vout": 0,
            }
        ]
        if verbose:
            esplora = tx.to_esplora()
            answer["decoded"] = {
                "txid": tx.txid,
                "hash": tx.txid,
                "version": esplora["version"],
                "size": esplora["size"],
                "vsize": 141,
                "weight": esplora["weight"],
                "locktime": esplora["locktime"],
                "vin": [
                    {"txid": vin["txid"], "vout": vin["vout"], "sequence": vin["sequence"]}
                    for vin in esplora["vin"]
                ],
                "vout": [
                    {
                        "value": _btc(out["value"]),
                        "n": n,
                        "scriptPubKey": {"address": out["scriptpubkey_address"]}
                        if "scriptpubkey_address" in out
                        else {"hex": out["scriptpubkey"]},
                    }
                    for n, out in enumerate(esplora["vout"])
                ],
            }
        return answer

    # -- the wallet's view of the chain ----------------------------------------------------------

    def _visible(self, wallet: SimWallet) -> list[SimTx]:
        """The chain's transactions this wallet has seen: paying one of its addresses, arriving
        after that address's descriptor was imported."""
        seen = []
        for tx in self.chain.txs.values():
            owner = wallet.owner(tx.address)
            if owner is not None and owner[0].sees(tx):
                seen.append(tx)
        return seen

    def _confirmations(self, tx: SimTx) -> int:
        return 0 if tx.height is None else self.chain.tip - tx.height + 1

    def _script(self, address: str, message: str, code: int = RPC_INVALID_ADDRESS_OR_KEY) -> str:
        try:
            script = address_to_scriptpubkey(address)
        except Exception:
            raise RpcFault(code, message) from None
        if not on_network(address, self.network):
            raise RpcFault(code, message)
        return str(script.data.hex())


def _named(method: str, names: tuple[str, ...], params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if isinstance(params, list):
        if len(params) > len(names):
            raise RpcFault(RPC_MISC_ERROR, f"{method}: too many parameters")
        return dict(zip(names, params, strict=False))
    if isinstance(params, dict):
        for name in params:
            if name not in names:
                raise RpcFault(RPC_INVALID_PARAMETER, f"Unknown named parameter {name}")
        return dict(params)
    raise RpcFault(RPC_INVALID_REQUEST, "Params must be an array or object")


def _btc(sats: int) -> Decimal:
    return (Decimal(sats) / 100_000_000).quantize(Decimal("0.00000001"))


def _dumps(value: Any) -> str:
    """JSON with ``Decimal`` amounts written as numbers (``0.00002940``), as Core writes them."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_dumps(v) for v in value) + "]"
    return json.dumps(value)


# -- `bitagora sim bitcoind` -------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3004)
    parser.add_argument("--tip", type=int, default=800_000, help="starting block height")
    parser.add_argument(
        "--network",
        choices=tuple(NETWORKS_BY_NAME),
        default="mainnet",
        help="the node's chain (default mainnet)",
    )
    parser.add_argument("--rpc-user", default="bitagora", help="the JSON-RPC login's user")
    parser.add_argument(
        "--rpc-password", default="", help="its password (default: a random one, printed)"
    )
    parser.add_argument(
        "--cookie",
        type=Path,
        default=None,
        help="also write a cookie login to this file, as bitcoind does (removed at exit)",
    )


def run(args: argparse.Namespace) -> int:
    password = args.rpc_password or secrets.token_urlsafe(12)
    sim = BitcoindSim(
        EsploraSim(tip=args.tip, network=args.network), logins={args.rpc_user: password}
    )

    def announce(url: str) -> list[str]:
        cookie = f", cookie {args.cookie}" if args.cookie is not None else ""
        return [
            f"bitcoind simulator on {url} (tip {sim.chain.tip}, {sim.network}); "
            f"JSON-RPC login {args.rpc_user}:{password}{cookie}; the same chain's Esplora API and "
            'POST /_sim/pay {"address","sats","confirmations","rbf"}, /_sim/mine {"blocks"} there '
            "too"
        ]

    if args.cookie is not None:
        sim.write_cookie(args.cookie)
    try:
        return run_http(
            "the bitcoind simulator",
            lambda start: serve_until_stopped(start, sim.app(), args.host, args.port, announce),
        )
    finally:
        if args.cookie is not None:
            with contextlib.suppress(FileNotFoundError):
                args.cookie.unlink()
