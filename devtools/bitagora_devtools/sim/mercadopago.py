"""The subset of Mercado Pago's API that the till's Mercado Pago payments use, with a simulated
Point device and a QR payer: tests, the demo and ``bitagora sim mercadopago``.

It speaks Mercado Pago's wire format, so the official ``mercadopago`` SDK (and curl) work
against it unmodified: JSON bodies, amounts as decimal strings (``"24.50"``), errors as
``{"errors": [{"code", "message"}]}`` with the API's HTTP statuses (400 bad request, 401 bad
token, 404 missing, 409 conflict), and bearer authentication with the one access token it was
given.

Endpoints:

- ``POST /v1/orders`` (Orders API): ``type`` ``point`` (``config.point.terminal_id``) or ``qr``
  (``config.qr.external_pos_id``, ``config.qr.mode`` ``dynamic``), ``external_reference``,
  ``total_amount``, ``description``, ``expiration_time`` (ISO 8601 duration ``PTnM``/``PTnS``),
  ``transactions.payments[0].amount``. A Point order goes to its device (status
  ``at_terminal``); a QR order is ``created`` with ``type_response.qr_data`` (an EMVCo
  payload). A device that already holds an order is refused: 409
  ``already_queued_order_on_terminal``; an unknown device: 404 ``terminal_not_found``.
- ``GET /v1/orders/:id``
- ``POST /v1/orders/:id/cancel``: only an order nobody has paid yet (409 ``cannot_cancel_order``
  once it is processed, failed, expired or cancelled).
- ``POST /v1/orders/:id/refund``: the whole order (no body), or ``transactions[0].amount`` of its
  payment; at most what is left (400 ``amount_exceeded``). The answer is the order, with its
  refunds in ``transactions.refunds``; status ``refunded`` once nothing is left.
- ``GET /v1/payments/:reference_id``: a processed order's payment, with
  ``payment_method_id`` (brand), ``authorization_code`` and ``card.last_four_digits`` /
  ``card.first_six_digits`` as Mercado Pago gives them.
- ``GET /point/integration-api/devices``: the account's Point devices with their
  ``operating_mode`` (``PDV`` or ``STANDALONE``).
- ``GET /users/me``: the account the token belongs to.

Every POST needs ``X-Idempotency-Key`` (1..64 characters): the same key with the same body
replays the first answer (header ``X-Idempotency-Replayed: true``) without doing anything again;
the same key with another body is a 409 ``idempotency_key_already_used``.

Test behaviours follow Mercado Pago's published test cards, named by the cardholder (payer) name:
``APRO`` approves; ``OTHE`` is rejected ``cc_rejected_other_reason``; ``CONT`` stays pending;
``CALL`` ``cc_rejected_call_for_authorize``; ``FUND`` ``cc_rejected_insufficient_amount``;
``SECU`` ``cc_rejected_bad_filled_security_code``; ``EXPI`` ``cc_rejected_bad_filled_date``;
``FORM`` ``cc_rejected_bad_filled_other``. ``TIME`` lets the order expire unpaid.

Driving it, from Python (``MercadoPagoSim``) or over HTTP (``bitagora sim mercadopago`` prints
the URL):

- ``point(name, terminal)`` (``POST /_sim/point`` with ``{"name", "terminal_id"}``): the
  customer at the Point device pays with that test card (or ``TIME``: does nothing until the
  order expires; ``CANCEL``: presses cancel on the device).
- ``qr(name, order_id)`` (``POST /_sim/qr`` with ``{"name", "order_id"}``; the newest open QR
  order by default): a payer scans the code and pays.
- ``device(terminal, busy=..., mode=...)`` (``POST /_sim/device``): a device becomes busy with an
  order of another till, or leaves PDV mode.
- ``drop(method, path, when="after")`` (``POST /_sim/drop``): the next request to that path
  (a prefix) has its connection cut halfway through the answer; ``after`` does the work first.
- ``GET /_sim/state``: counts of orders by status and of requests.

It needs Starlette and uvicorn (the ``central`` extra or the dev install); the device runs without.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from bitagora_devtools.sim.http_serve import (
    CutAnswer,
    Drop,
    answer_or_cut,
    drop_asked,
    run_http,
    serve_until_stopped,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

DEFAULT_TOKEN = "TEST-0000000000000000-120700-bitagorasimulatoraccesstoken-000000001"
DEFAULT_TERMINAL = "NEWLAND_N950__N950NCB000000001"
DEFAULT_POS = "BITAGORA_POS_1"
PENDING = "CONT"
EXPIRE = "TIME"
DEVICE_CANCEL = "CANCEL"
# Mercado Pago's test cardholder names and the status_detail each gives (None: approved).
TEST_PAYERS: dict[str, str | None] = {
    "APRO": None,
    "OTHE": "cc_rejected_other_reason",
    "CALL": "cc_rejected_call_for_authorize",
    "FUND": "cc_rejected_insufficient_amount",
    "SECU": "cc_rejected_bad_filled_security_code",
    "EXPI": "cc_rejected_bad_filled_date",
    "FORM": "cc_rejected_bad_filled_other",
}
OPEN_STATUSES = ("created", "at_terminal")
_DURATION = re.compile(r"^PT(?:(\d+)M)?(?:(\d+)S)?$")


class MercadoPagoFault(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"errors": [{"code": code, "message": message, "details": []}]}


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(10).upper()


def _amount(text: Any, what: str) -> Decimal:
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        raise MercadoPagoFault(400, "invalid_amount", f"{what} is not an amount") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise MercadoPagoFault(400, "invalid_amount", f"{what} must be positive, 2 decimals")
    return value


@dataclass
class _Stored:
    path: str
    body: Any
    status: int
    answer: bytes


@dataclass
class _Device:
    terminal_id: str
    mode: str = "PDV"
    busy: bool = False  # holding another till's order
    order_id: str | None = None


@dataclass
class MercadoPagoSim:
    access_token: str = DEFAULT_TOKEN
    terminal_ids: tuple[str, ...] = (DEFAULT_TERMINAL,)
    pos_ids: tuple[str, ...] = (DEFAULT_POS,)
    user_id: int = 1234567890
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    _idempotent: dict[str, _Stored] = field(default_factory=dict)
    _devices: dict[str, _Device] = field(default_factory=dict)
    _deadlines: dict[str, float] = field(default_factory=dict)
    _next_payment: int = 1_000_000_001

    def __post_init__(self) -> None:
        self._devices = {t: _Device(t) for t in self.terminal_ids}

    # -- controls ---------------------------------------------------------------------------

    def drop(self, method: str, path: str, when: str = "after", count: int = 1) -> None:
        if when not in ("after", "before"):
            raise ValueError("when is after or before")
        self.drops.append(Drop(method.upper(), path, when, count))

    def device(self, terminal: str, *, busy: bool | None = None, mode: str | None = None) -> None:
        device = self._device(terminal)
        if busy is not None:
            device.busy = busy
        if mode is not None:
            if mode not in ("PDV", "STANDALONE"):
                raise ValueError("mode is PDV or STANDALONE")
            device.mode = mode

    def point(self, name: str, terminal: str | None = None) -> dict[str, Any]:
        """The customer at ``terminal`` pays its order with test card ``name``."""
        device = self._device(terminal or self.terminal_ids[0])
        if device.order_id is None:
            raise ValueError(f"no order waits on {device.terminal_id}")
        return self._pay(self.orders[device.order_id], name)

    def qr(self, name: str, order_id: str | None = None) -> dict[str, Any]:
        """A payer scans the QR order ``order_id`` (the newest open one) and pays as ``name``."""
        if order_id is None:
            open_qr = [
                o for o in self.orders.values() if o["type"] == "qr" and o["status"] == "created"
            ]
            if not open_qr:
                raise ValueError("no QR order is open")
            order_id = open_qr[-1]["id"]
        return self._pay(self._order(order_id), name)

    def processed(self) -> list[dict[str, Any]]:
        """Orders whose payment went through (the charges that exist)."""
        return [o for o in self.orders.values() if o["status"] in ("processed", "refunded")]

    def state(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        for order in self.orders.values():
            by_status[order["status"]] = by_status.get(order["status"], 0) + 1
        return {"orders": len(self.orders), "by_status": by_status, "requests": len(self.requests)}

    # -- the API ------------------------------------------------------------------------------

    def _device(self, terminal: str) -> _Device:
        if terminal not in self._devices:
            raise MercadoPagoFault(404, "terminal_not_found", f"terminal {terminal} not found")
        return self._devices[terminal]

    def _order(self, order_id: str) -> dict[str, Any]:
        order = self.orders.get(order_id)
        if order is None:
            raise MercadoPagoFault(404, "order_not_found", f"order {order_id} not found")
        self._expire_if_due(order)
        return order

    def _expire_if_due(self, order: dict[str, Any]) -> None:
        deadline = self._deadlines.get(order["id"])
        if order["status"] in OPEN_STATUSES and deadline is not None:
            if time.monotonic() >= deadline:
                self._close(order, "expired", "expired")

    def _close(self, order: dict[str, Any], status: str, detail: str) -> None:
        order.update(status=status, status_detail=detail)
        payment = order["transactions"]["payments"][0]
        payment.update(status=status, status_detail=detail)
        for device in self._devices.values():
            if device.order_id == order["id"]:
                device.order_id = None

    def _pay(self, order: dict[str, Any], name: str) -> dict[str, Any]:
        name = name.upper()
        if order["status"] not in OPEN_STATUSES:
            raise ValueError(f"order {order['id']} is {order['status']}")
        if name == EXPIRE:
            self._close(order, "expired", "expired")
        elif name == DEVICE_CANCEL:
            self._close(order, "canceled", "canceled")
        elif name == PENDING:
            order["transactions"]["payments"][0]["status_detail"] = "pending_review_manual"
        elif name not in TEST_PAYERS:
            raise ValueError(f"unknown test payer {name!r} (one of {', '.join(TEST_PAYERS)})")
        elif (detail := TEST_PAYERS[name]) is not None:
            self._close(order, "failed", detail)
        else:
            payment = order["transactions"]["payments"][0]
            reference = str(self._next_payment)
            self._next_payment += 1
            brand = "visa" if order["type"] == "point" else "pix"
            self.payments[reference] = {
                "id": int(reference),
                "status": "approved",
                "status_detail": "accredited",
                "transaction_amount": float(payment["amount"]),
                "payment_method_id": brand,
                "payment_type_id": "credit_card" if order["type"] == "point" else "bank_transfer",
                "authorization_code": secrets.token_hex(3).upper(),
                "card": (
                    {"first_six_digits": "450995", "last_four_digits": "3704"}
                    if order["type"] == "point"
                    else {}
                ),
                "external_reference": order["external_reference"],
            }
            self._close(order, "processed", "accredited")
            payment.update(
                reference_id=reference,
                paid_amount=payment["amount"],
                payment_method={"id": brand, "type": self.payments[reference]["payment_type_id"]},
            )
        return order

    def create_order(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("type")
        if kind not in ("point", "qr"):
            raise MercadoPagoFault(400, "invalid_type", "type must be point or qr")
        reference = body.get("external_reference")
        if not isinstance(reference, str) or not 1 <= len(reference) <= 64:
            raise MercadoPagoFault(400, "invalid_external_reference", "external_reference needed")
        try:
            payment_amount = body["transactions"]["payments"][0]["amount"]
        except (KeyError, IndexError, TypeError):
            raise MercadoPagoFault(
                400, "invalid_transactions", "transactions.payments[0].amount needed"
            ) from None
        amount = _amount(payment_amount, "transactions.payments[0].amount")
        total = _amount(body.get("total_amount", payment_amount), "total_amount")
        if total != amount:
            raise MercadoPagoFault(400, "invalid_total_amount", "total_amount != payments")
        config = body.get("config") or {}
        order_id = _new_id("ORD")
        order: dict[str, Any] = {
            "id": order_id,
            "type": kind,
            "external_reference": reference,
            "description": body.get("description", ""),
            "total_amount": f"{total:.2f}",
            "status": "created",
            "status_detail": "created",
            "config": config,
            "transactions": {
                "payments": [
                    {"id": _new_id("PAY"), "amount": f"{amount:.2f}", "status": "created"}
                ],
                "refunds": [],
            },
        }
        if kind == "point":
            terminal = (config.get("point") or {}).get("terminal_id")
            device = self._device(str(terminal))
            if device.busy or device.order_id is not None:
                raise MercadoPagoFault(
                    409, "already_queued_order_on_terminal", "the terminal has a queued order"
                )
            device.order_id = order_id
            order.update(status="at_terminal", status_detail="at_terminal")
        else:
            qr = config.get("qr") or {}
            if qr.get("external_pos_id") not in self.pos_ids:
                raise MercadoPagoFault(404, "pos_not_found", "config.qr.external_pos_id unknown")
            if qr.get("mode", "static") != "dynamic":
                raise MercadoPagoFault(400, "invalid_mode", "config.qr.mode must be dynamic")
            order["type_response"] = {
                "qr_data": "00020101021243650016COM.MERCADOLIBRE02013063638f1192a-5fd1-4180"
                f"-a180-8bcae3556bc35204000053039865802BR5909BitAgora6009SAO PAULO62070503"
                f"***{order_id}6304ABCD"
            }
        expiration = body.get("expiration_time")
        if expiration is not None:
            match = _DURATION.match(str(expiration))
            if match is None or not any(match.groups()):
                raise MercadoPagoFault(400, "invalid_expiration_time", "expiration_time: PTnMnS")
            seconds = int(match.group(1) or 0) * 60 + int(match.group(2) or 0)
            order["expiration_time"] = expiration
            self._deadlines[order_id] = time.monotonic() + seconds
        self.orders[order_id] = order
        return order

    def cancel_order(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        order = self._order(order_id)
        if order["status"] not in OPEN_STATUSES:
            raise MercadoPagoFault(
                409, "cannot_cancel_order", f"the order is {order['status']}: it cannot be canceled"
            )
        self._close(order, "canceled", "canceled")
        return order

    def refund_order(self, order_id: str, body: dict[str, Any]) -> dict[str, Any]:
        order = self._order(order_id)
        if order["status"] not in ("processed", "refunded"):
            raise MercadoPagoFault(409, "cannot_refund_order", f"the order is {order['status']}")
        payment = order["transactions"]["payments"][0]
        refunds = order["transactions"]["refunds"]
        left = Decimal(payment["amount"]) - sum((Decimal(r["amount"]) for r in refunds), Decimal(0))
        asked = (body.get("transactions") or [{}])[0].get("amount") if body else None
        amount = left if asked is None else _amount(asked, "transactions[0].amount")
        if amount <= 0 or amount > left:
            raise MercadoPagoFault(400, "amount_exceeded", f"only {left:.2f} can be refunded")
        refunds.append(
            {
                "id": _new_id("REF"),
                "transaction_id": payment["id"],
                "reference_id": str(self._next_payment),
                "amount": f"{amount:.2f}",
                "status": "processed",
            }
        )
        self._next_payment += 1
        if amount == left:
            order.update(status="refunded", status_detail="refunded")
        return order

    def app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        def endpoint(handler: Any, *path_params: str) -> Any:
            async def run(request: Request) -> Response | CutAnswer:
                method, path = request.method, request.url.path
                self.requests.append((method, path))
                return await answer_or_cut(
                    self.drops,
                    method,
                    path,
                    lambda: self._handle(request, handler, path_params),
                    b'{"errors": []}',
                )

            return run

        async def control(request: Request) -> Response:
            try:
                body = await request.json() if await request.body() else {}
                if not isinstance(body, dict):
                    raise ValueError("the body is a JSON object")
                action = request.path_params["action"]
                if action == "drop":
                    self.drop(*drop_asked(body))
                elif action == "point":
                    self.point(str(body["name"]), body.get("terminal_id"))
                elif action == "qr":
                    self.qr(str(body["name"]), body.get("order_id"))
                elif action == "device":
                    self.device(
                        str(body.get("terminal_id", self.terminal_ids[0])),
                        busy=body.get("busy"),
                        mode=body.get("mode"),
                    )
                elif action != "state":
                    return JSONResponse({"error": f"unknown action {action}"}, status_code=404)
            except MercadoPagoFault as fault:
                return JSONResponse({"error": str(fault)}, status_code=fault.status)
            except (KeyError, TypeError, ValueError) as err:
                return JSONResponse({"error": str(err)}, status_code=400)
            return JSONResponse(self.state())

        def order_get(order_id: str, body: Any) -> dict[str, Any]:
            return self._order(order_id)

        def payment_get(reference: str, body: Any) -> dict[str, Any]:
            payment = self.payments.get(reference)
            if payment is None:
                raise MercadoPagoFault(404, "not_found", f"payment {reference} not found")
            return payment

        def devices(body: Any) -> dict[str, Any]:
            listed = [
                {
                    "id": d.terminal_id,
                    "pos_id": 1000 + n,
                    "store_id": "1",
                    "external_pos_id": self.pos_ids[0],
                    "operating_mode": d.mode,
                }
                for n, d in enumerate(self._devices.values())
            ]
            total = len(listed)
            return {"devices": listed, "paging": {"total": total, "limit": 50, "offset": 0}}

        def me(body: Any) -> dict[str, Any]:
            return {"id": self.user_id, "nickname": "BITAGORA_SIM", "site_id": "MLB"}

        orders = "/v1/orders/{order}"
        return Starlette(
            routes=[
                Route("/v1/orders", endpoint(self.create_order), methods=["POST"]),
                Route(orders, endpoint(order_get, "order"), methods=["GET"]),
                Route(f"{orders}/cancel", endpoint(self.cancel_order, "order"), methods=["POST"]),
                Route(f"{orders}/refund", endpoint(self.refund_order, "order"), methods=["POST"]),
                Route("/v1/payments/{payment}", endpoint(payment_get, "payment"), methods=["GET"]),
                Route("/point/integration-api/devices", endpoint(devices), methods=["GET"]),
                Route("/users/me", endpoint(me), methods=["GET"]),
                Route("/_sim/{action}", control, methods=["GET", "POST"]),
            ]
        )

    async def _handle(
        self, request: Request, handler: Any, path_params: tuple[str, ...]
    ) -> Response:
        """Authenticate, decode, run ``handler`` once per idempotency key, answer as MP does."""
        from starlette.responses import JSONResponse, Response

        try:
            if request.headers.get("authorization", "") != f"Bearer {self.access_token}":
                raise MercadoPagoFault(401, "unauthorized", "invalid access token")
            args = [request.path_params[name] for name in path_params]
            if request.method != "POST":
                return JSONResponse(handler(*args, None))
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                raise MercadoPagoFault(400, "bad_request", "the body is not JSON") from None
            if not isinstance(body, dict):
                raise MercadoPagoFault(400, "bad_request", "the body is not a JSON object")
            key = request.headers.get("x-idempotency-key", "")
            if not 1 <= len(key) <= 64:
                raise MercadoPagoFault(
                    400, "invalid_idempotency_key", "X-Idempotency-Key must be 1..64 characters"
                )
            stored = self._idempotent.get(key)
            if stored is not None:
                if (stored.path, stored.body) != (request.url.path, body):
                    raise MercadoPagoFault(
                        409, "idempotency_key_already_used", "the key was used for another request"
                    )
                return Response(
                    stored.answer,
                    status_code=stored.status,
                    media_type="application/json",
                    headers={"X-Idempotency-Replayed": "true"},
                )
            status = 201 if request.url.path == "/v1/orders" else 200
            response = JSONResponse(handler(*args, body), status_code=status)
            self._idempotent[key] = _Stored(request.url.path, body, status, bytes(response.body))
            return response
        except MercadoPagoFault as fault:
            return JSONResponse(fault.body, status_code=fault.status)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3006)
    parser.add_argument(
        "--access-token",
        default=DEFAULT_TOKEN,
        help="the token clients must send (default: %(default)s)",
    )
    parser.add_argument(
        "--terminal",
        action="append",
        metavar="ID",
        help=f"a simulated Point device's id, repeatable (default {DEFAULT_TERMINAL})",
    )
    parser.add_argument(
        "--pos", action="append", metavar="ID", help=f"a QR external POS id (default {DEFAULT_POS})"
    )


def run(args: argparse.Namespace) -> int:
    terminals = tuple(args.terminal) if args.terminal else (DEFAULT_TERMINAL,)
    pos_ids = tuple(args.pos) if args.pos else (DEFAULT_POS,)
    if not args.access_token.strip():
        print("error: the access token is empty", file=sys.stderr)
        return 2
    sim = MercadoPagoSim(access_token=args.access_token, terminal_ids=terminals, pos_ids=pos_ids)

    def announce(url: str) -> list[str]:
        return [
            f"mercadopago simulator on {url} (Point {', '.join(terminals)}; QR POS "
            f"{', '.join(pos_ids)}); pay: POST /_sim/point or /_sim/qr with "
            '{"name": "APRO"} (OTHE, FUND, CALL, SECU, EXPI, FORM decline; TIME expires); '
            "faults: POST /_sim/drop, /_sim/device",
            # The token stays out of the output: a log keeps no access token, even a test one
            # (it is the one given with --access-token; --help shows the default).
            f"BITAGORA_MERCADOPAGO_API_BASE={url} "
            f"BITAGORA_MERCADOPAGO_POINT_TERMINAL_ID={terminals[0]} "
            f"BITAGORA_MERCADOPAGO_QR_EXTERNAL_POS_ID={pos_ids[0]} "
            "BITAGORA_MERCADOPAGO_ACCESS_TOKEN=<the --access-token>",
        ]

    return run_http(
        "the Mercado Pago simulator",
        lambda start: serve_until_stopped(start, sim.app(), args.host, args.port, announce),
    )
