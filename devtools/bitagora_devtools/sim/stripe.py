"""The subset of Stripe's API that card payments use, with simulated Terminal readers: tests and
``bitagora sim stripe``.

It speaks Stripe's wire format, so the official ``stripe`` library (and curl) work against it
unmodified: form-encoded requests with bracketed nested keys (``metadata[sale_id]=…``,
``expand[0]=latest_charge``), JSON answers in Stripe's object shapes, errors as
``{"error": {"type", "code", "message", "param", "decline_code", "doc_url"}}`` with Stripe's
HTTP statuses (400 invalid request, 401 bad key, 402 card error, 404 missing), a ``Request-Id``
header, and bearer (or basic) authentication with the one API key it was given.

Endpoints:

- ``POST /v1/payment_intents`` (``amount``, ``currency``, ``allowed_payment_method_types``,
  ``capture_method``, ``description``, ``metadata``, ``expand``; unknown parameters are refused,
  and ``payment_method_types`` is refused as the stripe library's API version (endive) does)
- ``GET /v1/payment_intents/:id`` (``expand[]=latest_charge`` gives the charge object)
- ``POST /v1/payment_intents/:id/cancel`` (``cancellation_reason``)
- ``POST /v1/payment_intents/:id/capture`` (``amount_to_capture``)
- ``POST /v1/refunds`` (``payment_intent`` or ``charge``, ``amount`` (default: all that is left),
  ``reason``, ``metadata``): refunds a succeeded charge, at most what is left of it
  (``charge_already_refunded`` once nothing is, ``amount_too_large`` past it)
- ``GET /v1/terminal/readers/:id``
- ``POST /v1/terminal/readers/:id/process_payment_intent`` (``payment_intent``,
  ``process_config``): the reader's action becomes ``in_progress``; a reader that is busy or
  offline is refused with ``terminal_reader_busy`` / ``terminal_reader_offline``
- ``POST /v1/terminal/readers/:id/cancel_action``: the action in progress is dropped (the reader
  answers with ``action: null``, as Stripe's reference shows)
- ``POST /v1/test_helpers/terminal/readers/:id/present_payment_method`` (``type=card_present``,
  ``card_present[number]``): the customer taps a card. Stripe's test numbers decide
  (``TEST_CARDS``): 4242424242424242 and the other brands' success numbers approve;
  4000000000000002 is declined (``generic_decline``), 4000000000009995 ``insufficient_funds``,
  4000000000009987 ``lost_card``, 4000000000009979 ``stolen_card``, 4000000000000069
  ``expired_card``, 4000000000000119 ``processing_error``; any other number is refused as
  Stripe's test mode refuses a real card (``test_mode_live_card``).

Every POST honours ``Idempotency-Key``: the same key with the same parameters replays the first
answer (header ``Idempotent-Replayed: true``) without doing anything again; the same key with
other parameters or on another endpoint is a 400 ``idempotency_error``. As at Stripe, only
answers of requests that ran are kept (here: the 2xx ones), so a refused request can be retried.

Driving it, from Python (``StripeSim``) or over HTTP (``bitagora sim stripe`` prints the URL):

- ``drop(method, path, when="after")`` (``POST /_sim/drop`` with ``{"method", "path", "when",
  "count"}``): the next request to that path (a prefix, e.g. ``/v1/payment_intents``) has its
  connection cut halfway through the answer; ``after`` does the work first (the client sees a
  network error although Stripe created the object: the idempotent-retry case), ``before``
  does not.
- ``set_reader(reader, status=..., customer_cancel=True)`` (``POST /_sim/reader`` with
  ``{"reader", "status"}`` or ``{"reader", "customer_cancel": true}``): a reader goes offline or
  online, or the customer presses cancel on it (its action fails with ``customer_canceled``).
- ``GET /_sim/state``: counts of PaymentIntents, charges and requests; from Python,
  ``requests`` lists every API request and ``await request_seen(method, path)`` waits for one.

It needs Starlette and uvicorn (the ``central`` extra or the dev install); the device runs without.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import re
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

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

DEFAULT_KEY = "sk_test_bitagora_simulator"
DEFAULT_READER = "tmr_bitagora_sim_1"
CANCELABLE = (
    "requires_payment_method",
    "requires_capture",
    "requires_confirmation",
    "requires_action",
    "processing",
)


@dataclass(frozen=True)
class TestCard:
    brand: str
    funding: str = "credit"
    code: str | None = None  # None: approved; else the error code of the decline
    decline_code: str | None = None
    message: str = ""


_DECLINED = "Your card was declined."
# Stripe's documented test card numbers (docs: Terminal testing, "Simulated test cards").
TEST_CARDS: dict[str, TestCard] = {
    "4242424242424242": TestCard("visa"),
    "4000056655665556": TestCard("visa", "debit"),
    "5555555555554444": TestCard("mastercard"),
    "5200828282828210": TestCard("mastercard", "debit"),
    "5105105105105100": TestCard("mastercard", "prepaid"),
    "378282246310005": TestCard("amex"),
    "371449635398431": TestCard("amex"),
    "6011111111111117": TestCard("discover"),
    "6011000990139424": TestCard("discover"),
    "3056930009020004": TestCard("diners"),
    "36227206271667": TestCard("diners"),
    "3566002020360505": TestCard("jcb"),
    "6200000000000005": TestCard("unionpay"),
    "4000000000000002": TestCard("visa", code="card_declined", decline_code="generic_decline"),
    "4000000000009995": TestCard(
        "visa",
        code="card_declined",
        decline_code="insufficient_funds",
        message="Your card has insufficient funds.",
    ),
    "4000000000009987": TestCard("visa", code="card_declined", decline_code="lost_card"),
    "4000000000009979": TestCard("visa", code="card_declined", decline_code="stolen_card"),
    "4000000000000069": TestCard(
        "visa", code="expired_card", decline_code="expired_card", message="Your card has expired."
    ),
    "4000000000000119": TestCard(
        "visa",
        code="processing_error",
        decline_code="processing_error",
        message="An error occurred while processing your card. Try again in a little bit.",
    ),
}
LIVE_CARD = TestCard(
    "visa",
    code="card_declined",
    decline_code="test_mode_live_card",
    message="Your card was declined. Your request was in test mode, but used a non test card.",
)


class StripeFault(Exception):
    """An API error answer: raised by a handler, turned into Stripe's error JSON."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type_, "message": message}
        if code:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param:
            self.body["param"] = param
        if decline_code:
            self.body["decline_code"] = decline_code


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding to nested values: ``a[b]=1`` → ``{"a": {"b": "1"}}``,
    ``a[0]=x&a[1]=y`` or ``a[]=x`` → ``{"a": ["x", "y"]}``."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "":
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise StripeFault(400, f"Invalid array or hash: {key}", param=key)
    params: dict[str, Any] = _lists(root)
    return params


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        if value and all(k.isdigit() for k in value):
            return [_lists(value[k]) for k in sorted(value, key=int)]
        return {k: _lists(v) for k, v in value.items()}
    return value


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class _Stored:
    method: str
    path: str
    params: dict[str, Any]
    status: int
    body: bytes


