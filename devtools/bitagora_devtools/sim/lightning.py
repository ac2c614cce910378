"""A Core Lightning node's invoice API: tests, the demo and ``bitagora sim lightning``.

It serves lightningd's JSON-RPC 2.0 on a unix socket the way lightningd does (requests are JSON
objects one after another with no framing; each answer is a JSON object followed by a blank line),
so pyln-client's ``LightningRpc`` talks to it unmodified. Optionally it serves the same methods the
way the clnrest plugin does: ``POST /v1/<method>`` with a JSON body and a ``Rune`` header, over
HTTP or HTTPS.

Methods: ``getinfo``, ``invoice``, ``listinvoices``, ``waitinvoice``, ``waitanyinvoice``
(``lastpay_index``, ``timeout``), ``delinvoice``; plus ``dev-sim-pay`` (``label``, optional
``amount_msat``) so a person trying the simulator by hand can pay an invoice. Invoices are real
BOLT11 strings signed with a random node key. Error codes are lightningd's: 900 duplicate label,
903 expired during wait, 904 wait timed out, 905 unknown invoice, 906 unexpected status, -32602
bad parameters, -32601 unknown method; clnrest answers a rune it refuses with HTTP 401 and code
1501 (not authorised) or 1502 (method not permitted by the rune).

Tests drive it with ``await pay(label)`` (status paid, the next ``pay_index``,
``amount_received_msat``, ``paid_at``; waiters wake), ``expire(label)`` (the invoice's expiry is
now) and ``await set_reachable(False)`` (the socket goes away: a stopped node).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coincurve

from bitagora_devtools.sim import bolt11

log = logging.getLogger(__name__)

DEFAULT_EXPIRY_S = 604800  # lightningd's default: one week

INVOICE_LABEL_ALREADY_EXISTS = 900
INVOICE_EXPIRED_DURING_WAIT = 903
INVOICE_WAIT_TIMED_OUT = 904
INVOICE_NOT_FOUND = 905
INVOICE_STATUS_UNEXPECTED = 906
RUNE_NOT_AUTHORIZED = 1501
RUNE_NOT_PERMITTED = 1502
INVALID_PARAMS = -32602
METHOD_NOT_FOUND = -32601

# Positional parameters, in lightningd's order, for callers that send a list.
_PARAMS: dict[str, tuple[str, ...]] = {
    "getinfo": (),
    "invoice": ("amount_msat", "label", "description", "expiry", "fallbacks", "preimage"),
    "listinvoices": ("label", "invstring", "payment_hash"),
    "waitinvoice": ("label",),
    "waitanyinvoice": ("lastpay_index", "timeout"),
    "delinvoice": ("label", "status", "desconly"),
    "dev-sim-pay": ("label", "amount_msat"),
}


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data

    def to_json(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass
class SimInvoice:
    label: str
    description: str
    amount_msat: int | None
    payment_hash: str
    payment_preimage: str
    payment_secret: str
    bolt11: str
    expires_at: int
    created_index: int
    status: str = "unpaid"
    pay_index: int | None = None
    amount_received_msat: int | None = None
    paid_at: int | None = None
    updated_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "label": self.label,
            "bolt11": self.bolt11,
            "payment_hash": self.payment_hash,
            "status": self.status,
            "description": self.description,
            "expires_at": self.expires_at,
            "created_index": self.created_index,
        }
        if self.amount_msat is not None:
            out["amount_msat"] = self.amount_msat
        if self.updated_index is not None:
            out["updated_index"] = self.updated_index
        if self.status == "paid":
            out.update(
                pay_index=self.pay_index,
                amount_received_msat=self.amount_received_msat,
                paid_at=self.paid_at,
                payment_preimage=self.payment_preimage,
            )
        return out


def _parse_msat(value: Any) -> int | None:
    """lightningd accepts an integer, "123msat", "123sat" or "any"."""
    if value == "any":
        return None
    if isinstance(value, bool):
        raise RpcFailure(INVALID_PARAMS, "amount_msat: should be a millisatoshi amount")
    if isinstance(value, int):
        msat = value
    elif isinstance(value, str) and value.endswith("msat") and value[:-4].isdigit():
        msat = int(value[:-4])
    elif isinstance(value, str) and value.endswith("sat") and value[:-3].isdigit():
        msat = int(value[:-3]) * 1000
    elif isinstance(value, str) and value.isdigit():
        msat = int(value)
    else:
        raise RpcFailure(INVALID_PARAMS, f"amount_msat: should be a millisatoshi amount: {value!r}")
    if msat <= 0:
        raise RpcFailure(INVALID_PARAMS, "amount_msat: must be greater than 0")
    return msat


@dataclass
class LightningSim:
    """The node's invoice state and its servers. ``clock`` gives the node's time in seconds."""

    network: str = "regtest"
    alias: str = "BITAGORA-SIM"
    clock: Callable[[], float] = time.time
    rune: str | None = None  # clnrest: the one rune it accepts (None: clnrest answers 401)
    rune_methods: frozenset[str] | None = None  # the methods that rune may call (None: all)
    node_key: coincurve.PrivateKey = field(default_factory=coincurve.PrivateKey)
    invoices: dict[str, SimInvoice] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)  # every method called, in order
    pay_index: int = 0
    created_index: int = 0
    updated_index: int = 0

    def __post_init__(self) -> None:
        self._changed = asyncio.Condition()
        self._socket_server: asyncio.Server | None = None
        self._socket_path: Path | None = None
        self._http_server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def node_id(self) -> str:
        return self.node_key.public_key.format().hex()

    @property
    def currency(self) -> str:
        return {"bitcoin": "bc", "testnet": "tb", "signet": "tbs", "regtest": "bcrt"}[self.network]

    # ---- state changes a test (or dev-sim-pay) makes -------------------------------------------

    async def pay(self, label: str, amount_msat: int | None = None) -> SimInvoice:
        """Settle an unpaid invoice, as an incoming HTLC set would; wakes every waiter."""
        inv = self._find(label)
        self._refresh(inv)
        if inv.status != "unpaid":
            raise RpcFailure(INVOICE_STATUS_UNEXPECTED, f"Invoice status is {inv.status}")
        received = amount_msat if amount_msat is not None else inv.amount_msat
        if received is None:
            raise RpcFailure(INVALID_PARAMS, "an 'any' invoice needs amount_msat to pay")
        self.pay_index += 1
        self.updated_index += 1
        inv.status, inv.pay_index, inv.paid_at = "paid", self.pay_index, int(self.clock())
        inv.amount_received_msat, inv.updated_index = received, self.updated_index
        await self._notify()
        return inv

    def expire(self, label: str) -> None:
        """Move an unpaid invoice's expiry to now."""
        inv = self._find(label)
        inv.expires_at = min(inv.expires_at, int(self.clock()))
        self._refresh(inv)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _find(self, label: str) -> SimInvoice:
        if label not in self.invoices:
            raise RpcFailure(INVOICE_NOT_FOUND, "Unknown invoice")
        return self.invoices[label]

    def _refresh(self, inv: SimInvoice) -> None:
        if inv.status == "unpaid" and self.clock() >= inv.expires_at:
            self.updated_index += 1
            inv.status, inv.updated_index = "expired", self.updated_index

    # ---- the RPC methods -----------------------------------------------------------------------

    async def dispatch(self, method: str, params: Any) -> Any:
        self.calls.append(method)
        if method not in _PARAMS:
            raise RpcFailure(METHOD_NOT_FOUND, f"Unknown command '{method}'")
        names = _PARAMS[method]
        if params is None:
            params = {}
        if isinstance(params, list):
            if len(params) > len(names):
                raise RpcFailure(INVALID_PARAMS, "too many parameters")
            params = dict(zip(names, params, strict=False))
        if not isinstance(params, dict):
            raise RpcFailure(INVALID_PARAMS, "params must be an object or an array")
        unknown = set(params) - set(names)
        if unknown:
            raise RpcFailure(INVALID_PARAMS, f"unknown parameter: {sorted(unknown)[0]}")
        handler = getattr(self, "rpc_" + method.replace("-", "_"))
        return await handler(**params)

    async def rpc_getinfo(self) -> dict[str, Any]:
        return {
            "id": self.node_id,
            "alias": self.alias,
            "color": "f7931a",
            "num_peers": 0,
            "num_pending_channels": 0,
            "num_active_channels": 0,
            "num_inactive_channels": 0,
            "address": [],
            "binding": [],
            "version": "v24.11-bitagora-sim",
            "blockheight": 800000,
            "network": self.network,
            "fees_collected_msat": 0,
            "lightning-dir": "/nonexistent/" + self.network,
        }

    async def rpc_invoice(
        self,
        amount_msat: Any = None,
        label: Any = None,
        description: Any = None,
        expiry: Any = None,
        fallbacks: Any = None,
        preimage: Any = None,
    ) -> dict[str, Any]:
        if amount_msat is None or label is None or description is None:
            raise RpcFailure(INVALID_PARAMS, "missing required parameter")
        msat = _parse_msat(amount_msat)
        label = str(label)
        if not isinstance(description, str):
            raise RpcFailure(INVALID_PARAMS, "description: should be a string")
        expiry_s = DEFAULT_EXPIRY_S if expiry is None else expiry
        if isinstance(expiry_s, bool) or not isinstance(expiry_s, int) or expiry_s <= 0:
            raise RpcFailure(INVALID_PARAMS, "expiry: should be a positive integer")
        if label in self.invoices:
            raise RpcFailure(INVOICE_LABEL_ALREADY_EXISTS, f"Duplicate label '{label}'")
        pre = bytes.fromhex(preimage) if isinstance(preimage, str) else secrets.token_bytes(32)
        payment_hash = hashlib.sha256(pre).digest()
        secret = secrets.token_bytes(32)
        now = int(self.clock())
        invstring = bolt11.encode(
            node_key=self.node_key,
            network=self.currency,
            amount_msat=msat,
            payment_hash=payment_hash,
            payment_secret=secret,
            description=description,
            timestamp=now,
            expiry_s=expiry_s,
        )
        self.created_index += 1
        inv = SimInvoice(
            label=label,
            description=description,
            amount_msat=msat,
            payment_hash=payment_hash.hex(),
            payment_preimage=pre.hex(),
            payment_secret=secret.hex(),
            bolt11=invstring,
            expires_at=now + expiry_s,
            created_index=self.created_index,
        )
        self.invoices[label] = inv
        return {
            "payment_hash": inv.payment_hash,
            "expires_at": inv.expires_at,
            "bolt11": inv.bolt11,
            "payment_secret": inv.payment_secret,
            "created_index": inv.created_index,
        }

    async def rpc_listinvoices(
        self, label: Any = None, invstring: Any = None, payment_hash: Any = None
    ) -> dict[str, Any]:
        found = []
        for inv in self.invoices.values():
            self._refresh(inv)
            if label is not None and inv.label != str(label):
                continue
            if invstring is not None and inv.bolt11 != invstring:
                continue
            if payment_hash is not None and inv.payment_hash != payment_hash:
                continue
            found.append(inv.to_json())
        return {"invoices": found}

    async def rpc_waitinvoice(self, label: Any = None) -> dict[str, Any]:
        if label is None:
            raise RpcFailure(INVALID_PARAMS, "missing required parameter: label")
        inv = self._find(str(label))
        async with self._changed:
            while True:
                self._refresh(inv)
                if inv.status == "paid":
                    return inv.to_json()
                if inv.status == "expired":
                    raise RpcFailure(
                        INVOICE_EXPIRED_DURING_WAIT, "invoice expired during wait", inv.to_json()
                    )
                timeout = max(0.0, inv.expires_at - self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout)

    async def rpc_waitanyinvoice(
        self,
        lastpay_index: Any = None,
        timeout: Any = None,  # noqa: ASYNC109 - lightningd's parameter name
    ) -> dict[str, Any]:
        after = 0 if lastpay_index is None else lastpay_index
        if isinstance(after, bool) or not isinstance(after, int) or after < 0:
            raise RpcFailure(INVALID_PARAMS, "lastpay_index: should be an unsigned integer")
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0
        ):
            raise RpcFailure(INVALID_PARAMS, "timeout: should be an unsigned integer")
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        async with self._changed:
            while True:
                paid = [
                    inv
                    for inv in self.invoices.values()
                    if inv.pay_index is not None and inv.pay_index > after
                ]
                if paid:
                    return min(paid, key=lambda inv: inv.pay_index or 0).to_json()
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    raise RpcFailure(INVOICE_WAIT_TIMED_OUT, "Timed out")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    async def rpc_delinvoice(
        self, label: Any = None, status: Any = None, desconly: Any = None
    ) -> dict[str, Any]:
        if label is None or status not in ("paid", "expired", "unpaid"):
            raise RpcFailure(INVALID_PARAMS, "label and status (paid, expired, unpaid) required")
        inv = self._find(str(label))
        self._refresh(inv)
        if inv.status != status:
            raise RpcFailure(
                INVOICE_STATUS_UNEXPECTED,
                f"Invoice status is {inv.status} not {status}",
                inv.to_json(),
            )
        if desconly:
            inv.description = ""
            return inv.to_json()
        del self.invoices[inv.label]
        return inv.to_json()

    async def rpc_dev_sim_pay(self, label: Any = None, amount_msat: Any = None) -> dict[str, Any]:
        msat = None if amount_msat is None else _parse_msat(amount_msat)
        return (await self.pay(str(label), msat)).to_json()

    # ---- JSON-RPC on a unix socket -------------------------------------------------------------

    async def start_socket(self, path: Path) -> None:
        """Listen on ``path`` as lightningd's ``lightning-rpc`` does (mode 0600)."""
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # noqa: ASYNC240 - a stale socket file, before serving starts
        self._socket_server = await asyncio.start_unix_server(self._serve_rpc, path=str(path))
        os.chmod(path, 0o600)
        self._socket_path = path

    async def set_reachable(self, reachable: bool) -> None:
        """Take the socket away (a stopped lightningd) or put it back at the same path."""
        if reachable and self._socket_server is None and self._socket_path is not None:
            await self.start_socket(self._socket_path)
        elif not reachable and self._socket_server is not None:
            await self._close_socket()

    async def _close_socket(self) -> None:
        server, self._socket_server = self._socket_server, None
        if server is not None:
            await self._stop_serving(server)
            if self._socket_path is not None:
                with contextlib.suppress(FileNotFoundError):
                    self._socket_path.unlink()

    def _track(self) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _serve_rpc(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        decoder = json.JSONDecoder()
        buffer = ""
        try:
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return
                buffer += chunk.decode("utf-8")
                while True:
                    buffer = buffer.lstrip()
                    if not buffer:
                        break
                    try:
                        request, end = decoder.raw_decode(buffer)
                    except json.JSONDecodeError:
                        break  # an incomplete object: read more
                    buffer = buffer[end:]
                    response = await self._answer(request)
                    writer.write(json.dumps(response).encode("utf-8") + b"\n\n")
                    await writer.drain()
        except (ConnectionError, UnicodeDecodeError):
            return
        except asyncio.CancelledError:
            return  # closing the simulator: end quietly (asyncio logs a cancelled handler)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            error = RpcFailure(-32600, "Invalid request")
            return {"jsonrpc": "2.0", "id": None, "error": error.to_json()}
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request.get("id")}
        try:
            answer["result"] = await self.dispatch(request["method"], request.get("params"))
        except RpcFailure as err:
            answer["error"] = err.to_json()
        return answer

    # ---- clnrest: POST /v1/<method> with a Rune header ----------------------------------------

    async def start_rest(
        self, host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> int:
        """Serve clnrest on ``host:port`` (HTTPS with ``tls``); returns the port."""
        self._http_server = await asyncio.start_server(self._serve_http, host, port, ssl=tls)
        return int(self._http_server.sockets[0].getsockname()[1])

    async def _serve_http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._track()
        try:
            while True:
                request_line = await reader.readline()
                if not request_line.strip():
                    return
                headers: dict[str, str] = {}
                while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = await self._rest(request_line.decode("latin-1"), headers, body)
                data = json.dumps(payload).encode("utf-8")
                head = (
                    f"HTTP/1.1 {status} {'OK' if status < 300 else 'Error'}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                )
                writer.write(head.encode("latin-1") + data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError, ssl.SSLError):
            return
        except asyncio.CancelledError:
            return  # closing the simulator: end quietly (asyncio logs a cancelled handler)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _rest(self, line: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        parts = line.split()
        if len(parts) < 2 or parts[0] != "POST" or not parts[1].startswith("/v1/"):
            return 404, {"code": -32601, "message": "Use POST /v1/<method>"}
        method = parts[1].removeprefix("/v1/")
        rune = headers.get("rune")
        if self.rune is None or rune != self.rune:
            return 401, {"code": RUNE_NOT_AUTHORIZED, "message": "Not authorized: Not derived"}
        if self.rune_methods is not None and method not in self.rune_methods:
            message = f"Not permitted: method is not equal to {sorted(self.rune_methods)[0]}"
            return 401, {"code": RUNE_NOT_PERMITTED, "message": message}
        try:
            params = json.loads(body) if body.strip() else {}
            return 201, await self.dispatch(method, params)
        except json.JSONDecodeError:
            return 400, {"code": -32700, "message": "body is not JSON"}
        except RpcFailure as err:
            return 500, err.to_json()

    async def close(self) -> None:
        await self._close_socket()
        server, self._http_server = self._http_server, None
        if server is not None:
            await self._stop_serving(server)

    async def _stop_serving(self, server: asyncio.Server) -> None:
        """Stop accepting, end the connections being served, and wait for the server to close."""
        server.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await server.wait_closed()


def _pay_index(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a pay_index (0 or more)")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", type=Path, required=True, help="unix socket to serve on")
    parser.add_argument(
        "--network",
        default="regtest",
        choices=("bitcoin", "testnet", "signet", "regtest"),
        help="the invoices' network (default regtest)",
    )
    parser.add_argument("--rest-port", type=int, default=0, help="also serve clnrest (HTTP)")
    parser.add_argument(
        "--pay-index",
        type=_pay_index,
        default=0,
        metavar="N",
        help="the last pay_index this node gave: the next payment gets N+1 (a real node keeps "
        "counting across restarts; the simulator forgets, so tell it where a till stopped)",
    )
    parser.add_argument(
        "--rune",
        default=os.environ.get("BITAGORA_SIM_RUNE"),
        help="the rune clnrest accepts (default $BITAGORA_SIM_RUNE)",
    )


async def serve(args: argparse.Namespace) -> None:
    sim = LightningSim(network=args.network, rune=args.rune, pay_index=args.pay_index)
    await sim.start_socket(args.socket)
    where = f"JSON-RPC on {args.socket}"
    if args.rest_port:
        await sim.start_rest(port=args.rest_port)
        where += f", clnrest on http://127.0.0.1:{args.rest_port}"
    print(f"Lightning node {sim.node_id} ({args.network}): {where}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.close()


def run(args: argparse.Namespace) -> int:
    asyncio.run(serve(args))
    return 0
