"""Lightning node clients: one ``LightningNode`` interface, two ways to reach Core Lightning.

- ``SocketNode``: lightningd's JSON-RPC on its unix socket through pyln-client's ``LightningRpc``.
  pyln-client blocks, so every call runs in a worker thread; ``waitanyinvoice`` is asked with a
  short ``timeout`` in a loop, so a waiting task can be cancelled within one chunk.
- ``ClnRestNode``: the clnrest plugin over HTTPS (``POST /v1/<method>``, ``Rune`` header), the
  server's certificate checked against a configured CA file.

The till only ever needs the invoice methods: ``invoice``, ``listinvoices``, ``waitanyinvoice``
and ``delinvoice`` (plus ``getinfo`` for the doctor). Errors come as ``LightningError`` subclasses
with messages a person can act on; the rune never appears in one, nor in a log line.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from pyln.client import LightningRpc, RpcError

from appliance.config import LightningSettings

log = logging.getLogger(__name__)

# lightningd's error codes (common/jsonrpc_errors.h) that the till acts on.
INVOICE_LABEL_ALREADY_EXISTS = 900
INVOICE_PREIMAGE_ALREADY_EXISTS = 901
INVOICE_EXPIRED_DURING_WAIT = 903
INVOICE_WAIT_TIMED_OUT = 904
INVOICE_NOT_FOUND = 905
INVOICE_STATUS_UNEXPECTED = 906
RUNE_NOT_AUTHORIZED = 1501
RUNE_NOT_PERMITTED = 1502

LABEL_PREFIX = "bitagora-"


def sale_label(sale_id: str) -> str:
    """The invoice label of a sale: the node's unique key for it."""
    return LABEL_PREFIX + sale_id


class LightningError(Exception):
    """Something went wrong talking to the Lightning node; the message says what to do."""


class NodeUnreachable(LightningError):
    """The node does not answer: not running, wrong socket path or URL, network down, TLS."""


class RuneRefused(LightningError):
    """clnrest refused the rune: wrong or revoked, or not allowed this method."""


class LabelExists(LightningError):
    """An invoice with this label exists already (this sale has an invoice)."""


class InvoiceNotFound(LightningError):
    """The node has no invoice with this label."""


class InvoiceNotUnpaid(LightningError):
    """The invoice is no longer unpaid (paid or expired), so it was left alone."""

    def __init__(self, message: str, status: str) -> None:
        super().__init__(message)
        self.status = status