@dataclass
class StripeSim:
    api_key: str = DEFAULT_KEY
    reader_ids: tuple[str, ...] = (DEFAULT_READER,)
    readers: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    _idempotent: dict[str, _Stored] = field(default_factory=dict)
    _waiters: list[tuple[str, str, asyncio.Event]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for number, reader_id in enumerate(self.reader_ids, 1):
            self.readers[reader_id] = {
                "id": reader_id,
                "object": "terminal.reader",
                "action": None,
                "device_sw_version": "2.42.0",
                "device_type": "simulated_wisepos_e",
                "ip_address": "0.0.0.0",
                "label": f"Simulated reader {number}",
                "last_seen_at": int(time.time() * 1000),
                "livemode": False,
                "location": "tml_bitagora_sim",
                "metadata": {},
                "serial_number": f"SIM-{number:04d}",
                "status": "online",
            }

    # -- driving the simulator ------------------------------------------------------------

    def drop(self, method: str, path: str, when: str = "after", count: int = 1) -> None:
        if when not in ("after", "before"):
            raise ValueError(f'when is "after" or "before", got {when!r}')
        self.drops.append(Drop(method.upper(), path, when, count))

    def set_reader(
        self, reader_id: str, *, status: str | None = None, customer_cancel: bool = False
    ) -> dict[str, Any]:
        reader = self.readers.get(reader_id)
        if reader is None:
            raise ValueError(f"no reader {reader_id!r}")
        if status is not None:
            if status not in ("online", "offline"):
                raise ValueError(f'status is "online" or "offline", got {status!r}')
            reader["status"] = status
        action = reader["action"]
        if customer_cancel and action is not None and action["status"] == "in_progress":
            action.update(
                status="failed",
                failure_code="customer_canceled",
                failure_message="The customer canceled the payment on the reader.",
            )
        return reader

    async def request_seen(self, method: str, path: str) -> None:
        """Return once a request ``method path`` has arrived (at once if one did already)."""
        if (method, path) in self.requests:
            return
        seen = asyncio.Event()
        self._waiters.append((method, path, seen))
        await seen.wait()

    def _arrived(self, method: str, path: str) -> None:
        self.requests.append((method, path))
        for waiter in [w for w in self._waiters if w[:2] == (method, path)]:
            waiter[2].set()
            self._waiters.remove(waiter)

    def succeeded_charges(self, payment_intent: str | None = None) -> list[dict[str, Any]]:
        """Charges that took money (captured or authorised), optionally of one PaymentIntent."""
        return [
            c
            for c in self.charges.values()
            if c["status"] == "succeeded"
            and (payment_intent is None or c["payment_intent"] == payment_intent)
        ]

    def state(self) -> dict[str, Any]:
        return {
            "payment_intents": len(self.payment_intents),
            "charges": len(self.charges),
            "succeeded_charges": len(self.succeeded_charges()),
            "refunds": len(self.refunds),
            "requests": len(self.requests),
            "readers": {r["id"]: r["status"] for r in self.readers.values()},
        }

    # -- the API ----------------------------------------------------------------------------

    def _authorised(self, header: str) -> None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                credential = base64.b64decode(credential).decode().partition(":")[0]
            except (ValueError, UnicodeDecodeError):
                credential = ""
        elif scheme.lower() != "bearer":
            credential = ""
        if not credential:
            raise StripeFault(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if not secrets.compare_digest(credential.encode(), self.api_key.encode()):
            shown = credential[:8] + "*" * 8 + credential[-4:] if len(credential) > 12 else "***"
            raise StripeFault(401, f"Invalid API Key provided: {shown}", code="api_key_invalid")

    def _payment_intent(self, pi_id: str, param: str | None = None) -> dict[str, Any]:
        pi = self.payment_intents.get(pi_id)
        if pi is None:
            status = 400 if param else 404
            raise StripeFault(
                status,
                f"No such payment_intent: '{pi_id}'",
                code="resource_missing",
                param=param or "intent",
            )
        return pi

    def _reader(self, reader_id: str) -> dict[str, Any]:
        reader = self.readers.get(reader_id)
        if reader is None:
            raise StripeFault(
                404,
                f"No such terminal.reader: '{reader_id}'",
                code="resource_missing",
                param="reader",
            )
        return reader

    @staticmethod
    def _only(params: dict[str, Any], allowed: set[str]) -> None:
        for name in params:
            if name not in allowed:
                raise StripeFault(400, f"Received unknown parameter: {name}", param=name)

    def _expand(self, pi: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        shown = dict(pi)
        expand = params.get("expand") or []
        if "latest_charge" in expand and pi["latest_charge"]:
            shown["latest_charge"] = self.charges[pi["latest_charge"]]
        return shown

    def create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        if "payment_method_types" in params:
            raise StripeFault(
                400,
                "payment_method_types is no longer supported on this API version; use "
                "allowed_payment_method_types.",
                code="payment_method_types_no_longer_supported",
                param="payment_method_types",
            )
        allowed = {"amount", "currency", "allowed_payment_method_types", "capture_method"}
        self._only(params, allowed | {"description", "metadata", "expand"})
        try:
            amount = int(params["amount"])
        except KeyError:
            raise StripeFault(400, "Missing required param: amount.", param="amount") from None
        except (TypeError, ValueError):
            raise StripeFault(400, "Invalid integer: amount", param="amount") from None
        if amount < 1:
            raise StripeFault(400, "This value must be greater than or equal to 1.", param="amount")
        currency = params.get("currency")
        if not isinstance(currency, str) or not re.fullmatch(r"[a-z]{3}", currency):
            raise StripeFault(400, "Missing or invalid currency.", param="currency")
        capture = params.get("capture_method", "automatic")
        if capture not in ("automatic", "automatic_async", "manual"):
            raise StripeFault(400, f"Invalid capture_method: {capture}", param="capture_method")
        types = params.get("allowed_payment_method_types") or ["card"]
        if not isinstance(types, list):
            raise StripeFault(400, "Invalid array", param="allowed_payment_method_types")
        pi_id = _new_id("pi")
        pi = {
            "id": pi_id,
            "object": "payment_intent",
            "allowed_payment_method_types": types,
            "amount": amount,
            "amount_capturable": 0,
            "amount_received": 0,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": capture,
            "client_secret": f"{pi_id}_secret_{secrets.token_hex(8)}",
            "created": int(time.time()),
            "currency": currency,
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "payment_method": None,
            "payment_method_types": types,
            "status": "requires_payment_method",
        }
        self.payment_intents[pi_id] = pi
        return self._expand(pi, params)

    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"payment_intent", "charge", "amount", "reason", "metadata", "expand"})
        if params.get("charge"):
            charge = self.charges.get(str(params["charge"]))
            if charge is None:
                raise StripeFault(
                    400,
                    f"No such charge: '{params['charge']}'",
                    code="resource_missing",
                    param="charge",
                )
        elif params.get("payment_intent"):
            pi = self._payment_intent(str(params["payment_intent"]), "payment_intent")
            charge = self.charges.get(pi["latest_charge"] or "")
            if charge is None or charge["status"] != "succeeded":
                raise StripeFault(
                    400,
                    f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
        else:
            raise StripeFault(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                param="payment_intent",
            )
        left = charge["amount_captured"] - charge["amount_refunded"]
        if left <= 0:
            raise StripeFault(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        try:
            amount = int(params.get("amount", left))
        except (TypeError, ValueError):
            raise StripeFault(400, "Invalid integer: amount", param="amount") from None
        if amount <= 0:
            raise StripeFault(400, "Invalid positive integer", param="amount")
        if amount > left:
            raise StripeFault(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                code="amount_too_large",
                param="amount",
            )
        reason = params.get("reason")
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise StripeFault(400, f"Invalid reason: {reason}", param="reason")
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        refund = {
            "id": _new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "created": int(time.time()),
            "currency": charge["currency"],
            "metadata": params.get("metadata") or {},
            "payment_intent": charge["payment_intent"],
            "reason": reason,
            "status": "succeeded",
        }
        self.refunds[refund["id"]] = refund
        return refund

    def cancel_payment_intent(self, pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"cancellation_reason", "expand"})
        pi = self._payment_intent(pi_id)
        reason = params.get("cancellation_reason")
        reasons = (None, "duplicate", "fraudulent", "requested_by_customer", "abandoned")
        if reason not in reasons:
            raise StripeFault(400, f"Invalid cancellation_reason: {reason}", param="reason")
        if pi["status"] not in CANCELABLE:
            raise StripeFault(
                400,
                f"You cannot cancel this PaymentIntent because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may "
                f"be canceled: {', '.join(CANCELABLE)}.",
                code="payment_intent_unexpected_state",
            )
        if pi["status"] == "requires_capture" and pi["latest_charge"]:
            self.charges[pi["latest_charge"]].update(refunded=True, amount_refunded=pi["amount"])
        pi.update(
            status="canceled",
            cancellation_reason=reason,
            canceled_at=int(time.time()),
            amount_capturable=0,
        )
        for reader in self.readers.values():
            action = reader["action"]
            if (
                action is not None
                and action["status"] == "in_progress"
                and action["process_payment_intent"]["payment_intent"] == pi_id
            ):
                action.update(
                    status="failed",
                    failure_code="payment_intent_canceled",
                    failure_message="The PaymentIntent was canceled.",
                )
        return self._expand(pi, params)

    def capture_payment_intent(self, pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"amount_to_capture", "expand"})
        pi = self._payment_intent(pi_id)
        if pi["status"] != "requires_capture":
            raise StripeFault(
                400,
                f"This PaymentIntent could not be captured because it has a status of "
                f"{pi['status']}. Only a PaymentIntent with one of the following statuses may "
                f"be captured: requires_capture.",
                code="payment_intent_unexpected_state",
            )
        amount = int(params.get("amount_to_capture", pi["amount_capturable"]))
        if not 1 <= amount <= pi["amount_capturable"]:
            raise StripeFault(
                400, "The amount to capture is more than was authorised.", param="amount"
            )
        pi.update(status="succeeded", amount_received=amount, amount_capturable=0)
        self.charges[pi["latest_charge"]].update(captured=True, amount_captured=amount)
        return self._expand(pi, params)

    def process_payment_intent(self, reader_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"payment_intent", "process_config", "expand"})
        reader = self._reader(reader_id)
        if "payment_intent" not in params:
            raise StripeFault(
                400, "Missing required param: payment_intent.", param="payment_intent"
            )
        pi = self._payment_intent(str(params["payment_intent"]), param="payment_intent")
        if reader["status"] != "online":
            raise StripeFault(
                400,
                "Reader is currently offline, please ensure the reader is powered on and "
                "connected to the internet before retrying your request.",
                code="terminal_reader_offline",
            )
        if reader["action"] is not None and reader["action"]["status"] == "in_progress":
            raise StripeFault(
                400,
                "Reader is currently busy processing another request, please try again later.",
                code="terminal_reader_busy",
            )
        if "card_present" not in pi["payment_method_types"]:
            raise StripeFault(
                400,
                "The PaymentIntent's payment_method_types must include card_present.",
                param="payment_intent",
            )
        if pi["status"] != "requires_payment_method":
            raise StripeFault(
                400,
                f"This PaymentIntent's status is {pi['status']}; a reader can only process "
                "a PaymentIntent that requires a payment method.",
                code="payment_intent_unexpected_state",
            )
        reader["action"] = {
            "type": "process_payment_intent",
            "status": "in_progress",
            "failure_code": None,
            "failure_message": None,
            "process_payment_intent": {"payment_intent": pi["id"]},
        }
        return reader

    def cancel_action(self, reader_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"expand"})
        reader = self._reader(reader_id)
        if reader["action"] is not None and reader["action"]["status"] == "in_progress":
            reader["action"] = None
        return reader

    def present_payment_method(self, reader_id: str, params: dict[str, Any]) -> dict[str, Any]:
        self._only(params, {"type", "card_present", "amount_tip", "expand"})
        reader = self._reader(reader_id)
        action = reader["action"]
        if action is None or action["status"] != "in_progress":
            raise StripeFault(
                400,
                "This reader has no action in progress that could take a payment method.",
                code="terminal_reader_invalid_state",
            )
        if params.get("type", "card_present") != "card_present":
            raise StripeFault(400, "Only type=card_present is simulated here.", param="type")
        number = str((params.get("card_present") or {}).get("number", "4242424242424242"))
        card = TEST_CARDS.get(number, LIVE_CARD)
        pi = self.payment_intents[action["process_payment_intent"]["payment_intent"]]
        pm_id = _new_id("pm")
        details = {
            "brand": card.brand,
            "cardholder_name": None,
            "country": "US",
            "exp_month": 12,
            "exp_year": 2030,
            "fingerprint": hashlib.sha256(number.encode()).hexdigest()[:16],
            "funding": card.funding,
            "last4": number[-4:],
            "network": card.brand,
            "read_method": "contactless_emv",
            "receipt": {
                "account_type": card.funding,
                "application_cryptogram": secrets.token_hex(8).upper(),
                "application_preferred_name": card.brand.upper(),
                "authorization_code": None if card.code else f"{secrets.randbelow(10**6):06d}",
                "authorization_response_code": "3035" if card.code else "3030",
                "cardholder_verification_method": "none",
                "dedicated_file_name": "A0000000031010",
                "terminal_verification_results": "0000000000",
                "transaction_status_information": "0000",
            },
        }
        manual = pi["capture_method"] == "manual"
        charge = {
            "id": _new_id("ch"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": 0 if card.code or manual else pi["amount"],
            "amount_refunded": 0,
            "captured": not (card.code or manual),
            "currency": pi["currency"],
            "failure_code": card.code,
            "failure_message": (card.message or _DECLINED) if card.code else None,
            "livemode": False,
            "outcome": {
                "type": "issuer_declined" if card.code else "authorized",
                "reason": card.decline_code,
            },
            "paid": card.code is None,
            "payment_intent": pi["id"],
            "payment_method": pm_id,
            "payment_method_details": {"type": "card_present", "card_present": details},
            "refunded": False,
            "status": "failed" if card.code else "succeeded",
        }
        self.charges[charge["id"]] = charge
        pi["latest_charge"] = charge["id"]
        if card.code is None:
            pi.update(
                status="requires_capture" if manual else "succeeded",
                amount_capturable=pi["amount"] if manual else 0,
                amount_received=0 if manual else pi["amount"],
                payment_method=pm_id,
                last_payment_error=None,
            )
            action.update(status="succeeded")
        else:
            message = card.message or _DECLINED
            pi.update(
                status="requires_payment_method",
                payment_method=None,
                last_payment_error={
                    "type": "card_error",
                    "code": card.code,
                    "decline_code": card.decline_code,
                    "message": message,
                    "charge": charge["id"],
                    "doc_url": f"https://stripe.com/docs/error-codes/{card.code.replace('_', '-')}",
                },
            )
            action.update(status="failed", failure_code=card.code, failure_message=message)
        return reader

    def app(self) -> Starlette:
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        def endpoint(handler: Any, *path_params: str) -> Any:
            async def run(request: Request) -> Response | CutAnswer:
                method, path = request.method, request.url.path
                self._arrived(method, path)
                return await answer_or_cut(
                    self.drops,
                    method,
                    path,
                    lambda: self._handle(request, handler, path_params),
                    b'{"error": "dropped"}',
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
                elif action == "reader":
                    self.set_reader(
                        str(body.get("reader", self.reader_ids[0])),
                        status=body.get("status"),
                        customer_cancel=bool(body.get("customer_cancel", False)),
                    )
                elif action != "state":
                    return JSONResponse({"error": f"unknown action {action}"}, status_code=404)
            except (KeyError, TypeError, ValueError) as err:
                return JSONResponse({"error": str(err)}, status_code=400)
            return JSONResponse(self.state())

        def pi_get(pi_id: str, params: dict[str, Any]) -> dict[str, Any]:
            self._only(params, {"expand"})
            return self._expand(self._payment_intent(pi_id), params)

        def reader_get(reader_id: str, params: dict[str, Any]) -> dict[str, Any]:
            self._only(params, {"expand"})
            return self._reader(reader_id)

        readers = "/v1/terminal/readers/{reader}"
        helpers = "/v1/test_helpers/terminal/readers/{reader}"
        return Starlette(
            routes=[
                Route(
                    "/v1/payment_intents",
                    endpoint(self.create_payment_intent),
                    methods=["POST"],
                ),
                Route("/v1/payment_intents/{pi}", endpoint(pi_get, "pi"), methods=["GET"]),
                Route("/v1/refunds", endpoint(self.create_refund), methods=["POST"]),
                Route(
                    "/v1/payment_intents/{pi}/cancel",
                    endpoint(self.cancel_payment_intent, "pi"),
                    methods=["POST"],
                ),
                Route(
                    "/v1/payment_intents/{pi}/capture",
                    endpoint(self.capture_payment_intent, "pi"),
                    methods=["POST"],
                ),
                Route(readers, endpoint(reader_get, "reader"), methods=["GET"]),
                Route(
                    f"{readers}/process_payment_intent",
                    endpoint(self.process_payment_intent, "reader"),
                    methods=["POST"],
                ),
                Route(
                    f"{readers}/cancel_action",
                    endpoint(self.cancel_action, "reader"),
                    methods=["POST"],
                ),
                Route(
                    f"{helpers}/present_payment_method",
                    endpoint(self.present_payment_method, "reader"),
                    methods=["POST"],
                ),
                Route("/_sim/{action}", control, methods=["GET", "POST"]),
            ]
        )

    async def _handle(
        self, request: Request, handler: Any, path_params: tuple[str, ...]
    ) -> Response:
        """Authenticate, decode, run ``handler`` once per idempotency key, answer as Stripe."""
        from starlette.responses import JSONResponse, Response

        def answer(status: int, body: dict[str, Any]) -> Response:
            return JSONResponse(body, status_code=status, headers={"Request-Id": _new_id("req")})

        try:
            self._authorised(request.headers.get("authorization", ""))
            if request.method == "POST":
                text = (await request.body()).decode("utf-8")
                params = decode_form(parse_qsl(text, keep_blank_values=True))
            else:
                params = decode_form(list(request.query_params.multi_items()))
            args = [request.path_params[name] for name in path_params]
            key = request.headers.get("idempotency-key")
            if request.method != "POST" or not key:
                return answer(200, handler(*args, params))
            stored = self._idempotent.get(f"{self.api_key}:{key}")
            if stored is not None:
                if (stored.method, stored.path, stored.params) != (
                    request.method,
                    request.url.path,
                    params,
                ):
                    raise StripeFault(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters "
                        "they were first used with. Try using a key other than "
                        f"'{key}' if you meant to execute a different request.",
                        type_="idempotency_error",
                    )
                return Response(
                    stored.body,
                    status_code=stored.status,
                    media_type="application/json",
                    headers={"Idempotent-Replayed": "true", "Request-Id": _new_id("req")},
                )
            response = answer(200, handler(*args, params))
            self._idempotent[f"{self.api_key}:{key}"] = _Stored(
                request.method, request.url.path, params, 200, bytes(response.body)
            )
            return response
        except StripeFault as fault:
            return answer(fault.status, {"error": fault.body})
        except UnicodeDecodeError:
            bad = StripeFault(400, "The request body is not UTF-8.")
            return answer(bad.status, {"error": bad.body})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3005)
    parser.add_argument(
        "--api-key", default=DEFAULT_KEY, help=f"the key clients must send (default {DEFAULT_KEY})"
    )
    parser.add_argument(
        "--reader",
        action="append",
        metavar="ID",
        help=f"a simulated reader's id, repeatable (default {DEFAULT_READER})",
    )


def run(args: argparse.Namespace) -> int:
    readers = tuple(args.reader) if args.reader else (DEFAULT_READER,)
    for reader in readers:
        if not reader.startswith("tmr_"):
            print(f"error: a reader id starts with tmr_, got {reader!r}", file=sys.stderr)
            return 2
    sim = StripeSim(api_key=args.api_key, reader_ids=readers)

    def announce(url: str) -> list[str]:
        return [
            f"stripe simulator on {url} (readers {', '.join(sim.reader_ids)}); "
            "tap a card: POST /v1/test_helpers/terminal/readers/<id>/present_payment_method "
            "card_present[number]=4242424242424242; faults: POST /_sim/drop, /_sim/reader",
            # A simulator's key, not a secret: printed so a kiosk can be pointed at this server.
            f"BITAGORA_CARD_KIND=stripe_terminal BITAGORA_CARD_API_BASE={url} "
            f"BITAGORA_CARD_READER_ID={sim.reader_ids[0]} BITAGORA_CARD_API_KEY={sim.api_key}",
        ]

    return run_http(
        "the Stripe simulator",
        lambda start: serve_until_stopped(start, sim.app(), args.host, args.port, announce),
    )
