"""Card payments on a Stripe Terminal smart reader, server-driven: the till talks to Stripe's API
only, and the reader (on the shop's network, paired with Stripe) takes the card.

One attempt at taking a sale's total:

1. ``start``: record the attempt (store.card, before anything is sent), create a PaymentIntent
   for ``card_present`` (``capture_method`` from ``card.capture``), then ask the reader to
   ``process_payment_intent``. Every POST carries an idempotency key made of the sale id, the
   attempt number and the step (``idempotency_key``), so sending it again after a network error
   or a restart gets Stripe's first answer: never a second PaymentIntent or a second charge.
2. ``poll`` / ``wait``: the PaymentIntent says how it ended (``succeeded``, ``requires_capture``,
   ``canceled``, or back to ``requires_payment_method`` with ``last_payment_error`` after a
   decline); while it has not, the reader's action says whether the card is still awaited.
   ``wait`` polls every ``card.poll_s`` until an outcome, and after ``card.wait_s`` cancels.
3. ``cancel``: ``cancel_action`` on the reader, then cancel the PaymentIntent. If the customer's
   card went through in the same moment, the answer is that success: a cancel can come too late,
   and the caller must look at the outcome it returns.
4. Manual capture: ``wait`` captures an approved PaymentIntent itself unless asked not to
   (``capture=False``: it returns ``authorized`` and the caller captures with ``capture`` once
   the sale is committed, or releases the hold with ``cancel``).

A declined or failed attempt's PaymentIntent is cancelled (nothing more can happen on it); the
next try for the same sale is a new attempt with its own PaymentIntent and keys.

Card data: the till never sees a card number; Stripe's answers carry the card's brand, last four
digits, expiry and fingerprint. Only the brand and the last four digits are kept, for the
receipt (the masked form card schemes want on a cardholder receipt, which PCI DSS allows to be
shown), with the EMV application name and AID the receipt needs. They are left out of ``repr``
and never logged; the expiry, fingerprint and cardholder name are never read. The stripe
library's own logger (``stripe``), which writes whole response bodies at DEBUG, is held at
WARNING here. The API key is never logged nor part of any ``repr`` or error message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import aiosqlite
import httpx
import stripe

from appliance.config import CardSettings
from appliance.payments.card_types import (
    CardAttempt,
    CardAuthError,
    CardError,
    CardNetworkError,
    CardOutcome,
    CardStatus,
    CardUnavailable,
    idempotency_key,
)
from appliance.store import card as card_store
from appliance.store.card import AttemptRow
from bitagora_protocol.money import Money

__all__ = [
    "CardAttempt",
    "CardAuthError",
    "CardError",
    "CardNetworkError",
    "CardOutcome",
    "CardPayments",
    "CardStatus",
    "CardUnavailable",
    "idempotency_key",
]

log = logging.getLogger(__name__)
# Response bodies (a charge's card details) are logged by the library at DEBUG: never ours.
logging.getLogger("stripe").setLevel(logging.WARNING)

T = TypeVar("T")

RETRY_MIN_S = 0.2
RETRY_MAX_S = 2.0

ASK_ANOTHER = "Ask for another card or another way to pay."
_GENERIC = "The card was declined."
_CALL_BANK = "The bank declined the card; the customer should call their bank."
_TRY_AGAIN = "The card could not be processed. Try again."
_LIMIT = "The card's limit has been reached."
_NOT_ALLOWED = "The card does not allow this kind of purchase."
_PIN = "The card needs its PIN: insert the card and enter the PIN."
# Stripe's decline codes in words for the till's screen. Codes that point at fraud, a lost or
# stolen card are shown as a plain decline, as Stripe advises (the customer is in front of the
# screen); the code itself stays in the outcome for the manager.
DECLINE_WORDS: dict[str, str] = {
    "approve_with_id": "The bank could not approve the payment now. Try once more.",
    "authentication_required": _PIN,
    "call_issuer": _CALL_BANK,
    "card_declined": _GENERIC,
    "card_not_supported": _NOT_ALLOWED,
    "card_velocity_exceeded": _LIMIT,
    "currency_not_supported": "The card cannot pay in this currency.",
    "do_not_honor": _GENERIC,
    "do_not_try_again": "The bank declined the card; do not try this card again.",
    "duplicate_transaction": "The same amount was just paid with this card; check first.",
    "expired_card": "The card has expired.",
    "fraudulent": _GENERIC,
    "generic_decline": _GENERIC,
    "incorrect_cvc": "The card's security code is wrong.",
    "incorrect_number": "The card number is wrong.",
    "incorrect_pin": "The PIN was wrong.",
    "incorrect_zip": "The postal code is wrong.",
    "insufficient_funds": "The card has insufficient funds.",
    "invalid_account": "The card's account is not valid.",
    "invalid_amount": "The amount is not allowed for this card.",
    "invalid_cvc": "The card's security code is wrong.",
    "invalid_expiry_month": "The card's expiry date is wrong.",
    "invalid_expiry_year": "The card's expiry date is wrong.",
    "invalid_number": "The card number is wrong.",
    "invalid_pin": "The PIN was wrong.",
    "issuer_not_available": "The card's bank could not be reached. Try again.",
    "lost_card": _GENERIC,
    "merchant_blacklist": _GENERIC,
    "new_account_information_available": "The card's account is not valid.",
    "no_action_taken": _GENERIC,
    "not_permitted": _NOT_ALLOWED,
    "offline_pin_required": _PIN,
    "online_or_offline_pin_required": _PIN,
    "pickup_card": _GENERIC,
    "pin_try_exceeded": "The PIN was entered wrong too often; this card cannot be used now.",
    "processing_error": _TRY_AGAIN,
    "reenter_transaction": _TRY_AGAIN,
    "restricted_card": _GENERIC,
    "revocation_of_all_authorizations": _CALL_BANK,
    "revocation_of_authorization": _CALL_BANK,
    "security_violation": _GENERIC,
    "service_not_allowed": _NOT_ALLOWED,
    "stolen_card": _GENERIC,
    "stop_payment_order": _CALL_BANK,
    "test_mode_live_card": "A real card on a till set up with a test key: nothing was charged.",
    "testmode_decline": "A real card on a till set up with a test key: nothing was charged.",
    "transaction_not_allowed": _NOT_ALLOWED,
    "try_again_later": "The card was declined for now. Try again.",
    "withdrawal_count_limit_exceeded": _LIMIT,
}
# Why a reader gave up without a decline (its action's failure_code).
READER_FAILURE_WORDS: dict[str, str] = {
    "customer_canceled": "The customer cancelled the payment on the reader.",
    "terminal_reader_timeout": "The reader did not answer in time.",
    "payment_intent_canceled": "The payment was cancelled.",
}
# Receipt fields of a card_present charge that a cardholder receipt shows (EMV).
RECEIPT_FIELDS = (
    ("application_preferred_name", "Application"),
    ("dedicated_file_name", "AID"),
    ("account_type", "Account"),
    ("authorization_code", "Auth code"),
)


def decline_words(code: str | None) -> str:
    """A Stripe decline code (or error code) in words, for the screen."""
    return DECLINE_WORDS.get(code or "", _GENERIC)


_STATE_OF = {
    CardStatus.AUTHORIZED: "authorized",
    CardStatus.SUCCEEDED: "succeeded",
    CardStatus.DECLINED: "declined",
    CardStatus.CANCELLED: "cancelled",
    CardStatus.FAILED: "failed",
}


class _HttpxClient(stripe.HTTPClient):
    """The stripe library's async transport on our own ``httpx.AsyncClient`` (the library's
    documented extension point), with the library's own retries off: ``CardPayments`` retries
    with its own keys and backoff, and can be cancelled while it waits."""

    name = "httpx"

    def __init__(self, client: httpx.AsyncClient) -> None:
        super().__init__()
        self._client = client

    async def request_async(
        self, method: str, url: str, headers: Mapping[str, str], post_data: Any = None
    ) -> tuple[bytes, int, Mapping[str, str]]:
        try:
            response = await self._client.request(
                method, url, headers=dict(headers), content=post_data
            )
        except httpx.TransportError as err:
            # The message names the kind of failure only (never the request's headers).
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"Stripe could not be reached ({type(err).__name__})", should_retry=True
            ) from None
        return response.content, response.status_code, response.headers

    async def close_async(self) -> None:
        pass  # the client belongs to CardPayments

    def close(self) -> None:
        pass

    def sleep_async(self, secs: float) -> Awaitable[None]:
        return asyncio.sleep(secs)


def make_client(settings: CardSettings, http: httpx.AsyncClient) -> stripe.StripeClient:
    """A ``StripeClient`` for ``settings`` that sends through ``http`` (async methods only)."""
    return stripe.StripeClient(
        settings.api_key.strip(),
        base_addresses={"api": settings.api_base.rstrip("/")},
        http_client=_HttpxClient(http),
        max_network_retries=0,
    )


class CardPayments:
    """Card payments on the reader ``settings.reader_id``; attempts recorded in ``conn``."""

    def __init__(
        self,
        settings: CardSettings,
        conn: aiosqlite.Connection,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not settings.enabled:
            raise CardUnavailable("Card payments are not set up on this till ([card] kind).")
        self._settings = settings
        self._conn = conn
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_s))
        self._stripe = make_client(settings, self._http)

    def __repr__(self) -> str:
        s = self._settings
        return f"CardPayments(reader_id={s.reader_id!r}, api_base={s.api_base!r})"

    async def close(self) -> None:
        if self._own_http:
            await self._http.aclose()

    async def __aenter__(self) -> CardPayments:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- the payment ------------------------------------------------------------------------

    async def start(
        self, sale_id: str, amount: Money, description: str, *, cart: str | None = None
    ) -> CardAttempt:
        """Show ``amount`` on the reader and let it take a card. Raises ``CardUnavailable``
        (reader offline/busy/unknown: nothing can be charged, the attempt is closed),
        ``CardAuthError``, or ``CardNetworkError`` (the attempt stays open: poll or cancel).
        ``cart``: the sale's cart as JSON, kept with the attempt for a restart to finish it."""
        if amount.minor <= 0:
            raise ValueError(f"a card payment needs a positive amount, got {amount}")
        try:
            row = await card_store.open_attempt(
                self._conn,
                sale_id=sale_id,
                reader_id=self._settings.reader_id,
                amount_minor=amount.minor,
                currency=amount.currency,
                description=description,
                capture=self._settings.capture,
                cart_json=cart,
            )
        except ValueError as err:
            raise CardError(f"A card payment for this sale is still open ({err}).") from None
        attempt = await self._create(row)
        log.info(
            "card payment started",
            extra={
                "sale_id": sale_id,
                "attempt": attempt.number,
                "payment_intent": attempt.payment_intent,
                "amount_minor": amount.minor,
                "currency": amount.currency,
            },
        )
        try:
            await self._call(
                "process_payment_intent",
                lambda: self._stripe.v1.terminal.readers.process_payment_intent_async(
                    attempt.reader_id,
                    {"payment_intent": attempt.payment_intent},
                    {"idempotency_key": attempt.key("process")},
                ),
                attempt,
            )
        except stripe.InvalidRequestError as err:
            message = _reader_refusal(err, attempt.reader_id)
            await self._abandon(attempt, err.code or "reader_refused")
            raise CardUnavailable(message) from None
        except CardAuthError:
            await self._abandon(attempt, "not_permitted")
            raise
        return attempt

    async def _create(self, row: AttemptRow) -> CardAttempt:
        """Create (or, with the same key, find again) the attempt's PaymentIntent."""
        key = idempotency_key(row.sale_id, row.attempt, "create")
        try:
            pi = await self._call(
                "create payment_intent",
                lambda: self._stripe.v1.payment_intents.create_async(
                    {
                        "amount": row.amount_minor,
                        "currency": row.currency.lower(),
                        "allowed_payment_method_types": ["card_present"],
                        "capture_method": "manual" if row.capture == "manual" else "automatic",
                        "description": row.description,
                        "metadata": {"sale_id": row.sale_id, "attempt": str(row.attempt)},
                    },
                    {"idempotency_key": key},
                ),
            )
        except CardNetworkError:
            raise  # it may have reached Stripe: the attempt stays open, to be created again
        except (CardError, stripe.StripeError) as err:
            reason = getattr(err, "code", None) or type(err).__name__
            await card_store.set_state(
                self._conn, row.sale_id, row.attempt, "failed", reason=reason
            )
            if isinstance(err, stripe.InvalidRequestError):
                raise CardError(f"Stripe refused the payment: {err.user_message}") from None
            raise
        await card_store.set_payment_intent(self._conn, row.sale_id, row.attempt, pi.id)
        return CardAttempt(
            sale_id=row.sale_id,
            number=row.attempt,
            payment_intent=pi.id,
            reader_id=row.reader_id,
            amount=Money(row.amount_minor, row.currency),
            capture=row.capture,
        )

    async def poll(self, attempt: CardAttempt, *, capture: bool = True) -> CardOutcome:
        """Look once: ``waiting`` while the reader waits for the card, else the outcome (which is
        recorded). With manual capture and ``capture``, an approval is captured here."""
        pi = await self._retrieve(attempt)
        outcome = self._from_payment_intent(attempt, pi)
        if outcome is None:
            reader = await self._call(
                "retrieve reader",
                lambda: self._stripe.v1.terminal.readers.retrieve_async(attempt.reader_id),
                attempt,
            )
            outcome = self._from_reader(attempt, reader)
            if outcome.status is CardStatus.FAILED:
                # A decline between the two looks shows on the reader first: the PaymentIntent
                # has its reason.
                pi = await self._retrieve(attempt)
                outcome = self._from_payment_intent(attempt, pi) or outcome
        if outcome.status is CardStatus.AUTHORIZED and capture:
            return await self.capture(attempt)
        return await self._settle(attempt, outcome)

    async def wait(
        self, attempt: CardAttempt, *, timeout_s: float | None = None, capture: bool = True
    ) -> CardOutcome:
        """Poll until the attempt has an outcome; after ``timeout_s`` (default ``card.wait_s``)
        cancel it (whose outcome may still be a success that came in at the last moment).
        Network trouble while waiting is retried until the deadline. Cancelling the task that
        waits leaves the attempt on the reader: call ``cancel`` for that."""
        loop = asyncio.get_running_loop()
        limit = self._settings.wait_s if timeout_s is None else timeout_s
        deadline = loop.time() + limit
        while True:
            try:
                outcome = await self.poll(attempt, capture=capture)
            except CardNetworkError:
                log.warning("card payment: Stripe unreachable while waiting", extra=_ids(attempt))
            else:
                if outcome.done:
                    return outcome
            if loop.time() >= deadline:
                log.info("card payment: no card in time, cancelling", extra=_ids(attempt))
                return await self.cancel(attempt, reason="abandoned")
            await asyncio.sleep(self._settings.poll_s)

    async def cancel(
        self, attempt: CardAttempt, *, reason: str = "requested_by_customer"
    ) -> CardOutcome:
        """Stop the attempt: clear the reader, cancel the PaymentIntent (releasing a manual
        capture's hold). Returns the outcome, which is ``succeeded`` if the card went through
        before the cancel arrived."""
        try:
            reader = await self._call(
                "retrieve reader",
                lambda: self._stripe.v1.terminal.readers.retrieve_async(attempt.reader_id),
                attempt,
            )
            if _action_is_ours(reader, attempt, "in_progress"):
                await self._call(
                    "cancel_action",
                    lambda: self._stripe.v1.terminal.readers.cancel_action_async(
                        attempt.reader_id, options={"idempotency_key": attempt.key("unprocess")}
                    ),
                    attempt,
                )
        except stripe.InvalidRequestError as err:
            # The PaymentIntent decides below; a reader that is gone must not stop a cancel.
            log.warning("card payment: reader not cleared", extra=_ids(attempt, code=err.code))
        try:
            pi = await self._call(
                "cancel payment_intent",
                lambda: self._stripe.v1.payment_intents.cancel_async(
                    attempt.payment_intent,
                    {"cancellation_reason": reason, "expand": ["latest_charge"]},
                    {"idempotency_key": attempt.key(f"cancel-{reason}")},
                ),
                attempt,
            )
        except stripe.InvalidRequestError as err:
            if err.code != "payment_intent_unexpected_state":
                raise CardError(f"Stripe refused to cancel: {err.user_message}") from None
            pi = await self._retrieve(attempt)  # it ended meanwhile: say how
        outcome = self._from_payment_intent(attempt, pi, cancelled_because=reason)
        if outcome is None:  # not cancellable and not final: cannot happen at Stripe
            raise CardError(f"The payment is {pi.status}; it could not be cancelled.")
        return await self._settle(attempt, outcome)

    async def capture(self, attempt: CardAttempt) -> CardOutcome:
        """Capture an approved (``authorized``) attempt: the money is taken."""
        try:
            pi = await self._call(
                "capture payment_intent",
                lambda: self._stripe.v1.payment_intents.capture_async(
                    attempt.payment_intent,
                    {"expand": ["latest_charge"]},
                    {"idempotency_key": attempt.key("capture")},
                ),
                attempt,
            )
        except stripe.InvalidRequestError as err:
            if err.code != "payment_intent_unexpected_state":
                raise CardError(f"Stripe refused the capture: {err.user_message}") from None
            pi = await self._retrieve(attempt)
        outcome = self._from_payment_intent(attempt, pi)
        if outcome is None:
            raise CardError(f"The payment is {pi.status}; there is nothing to capture.")
        return await self._settle(attempt, outcome)

    async def open_attempts(self) -> list[CardAttempt]:
        """Attempts a restart left open, oldest first. Each needs ``poll`` (a card may have gone
        through while the till was down) and then ``cancel`` or ``capture``. One that never
        heard back from its create is created again with the same key, which finds the first
        PaymentIntent if Stripe made it (keys are kept by Stripe for 24 hours)."""
        attempts = []
        for row in await card_store.open_attempts(self._conn):
            if row.payment_intent is None:
                attempts.append(await self._create(row))
            else:
                attempts.append(self.attempt_of(row))
        return attempts

    @staticmethod
    def attempt_of(row: AttemptRow) -> CardAttempt:
        """The attempt a stored row (with its PaymentIntent) describes."""
        assert row.payment_intent is not None
        return CardAttempt(
            sale_id=row.sale_id,
            number=row.attempt,
            payment_intent=row.payment_intent,
            reader_id=row.reader_id,
            amount=Money(row.amount_minor, row.currency),
            capture=row.capture,
        )

    async def reader_status(self) -> str:
        """The reader's networking status as Stripe sees it (``online``/``offline``), for checks.
        Raises ``CardAuthError``, ``CardNetworkError``, or ``CardUnavailable`` (unknown reader)."""
        try:
            reader = await self._call(
                "retrieve reader",
                lambda: self._stripe.v1.terminal.readers.retrieve_async(self._settings.reader_id),
            )
        except stripe.InvalidRequestError as err:
            raise CardUnavailable(_reader_refusal(err, self._settings.reader_id)) from None
        return str(reader.status or "unknown")

    # -- helpers ----------------------------------------------------------------------------

    async def _retrieve(self, attempt: CardAttempt) -> stripe.PaymentIntent:
        return await self._call(
            "retrieve payment_intent",
            lambda: self._stripe.v1.payment_intents.retrieve_async(
                attempt.payment_intent, {"expand": ["latest_charge"]}
            ),
            attempt,
        )

    async def refund(self, refund_id: str, payment_intent: str, amount: Money) -> dict[str, Any]:
        """Give ``amount`` of ``payment_intent`` back to the customer's card (Stripe's
        ``POST /v1/refunds``). The idempotency key is made of ``refund_id``, so the same refund
        sent again after a network drop (or a retry of the whole refund with the same id) gets
        Stripe's first answer: the card is refunded once. Returns ``{"id", "status"}``;
        ``CardError`` in words when Stripe refuses (already refunded, more than was charged)."""
        key = f"bitagora-refund-{refund_id}-{payment_intent}"
        try:
            answer = await self._call(
                "create refund",
                lambda: self._stripe.v1.refunds.create_async(
                    {
                        "payment_intent": payment_intent,
                        "amount": amount.minor,
                        "reason": "requested_by_customer",
                        "metadata": {"refund_id": refund_id},
                    },
                    {"idempotency_key": key},
                ),
            )
        except stripe.InvalidRequestError as err:
            raise CardError(f"Stripe refused the card refund: {err.user_message or err}") from None
        if answer.status not in ("succeeded", "pending"):
            raise CardError(f"The card refund did not go through (Stripe says {answer.status}).")
        return {"id": answer.id, "status": answer.status}

    async def _call(
        self,
        what: str,
        request: Callable[[], Awaitable[T]],
        attempt: CardAttempt | None = None,
    ) -> T:
        """One API call, sent again (same idempotency key: ``request`` builds the same request)
        while Stripe cannot be reached or asks for a retry, up to ``card.retries`` times."""
        delay = RETRY_MIN_S
        for number in range(self._settings.retries + 1):
            try:
                return await request()
            except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as err:
                failure = type(err).__name__  # no answer, or Stripe asked for a retry
            except stripe.AuthenticationError:
                raise CardAuthError(
                    "Stripe refused the API key (card.api_key): check the key in the Stripe "
                    "Dashboard, or a new one may be needed."
                ) from None
            except stripe.PermissionError:
                raise CardAuthError(
                    "The API key may not do this: a restricted key needs write access to "
                    "PaymentIntents and Terminal readers."
                ) from None
            except stripe.IdempotencyError:
                raise CardError(
                    "Stripe refused a repeated request that differs from the first one."
                ) from None
            if number < self._settings.retries:
                log.warning(
                    "card payment: Stripe request failed, sending it again",
                    extra={"call": what, "try": number + 1, "error": failure},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
        raise CardNetworkError(
            "Stripe cannot be reached: check the till's network connection.", attempt
        )

    def _from_payment_intent(
        self, attempt: CardAttempt, pi: stripe.PaymentIntent, cancelled_because: str = ""
    ) -> CardOutcome | None:
        """The outcome the PaymentIntent shows, or None while it has none yet."""
        status = pi.status
        if status in ("succeeded", "requires_capture"):
            charge = pi.latest_charge if isinstance(pi.latest_charge, stripe.Charge) else None
            brand, last4, receipt = _card_details(charge)
            succeeded = status == "succeeded"
            minor = pi.amount_received if succeeded else pi.amount_capturable
            shown = f"{brand.upper()} card" if brand else "card"  # no digits: messages get logged
            return CardOutcome(
                status=CardStatus.SUCCEEDED if succeeded else CardStatus.AUTHORIZED,
                message=(
                    f"Paid by {shown}."
                    if succeeded
                    else f"Approved on {shown}; held until the payment is captured."
                ),
                payment_intent=pi.id,
                charge=charge.id if charge is not None else None,
                amount=Money(int(minor), attempt.amount.currency),
                brand=brand,
                last4=last4,
                receipt=receipt,
            )
        if status == "canceled":
            timed_out = (pi.cancellation_reason or cancelled_because) == "abandoned"
            return CardOutcome(
                status=CardStatus.CANCELLED,
                message=(
                    "No card was presented in time; the card payment was cancelled."
                    if timed_out
                    else "The card payment was cancelled."
                ),
                payment_intent=pi.id,
                code=pi.cancellation_reason,
            )
        error = pi.last_payment_error
        if status == "requires_payment_method" and error is not None:
            decline = error.decline_code or error.code
            return CardOutcome(
                status=CardStatus.DECLINED,
                message=f"Declined: {decline_words(decline)} {ASK_ANOTHER}",
                payment_intent=pi.id,
                code=error.code,
                decline_code=error.decline_code,
            )
        return None

    def _from_reader(self, attempt: CardAttempt, reader: stripe.terminal.Reader) -> CardOutcome:
        action = reader.action
        if _action_is_ours(reader, attempt) and action is not None:
            if action.status in ("in_progress", "succeeded"):
                # succeeded: the PaymentIntent catches up on the next look
                return CardOutcome(
                    CardStatus.WAITING,
                    "Waiting for the card on the reader.",
                    attempt.payment_intent,
                )
            code = action.failure_code
            return CardOutcome(
                status=CardStatus.FAILED,
                message=READER_FAILURE_WORDS.get(
                    code or "", "The reader could not take the card; try again."
                ),
                payment_intent=attempt.payment_intent,
                code=code,
            )
        return CardOutcome(
            status=CardStatus.FAILED,
            message="The reader stopped this payment (cancelled on the reader or by another "
            "till); try again.",
            payment_intent=attempt.payment_intent,
            code="reader_action_gone",
        )

    async def _settle(self, attempt: CardAttempt, outcome: CardOutcome) -> CardOutcome:
        """Record a final (or authorised) outcome once; tidy a failed attempt's PaymentIntent."""
        state = _STATE_OF.get(outcome.status)
        if state is None:
            return outcome
        reason = outcome.decline_code or outcome.code
        changed = await card_store.set_state(
            self._conn,
            attempt.sale_id,
            attempt.number,
            state,
            charge_id=outcome.charge,
            reason=None if outcome.paid or state == "authorized" else reason,
        )
        if changed:
            log.info(
                "card payment %s",
                outcome.status.value,
                extra=_ids(attempt, status=outcome.status.value, reason=reason),
            )
        if changed and outcome.status in (CardStatus.DECLINED, CardStatus.FAILED):
            await self._cancel_quietly(attempt)
        return outcome

    async def _abandon(self, attempt: CardAttempt, reason: str) -> None:
        await card_store.set_state(
            self._conn, attempt.sale_id, attempt.number, "failed", reason=reason
        )
        await self._cancel_quietly(attempt)

    async def _cancel_quietly(self, attempt: CardAttempt) -> None:
        """Cancel a PaymentIntent that nothing more can happen on (best effort)."""
        try:
            await self._call(
                "cancel payment_intent",
                lambda: self._stripe.v1.payment_intents.cancel_async(
                    attempt.payment_intent,
                    {"cancellation_reason": "abandoned"},
                    {"idempotency_key": attempt.key("tidy")},
                ),
                attempt,
            )
        except (CardError, stripe.StripeError) as err:
            log.warning(
                "card payment: PaymentIntent left open",
                extra=_ids(attempt, error=type(err).__name__),
            )


def _ids(attempt: CardAttempt, **more: Any) -> dict[str, Any]:
    return {
        "sale_id": attempt.sale_id,
        "attempt": attempt.number,
        "payment_intent": attempt.payment_intent,
        **more,
    }


def _action_is_ours(
    reader: stripe.terminal.Reader, attempt: CardAttempt, status: str | None = None
) -> bool:
    """Whether the reader's action is processing this attempt (and has ``status``, if given)."""
    action = reader.action
    if action is None or action.type != "process_payment_intent":
        return False
    if status is not None and action.status != status:
        return False
    process = action.process_payment_intent
    if process is None:
        return False
    pi = process.payment_intent
    return (pi if isinstance(pi, str) else pi.id) == attempt.payment_intent


def _card_details(
    charge: stripe.Charge | None,
) -> tuple[str | None, str | None, tuple[tuple[str, str], ...]]:
    """Brand, last four digits and the receipt's EMV fields; nothing else is read."""
    details = charge.payment_method_details if charge is not None else None
    present = details.card_present if details is not None else None
    if present is None:
        return None, None, ()
    receipt: list[tuple[str, str]] = []
    if present.receipt is not None:
        for name, label in RECEIPT_FIELDS:
            value = getattr(present.receipt, name, None)
            if value:
                receipt.append((label, str(value)))
    return present.brand, present.last4, tuple(receipt)


def _reader_refusal(err: stripe.StripeError, reader_id: str) -> str:
    code = err.code or ""
    if code == "terminal_reader_offline":
        return "The card reader is offline: check that it is on and connected to the network."
    if code == "terminal_reader_busy":
        return "The card reader is busy with another payment: finish or cancel it on the reader."
    if code == "resource_missing" and getattr(err, "param", None) in ("reader", None):
        return f"Stripe does not know the card reader {reader_id} (card.reader_id)."
    return f"The card reader refused the payment: {err.user_message}"