class NodeRejected(LightningError):
    """The node answered a call with an error the till has no special handling for."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        super().__init__(f"the Lightning node refused {method}: {message} (code {code})")
        self.method, self.code = method, code


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    alias: str
    network: str
    version: str
    blockheight: int


@dataclass(frozen=True)
class Invoice:
    bolt11: str
    payment_hash: str
    expires_at: int  # the node's clock, unix seconds
    label: str


@dataclass(frozen=True)
class InvoiceState:
    """One invoice as ``listinvoices`` shows it."""

    label: str
    status: str  # unpaid | paid | expired
    bolt11: str
    payment_hash: str
    expires_at: int
    amount_msat: int | None
    pay_index: int | None
    amount_received_msat: int | None
    paid_at: int | None


@dataclass(frozen=True)
class PaidInvoice:
    """A settled invoice, as ``waitanyinvoice`` returns it; ``pay_index`` orders settlements."""

    label: str
    payment_hash: str
    pay_index: int
    amount_msat: int | None
    amount_received_msat: int
    paid_at: int


class LightningNode(Protocol):
    async def getinfo(self) -> NodeInfo: ...

    async def invoice(
        self, amount_msat: int, label: str, description: str, expiry_s: int
    ) -> Invoice: ...

    # ``timeout`` is waitanyinvoice's own parameter (the node stops waiting), not a client timeout.
    async def wait_any_invoice(
        self,
        lastpay_index: int,
        timeout: float,  # noqa: ASYNC109
    ) -> PaidInvoice | None:
        """The first invoice paid with a pay_index above ``lastpay_index``, or None after
        ``timeout`` seconds without one."""
        ...

    async def list_invoice(self, label: str) -> InvoiceState | None: ...

    async def delete_unpaid(self, label: str) -> None:
        """Delete an invoice that is still unpaid; ``InvoiceNotUnpaid`` if it was paid since."""
        ...

    async def aclose(self) -> None: ...


def _msat(value: Any) -> int | None:
    """An amount as lightningd gives it: an integer, or (older nodes) "123msat"."""
    if value is None:
        return None
    if isinstance(value, str):
        return int(value.removesuffix("msat"))
    return int(value)


def _state(raw: dict[str, Any]) -> InvoiceState:
    return InvoiceState(
        label=str(raw["label"]),
        status=str(raw["status"]),
        bolt11=str(raw.get("bolt11", "")),
        payment_hash=str(raw["payment_hash"]),
        expires_at=int(raw["expires_at"]),
        amount_msat=_msat(raw.get("amount_msat")),
        pay_index=None if raw.get("pay_index") is None else int(raw["pay_index"]),
        amount_received_msat=_msat(raw.get("amount_received_msat")),
        paid_at=None if raw.get("paid_at") is None else int(raw["paid_at"]),
    )


def _paid(raw: dict[str, Any]) -> PaidInvoice:
    return PaidInvoice(
        label=str(raw["label"]),
        payment_hash=str(raw["payment_hash"]),
        pay_index=int(raw["pay_index"]),
        amount_msat=_msat(raw.get("amount_msat")),
        amount_received_msat=_msat(raw.get("amount_received_msat")) or 0,
        paid_at=int(raw["paid_at"]),
    )


def _error(method: str, params: dict[str, Any], code: int | None, message: str) -> LightningError:
    """Our error for one of lightningd's."""
    label = params.get("label")
    if code == INVOICE_LABEL_ALREADY_EXISTS:
        return LabelExists(f"the node has an invoice labelled {label!r} already")
    if code == INVOICE_NOT_FOUND:
        return InvoiceNotFound(f"the node has no invoice labelled {label!r}")
    if code == INVOICE_STATUS_UNEXPECTED:
        status = "paid" if "paid" in message.split(" not ")[0] else "expired"
        return InvoiceNotUnpaid(f"invoice {label!r} is {status}, not unpaid", status)
    if code in (RUNE_NOT_AUTHORIZED, RUNE_NOT_PERMITTED):
        return RuneRefused(
            f"the node refused the rune for {method}: {message}; make a rune restricted to the "
            "invoice methods (docs/TECHNICIAN.md) and set lightning.rune"
        )
    return NodeRejected(method, code, message)


class _Node:
    """What both transports share: the method calls in terms of one ``_call``."""

    wait_chunk_s: int

    async def _call(self, method: str, params: dict[str, Any], wait_s: float = 0) -> Any:
        raise NotImplementedError

    async def getinfo(self) -> NodeInfo:
        raw = await self._call("getinfo", {})
        return NodeInfo(
            node_id=str(raw["id"]),
            alias=str(raw.get("alias", "")),
            network=str(raw.get("network", "")),
            version=str(raw.get("version", "")),
            blockheight=int(raw.get("blockheight", 0)),
        )

    async def invoice(
        self, amount_msat: int, label: str, description: str, expiry_s: int
    ) -> Invoice:
        if amount_msat <= 0:
            raise ValueError("amount_msat must be positive")
        params = {
            "amount_msat": amount_msat,
            "label": label,
            "description": description,
            "expiry": expiry_s,
        }
        raw = await self._call("invoice", params)
        return Invoice(
            bolt11=str(raw["bolt11"]),
            payment_hash=str(raw["payment_hash"]),
            expires_at=int(raw["expires_at"]),
            label=label,
        )

    async def wait_any_invoice(
        self,
        lastpay_index: int,
        timeout: float,  # noqa: ASYNC109 - the node's waitanyinvoice timeout
    ) -> PaidInvoice | None:
        # One long wait is asked as short ones: a cancelled task then leaves at most one chunk
        # running on the node (and, for the socket, in a worker thread).
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            chunk = max(0, min(self.wait_chunk_s, round(remaining)))
            params = {"lastpay_index": lastpay_index, "timeout": chunk}
            try:
                raw = await self._call("waitanyinvoice", params, wait_s=chunk)
            except NodeRejected as err:
                if err.code != INVOICE_WAIT_TIMED_OUT:
                    raise
                if time.monotonic() >= deadline or chunk == 0:
                    return None
                continue
            return _paid(raw)

    async def list_invoice(self, label: str) -> InvoiceState | None:
        raw = await self._call("listinvoices", {"label": label})
        invoices = raw.get("invoices", [])
        return _state(invoices[0]) if invoices else None

    async def delete_unpaid(self, label: str) -> None:
        await self._call("delinvoice", {"label": label, "status": "unpaid"})


