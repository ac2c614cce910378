"""Mercado Pago payments through its Orders API (``/v1/orders``): a card on the shop's Point
device (``type: point``), or an in-store dynamic QR code shown on the kiosk (``type: qr``; paid
with the Mercado Pago app, or Pix in Brazil). Both are one order with one payment, followed the
same way; only what the customer does differs.

One attempt at taking an amount (a sale's total, or a split part):

1. ``start``: record the attempt (store.mercadopago, before anything is sent), then create the
   order. Every write carries ``X-Idempotency-Key`` made of the sale id, the attempt number and
   the step (``idempotency_key``), so sending it again after a lost answer or a restart gets
   Mercado Pago's first order: never a second order or a second charge.
2. ``poll`` / ``wait``: the order's status says how it ended: ``processed`` (paid), ``failed``
   (declined; its payment's ``status_detail`` in words), ``canceled``, ``expired``; ``created``
   and ``at_terminal`` mean the customer has not paid yet. ``wait`` polls every
   ``mercadopago.poll_s`` and, for a Point order, cancels it after ``point_wait_s``; a QR order
   expires at Mercado Pago after ``qr_wait_s`` (its ``expiration_time``).
3. ``cancel``: ``POST /v1/orders/{id}/cancel``. If the customer paid in the same moment, the
   answer is that success: the caller must look at the outcome it returns.
4. ``refund``: ``POST /v1/orders/{id}/refund``, whole or part of the order's payment.

The calls go through the official ``mercadopago`` SDK (its ``Order``, ``Payment``, ``Point``
and ``User`` resources), which is synchronous: each call runs in a worker thread. The SDK's
base URL is fixed, so it gets an HTTP client that sends to ``mercadopago.api_base`` (the
simulator in tests and the demo) and does no retries of its own: ``_call`` retries with the
same idempotency key.

Card data: the order says the card's brand; the till reads the payment
(``GET /v1/payments/{reference_id}``) for the last four digits and the authorisation code, and
keeps only those three for the receipt (left out of ``repr``, never logged); the first six
digits and the cardholder are never read. The access token is never logged nor part of any
``repr`` or error message.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import aiosqlite
import requests

from appliance.config import MercadoPagoSettings
from appliance.payments.card_types import idempotency_key
from appliance.payments.mercadopago_types import (
    ASK_ANOTHER,
    MercadoPagoAuthError,
    MercadoPagoError,
    MercadoPagoMethod,
    MercadoPagoNetworkError,
    MercadoPagoUnavailable,
    OrderAttempt,
    OrderOutcome,
    OrderStatus,
    status_detail_words,
)
from appliance.store import mercadopago as attempt_store
from appliance.store.mercadopago import AttemptRow
from bitagora_protocol.money import Money

__all__ = [
    "MercadoPagoApi",
    "MercadoPagoAuthError",
    "MercadoPagoError",
    "MercadoPagoMethod",
    "MercadoPagoNetworkError",
    "MercadoPagoPayments",
    "MercadoPagoUnavailable",
    "OrderAttempt",
    "OrderOutcome",
    "OrderStatus",
]

log = logging.getLogger(__name__)
# The SDK and urllib3 log request lines; the Authorization header never, but keep them quiet.
logging.getLogger("urllib3").setLevel(logging.WARNING)

MERCADOPAGO_API = "https://api.mercadopago.com"
RETRY_MIN_S = 0.2
RETRY_MAX_S = 2.0


_STATE_OF = {
    OrderStatus.PAID: "paid",
    OrderStatus.DECLINED: "declined",
    OrderStatus.CANCELLED: "cancelled",
    OrderStatus.EXPIRED: "expired",
}


def _http_client(api_base: str) -> Any:
    """The SDK's HTTP client, sending to ``api_base`` instead of Mercado Pago's fixed URL and
    never retrying by itself (``MercadoPagoPayments._call`` retries with the same key)."""
    from mercadopago.http.http_client import HttpClient

    base = api_base.rstrip("/")

    class ApiBaseClient(HttpClient):  # type: ignore[misc]
        def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            if url.startswith(MERCADOPAGO_API):
                url = base + url[len(MERCADOPAGO_API) :]
            kwargs.update(maxretries=0, retry_on=(), backoff_factor=0)
            return super().request(method, url, **kwargs)

    return ApiBaseClient()


class MercadoPagoApi:
    """The calls to Mercado Pago's API that this till makes, through the SDK, with the access
    token of ``settings``: what the doctor checks and what the payments build on."""

    def __init__(self, settings: MercadoPagoSettings) -> None:
        if not settings.enabled:
            raise MercadoPagoUnavailable(
                "Mercado Pago is not set up on this till ([mercadopago] point_terminal_id or "
                "qr_external_pos_id)."
            )
        import mercadopago

        self._settings = settings
        self._sdk = mercadopago.SDK(
            settings.access_token.strip(), http_client=_http_client(settings.api_base)
        )

    def __repr__(self) -> str:
        s = self._settings
        return (
            f"{type(self).__name__}(point_terminal_id={s.point_terminal_id!r}, "
            f"qr_external_pos_id={s.qr_external_pos_id!r}, api_base={s.api_base!r})"
        )

    # -- checks -----------------------------------------------------------------------------

    async def account(self) -> dict[str, Any]:
        """The account the access token belongs to (``GET /users/me``): the token works."""
        return await self._call("get user", lambda options: self._sdk.user().get(options))

    async def point_device(self) -> dict[str, Any]:
        """The Point device as Mercado Pago lists it (with its ``operating_mode``); raises
        MercadoPagoUnavailable when the account has no such device."""
        listed = await self._call(
            "list devices", lambda options: self._sdk.point().get_devices(None, options)
        )
        wanted = self._settings.point_terminal_id.strip()
        for device in listed.get("devices") or []:
            if device.get("id") == wanted:
                return dict(device)
        raise MercadoPagoUnavailable(
            f"Mercado Pago does not list the Point device {wanted} on this account "
            "(mercadopago.point_terminal_id)."
        )

    async def _call(
        self, what: str, request: Callable[[Any], Any], key: str | None = None
    ) -> dict[str, Any]:
        """One API call in a worker thread, sent again (with the same ``key``) while Mercado
        Pago cannot be reached or answers 429/5xx, up to ``mercadopago.retries`` times."""
        from mercadopago.config import RequestOptions

        options = RequestOptions(
            access_token=self._settings.access_token.strip(),
            connection_timeout=float(self._settings.timeout_s),
            custom_headers={"x-idempotency-key": key} if key else None,
            max_retries=0,
        )
        delay = RETRY_MIN_S
        for number in range(self._settings.retries + 1):
            try:
                answer = await asyncio.to_thread(request, options)
            except requests.RequestException as err:
                failure = type(err).__name__  # no answer (the message may name the URL only)
            except Exception as err:  # the SDK's own: an answer it could not read
                failure = type(err).__name__
            else:
                status = int(answer.get("status", 0))
                body = answer.get("response")
                if 200 <= status < 300 and isinstance(body, dict):
                    return body
                if status in (401, 403):
                    raise MercadoPagoAuthError(
                        "Mercado Pago refused the access token (mercadopago.access_token): "
                        "check it in Your integrations → Credentials, or a new one may be needed."
                    )
                if status == 409 and what == "create order":
                    raise MercadoPagoUnavailable(
                        "The Point device is busy with another payment: finish or cancel it "
                        "on the device."
                    )
                if status == 404 and what == "create order":
                    raise MercadoPagoUnavailable(
                        "Mercado Pago does not know this till's Point device or QR point of sale"
                        " (mercadopago.point_terminal_id / qr_external_pos_id)."
                    )
                if status < 500 and status != 429:
                    raise _Refused(status, _error_text(body))
                failure = f"HTTP {status}"
            if number < self._settings.retries:
                log.warning(
                    "mercadopago: request failed, sending it again",
                    extra={"call": what, "try": number + 1, "error": failure},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        raise MercadoPagoNetworkError(
            "Mercado Pago cannot be reached: check the till's network connection."
        )


class MercadoPagoPayments(MercadoPagoApi):
    """Mercado Pago payments for this till's Point device and QR POS; attempts in ``conn``."""

    def __init__(self, settings: MercadoPagoSettings, conn: aiosqlite.Connection) -> None:
        super().__init__(settings)
        self._conn = conn

    @property
    def methods(self) -> frozenset[MercadoPagoMethod]:
        """The methods this till offers (a Point device, a QR POS, or both)."""
        offered = set()
        if self._settings.point:
            offered.add(MercadoPagoMethod.POINT)
        if self._settings.qr:
            offered.add(MercadoPagoMethod.QR)
        return frozenset(offered)

    # -- the payment ------------------------------------------------------------------------

    async def start(
        self, method: MercadoPagoMethod, sale_id: str, amount: Money, description: str
    ) -> OrderAttempt:
        """Create the order for ``amount``: on the Point device, or as a QR code to show.
        An attempt of this sale left open by a lost answer is created again first, with its own
        key (so it is found, not doubled); if it is still waiting it is returned as it is.
        Raises ``MercadoPagoUnavailable`` (device busy or unknown: the attempt is closed),
        ``MercadoPagoAuthError``, or ``MercadoPagoNetworkError`` (the attempt stays open)."""
        if method not in self.methods:
            raise MercadoPagoUnavailable(f"{method} is not set up on this till.")
        if amount.minor <= 0:
            raise ValueError(f"a Mercado Pago payment needs a positive amount, got {amount}")
        for row in await attempt_store.open_attempts(self._conn, sale_id):
            if (row.method, row.amount_minor, row.currency) == (
                method,
                amount.minor,
                amount.currency,
            ):
                return await self._create(row, description)
            raise MercadoPagoError(
                f"A Mercado Pago payment of {Money(row.amount_minor, row.currency)} for this "
                "sale is still open: cancel it first."
            )
        row = await attempt_store.open_attempt(
            self._conn,
            sale_id=sale_id,
            method=method,
            amount_minor=amount.minor,
            currency=amount.currency,
        )
        return await self._create(row, description)

    def _order_body(self, row: AttemptRow, description: str) -> dict[str, Any]:
        amount = Money(row.amount_minor, row.currency).decimal()
        body: dict[str, Any] = {
            "type": "point" if row.method == MercadoPagoMethod.POINT else "qr",
            "external_reference": row.sale_id,
            "transactions": {"payments": [{"amount": amount}]},
        }
        if row.method == MercadoPagoMethod.POINT:
            body["config"] = {
                "point": {
                    "terminal_id": self._settings.point_terminal_id.strip(),
                    "print_on_terminal": "no_ticket",  # the till prints the receipt
                }
            }
        else:
            body["total_amount"] = amount
            body["description"] = description
            body["expiration_time"] = f"PT{self._settings.qr_wait_s}S"
            body["config"] = {
                "qr": {
                    "external_pos_id": self._settings.qr_external_pos_id.strip(),
                    "mode": "dynamic",
                }
            }
        return body

    async def _create(self, row: AttemptRow, description: str) -> OrderAttempt:
        """Create (or, with the same key, find again) the attempt's order."""
        method = MercadoPagoMethod(row.method)
        # The description is not part of a Point order, and a QR order's is the shop's name:
        # what is resent after a restart is the same body, so the key finds the first order.
        body = self._order_body(row, description or "BitAgora")
        key = idempotency_key(row.sale_id, row.attempt, "create")
        try:
            order = await self._call(
                "create order", lambda options: self._sdk.order().create(body, options), key
            )
        except MercadoPagoNetworkError:
            raise  # it may have reached Mercado Pago: the attempt stays open
        except MercadoPagoError as err:
            await attempt_store.set_state(
                self._conn, row.sale_id, row.attempt, "failed", reason=type(err).__name__
            )
            raise
        await attempt_store.set_order(self._conn, row.sale_id, row.attempt, str(order["id"]))
        attempt = OrderAttempt(
            sale_id=row.sale_id,
            number=row.attempt,
            method=method,
            order_id=str(order["id"]),
            amount=Money(row.amount_minor, row.currency),
            wait_s=(
                self._settings.point_wait_s
                if method is MercadoPagoMethod.POINT
                else self._settings.qr_wait_s
            ),
            qr_data=str((order.get("type_response") or {}).get("qr_data", "")),
        )
        log.info(
            "mercadopago order created",
            extra={**_ids(attempt), "amount_minor": row.amount_minor, "currency": row.currency},
        )
        return attempt

    async def poll(self, attempt: OrderAttempt) -> OrderOutcome:
        """Look once: ``waiting`` while the customer has not paid, else the outcome (recorded)."""
        order = await self._call(
            "get order", lambda options: self._sdk.order().get(attempt.order_id, options)
        )
        return await self._settle(attempt, await self._outcome(attempt, order))

    async def wait(self, attempt: OrderAttempt, *, timeout_s: float | None = None) -> OrderOutcome:
        """Poll until the attempt has an outcome. A Point order still waiting after
        ``timeout_s`` (default ``point_wait_s``) is cancelled (whose outcome may still be a
        payment that came in at the last moment); a QR order ends by its own expiry, and is
        cancelled if Mercado Pago has not said so a little after it. Network trouble while
        waiting is retried until the deadline."""
        loop = asyncio.get_running_loop()
        grace = 0 if attempt.method is MercadoPagoMethod.POINT else 2 * self._settings.poll_s + 5
        limit = (attempt.wait_s + grace) if timeout_s is None else timeout_s
        deadline = loop.time() + limit
        while True:
            try:
                outcome = await self.poll(attempt)
            except MercadoPagoNetworkError:
                log.warning("mercadopago: unreachable while waiting", extra=_ids(attempt))
            else:
                if outcome.done:
                    return outcome
            if loop.time() >= deadline:
                log.info("mercadopago: not paid in time, cancelling", extra=_ids(attempt))
                return await self.cancel(attempt, expired=True)
            await asyncio.sleep(self._settings.poll_s)

    async def cancel(self, attempt: OrderAttempt, *, expired: bool = False) -> OrderOutcome:
        """Cancel the order. Returns the outcome, which is ``paid`` if the customer paid before
        the cancel arrived (Mercado Pago refuses to cancel a processed order)."""
        try:
            order = await self._call(
                "cancel order",
                lambda options: self._sdk.order().cancel(attempt.order_id, options),
                attempt.key("cancel"),
            )
        except _Refused as err:
            if err.status != 409:
                raise MercadoPagoError(f"Mercado Pago refused to cancel: {err}") from None
            order = await self._call(  # it ended meanwhile: say how
                "get order", lambda options: self._sdk.order().get(attempt.order_id, options)
            )
        outcome = await self._outcome(attempt, order)
        if expired and outcome.status is OrderStatus.CANCELLED:
            outcome = _ended(attempt, OrderStatus.EXPIRED, "expired")
        if not outcome.done:
            raise MercadoPagoError(f"The order is {order.get('status')}; it was not cancelled.")
        return await self._settle(attempt, outcome)

    async def refund(self, refund_id: str, order_id: str, amount: Money | None) -> dict[str, Any]:
        """Give ``amount`` of ``order_id``'s payment back (None: all of it). The idempotency key
        is made of ``refund_id`` and the order (hashed, to fit Mercado Pago's 64 characters), so
        the same refund sent again gets the first answer: the customer is refunded once.
        Returns ``{"id", "status"}``; MercadoPagoError in words when Mercado Pago refuses
        (already refunded, more than was paid)."""
        body: dict[str, Any] | None = None
        if amount is not None:
            order = await self._call(
                "get order", lambda options: self._sdk.order().get(order_id, options)
            )
            payment = order["transactions"]["payments"][0]
            body = {"transactions": [{"id": payment["id"], "amount": amount.decimal()}]}
        key = (
            "bitagora-refund-" + hashlib.sha256(f"{refund_id}/{order_id}".encode()).hexdigest()[:40]
        )
        try:
            answer = await self._call(
                "refund order",
                lambda options: self._sdk.order().refund(order_id, body, options),
                key,
            )
        except _Refused as err:
            raise MercadoPagoError(f"Mercado Pago refused the refund: {err}") from None
        refunds = (answer.get("transactions") or {}).get("refunds") or []
        if not refunds:
            raise MercadoPagoError("Mercado Pago answered the refund without a refund.")
        return {"id": str(refunds[-1]["id"]), "status": str(refunds[-1].get("status", ""))}

    # -- helpers ----------------------------------------------------------------------------

    async def _outcome(self, attempt: OrderAttempt, order: dict[str, Any]) -> OrderOutcome:
        status = order.get("status")
        payments = (order.get("transactions") or {}).get("payments") or [{}]
        payment = payments[0]
        if status in ("processed", "refunded"):
            return await self._paid(attempt, payment)
        if status == "failed":
            detail = payment.get("status_detail") or order.get("status_detail")
            return _ended(
                attempt,
                OrderStatus.DECLINED,
                detail,
                f"Declined: {status_detail_words(detail)} {ASK_ANOTHER}",
            )
        if status == "canceled":
            return _ended(attempt, OrderStatus.CANCELLED, "canceled")
        if status == "expired":
            return _ended(attempt, OrderStatus.EXPIRED, "expired")
        waiting = (
            "Waiting for the card on the Point device."
            if attempt.method is MercadoPagoMethod.POINT
            else "Waiting for the customer to scan and pay."
        )
        return OrderOutcome(OrderStatus.WAITING, waiting, attempt.method, attempt.order_id)

    async def _paid(self, attempt: OrderAttempt, payment: dict[str, Any]) -> OrderOutcome:
        """A processed order's outcome, with what the receipt may show of the card."""
        brand = (payment.get("payment_method") or {}).get("id")
        reference = payment.get("reference_id")
        last4 = auth_code = None
        if attempt.method is MercadoPagoMethod.POINT and reference:
            try:
                details = await self._call(
                    "get payment",
                    lambda options: self._sdk.payment().get(reference, options),
                )
            except MercadoPagoError:  # the money is taken: the receipt shows less
                log.warning("mercadopago: payment details not read", extra=_ids(attempt))
            else:
                brand = details.get("payment_method_id") or brand
                last4 = (details.get("card") or {}).get("last_four_digits")
                auth_code = details.get("authorization_code")
        shown = f"{str(brand).upper()} " if brand else ""
        return OrderOutcome(
            status=OrderStatus.PAID,
            message=f"Paid with Mercado Pago {shown}".rstrip() + ".",
            method=attempt.method,
            order_id=attempt.order_id,
            amount=attempt.amount,
            payment_id=str(reference) if reference else None,
            brand=str(brand) if brand else None,
            last4=str(last4) if last4 else None,
            auth_code=str(auth_code) if auth_code else None,
        )

    async def _settle(self, attempt: OrderAttempt, outcome: OrderOutcome) -> OrderOutcome:
        state = _STATE_OF.get(outcome.status)
        if state is None:
            return outcome
        reason = None if outcome.paid else outcome.status_detail
        if await attempt_store.set_state(
            self._conn, attempt.sale_id, attempt.number, state, reason=reason
        ):
            log.info(
                "mercadopago payment %s",
                outcome.status.value,
                extra=_ids(attempt, status=outcome.status.value, reason=reason),
            )
        return outcome


class _Refused(MercadoPagoError):
    """Mercado Pago answered a request with a 4xx; ``status`` says which."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error_text(body: Any) -> str:
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or errors[0].get("code") or "refused")
        if "message" in body:
            return str(body["message"])
    return "refused"


def _ended(
    attempt: OrderAttempt, status: OrderStatus, detail: str | None, message: str | None = None
) -> OrderOutcome:
    words = {
        OrderStatus.CANCELLED: "The Mercado Pago payment was cancelled.",
        OrderStatus.EXPIRED: "Nothing was paid in time; the Mercado Pago payment expired.",
    }
    return OrderOutcome(
        status=status,
        message=message or words.get(status, status.value),
        method=attempt.method,
        order_id=attempt.order_id,
        status_detail=detail,
    )


def _ids(attempt: OrderAttempt, **more: Any) -> dict[str, Any]:
    return {
        "sale_id": attempt.sale_id,
        "attempt": attempt.number,
        "order_id": attempt.order_id,
        "method": attempt.method.value,
        **more,
    }