class SocketNode(_Node):
    """lightningd's JSON-RPC on its unix socket, through pyln-client."""

    def __init__(self, socket_path: str, wait_chunk_s: int = 5) -> None:
        self.socket_path = socket_path
        self.wait_chunk_s = wait_chunk_s
        self._rpc = LightningRpc(socket_path, logger=log)

    async def _call(self, method: str, params: dict[str, Any], wait_s: float = 0) -> Any:
        try:
            return await asyncio.to_thread(self._rpc.call, method, params)
        except RpcError as err:
            error = err.error
            if not isinstance(error, dict):  # pyln's own: "Connection to RPC server lost."
                raise NodeUnreachable(
                    f"the Lightning node at {self.socket_path} dropped the connection ({error})"
                ) from None
            raise _error(method, params, error.get("code"), str(error.get("message"))) from None
        except OSError as err:
            raise NodeUnreachable(
                f"no Lightning node at {self.socket_path} ({err.strerror or err}); is lightningd "
                "running, and may this user open its socket?"
            ) from None
        except ValueError as err:  # garbage or an id mismatch on the socket
            raise NodeUnreachable(f"the Lightning node at {self.socket_path}: {err}") from None

    async def aclose(self) -> None:
        return None


class ClnRestNode(_Node):
    """The clnrest plugin: ``POST /v1/<method>`` with a ``Rune`` header, over HTTPS."""

    def __init__(
        self,
        url: str,
        rune: str,
        ca_cert: str = "",
        timeout_s: float = 10.0,
        wait_chunk_s: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.wait_chunk_s = wait_chunk_s
        self.timeout_s = timeout_s
        verify: ssl.SSLContext | bool = True
        if ca_cert:
            # clnrest's own certificate is made for the name "cln"; checking it against its CA
            # (ca.pem in the node's network directory) is what proves we talk to our node.
            verify = ssl.create_default_context(cafile=ca_cert)
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers={"Rune": rune},
            verify=verify,
            timeout=timeout_s,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"ClnRestNode({self.url!r})"

    async def _call(self, method: str, params: dict[str, Any], wait_s: float = 0) -> Any:
        try:
            response = await self._client.post(
                f"/v1/{method}", json=params, timeout=self.timeout_s + wait_s
            )
        except httpx.TimeoutException:
            raise NodeUnreachable(
                f"the Lightning node at {self.url} did not answer {method} in time"
            ) from None
        except httpx.HTTPError as err:
            raise NodeUnreachable(f"cannot reach the Lightning node at {self.url}: {err}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            return body
        code = body.get("code") if isinstance(body, dict) else None
        message = str(body.get("message")) if isinstance(body, dict) else response.text[:200]
        if response.status_code in (401, 403) and code not in (
            RUNE_NOT_AUTHORIZED,
            RUNE_NOT_PERMITTED,
        ):
            code = RUNE_NOT_AUTHORIZED
        return_error = _error(method, params, code, message)
        raise return_error

    async def aclose(self) -> None:
        await self._client.aclose()


def make_node(settings: LightningSettings) -> LightningNode | None:
    """The node client ``settings`` describe; None when Lightning is off (kind "none")."""
    if settings.kind == "socket":
        return SocketNode(settings.socket_path, settings.wait_chunk_s)
    if settings.kind == "clnrest":
        return ClnRestNode(
            settings.url,
            settings.rune,
            settings.ca_cert,
            settings.timeout_s,
            settings.wait_chunk_s,
        )
    return None
