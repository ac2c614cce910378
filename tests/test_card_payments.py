"""Card payments on a Stripe Terminal reader, through the official stripe library, against the
Stripe simulator (devtools/bitagora_devtools/sim/stripe.py) over real HTTP. The card is "tapped"
with Stripe's own simulated-reader test helper (present_payment_method) and Stripe's test card
numbers."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiosqlite
import httpx
import pytest
import stripe
from card_helpers import sim_card_settings

from appliance.config import CardSettings, ConfigError, load_settings
from appliance.payments.card import (
    CardAuthError,
    CardNetworkError,
    CardPayments,
    CardStatus,
    CardUnavailable,
    idempotency_key,
    make_client,
)
from appliance.store import card as card_store
from appliance.store.db import open_db
from bitagora_devtools.sim.stripe import DEFAULT_READER, StripeSim
from bitagora_protocol.money import Money
from tests.http_helpers import serve

KEY = "sk_test_" + "k3y" * 8  # the simulator's key; tests look for it in logs
VISA = "4242424242424242"
EUR_12_50 = Money(1250, "EUR")


@dataclass
class Rig:
    sim: StripeSim
    url: str
    settings: CardSettings
    conn: aiosqlite.Connection
    http: httpx.AsyncClient

    def payments(self, **changes: object) -> CardPayments:
        return CardPayments(replace(self.settings, **changes), self.conn, http=self.http)

    async def tap(self, number: str = VISA, reader: str = DEFAULT_READER) -> stripe.Reader:
        """The customer presents a card: Stripe's test helper for simulated readers."""
        client = make_client(self.settings, self.http)
        return await client.v1.test_helpers.terminal.readers.present_payment_method_async(
            reader, {"type": "card_present", "card_present": {"number": number}}
        )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sim = StripeSim(api_key=KEY)
    conn = await open_db(tmp_path / "appliance.sqlite3")
    async with serve(sim.app()) as url, httpx.AsyncClient(timeout=2.0) as http:
        settings = sim_card_settings(url, KEY)
        yield Rig(sim, url, settings, conn, http)
    await conn.close()


def sale() -> str:
    return str(uuid.uuid4())


async def test_card_success(rig: Rig) -> None:
    payments = rig.payments()
    sale_id = sale()
    attempt = await payments.start(sale_id, EUR_12_50, "Sale at the demo shop")
    assert (await payments.poll(attempt)).status is CardStatus.WAITING
    pi = rig.sim.payment_intents[attempt.payment_intent]
    assert (pi["amount"], pi["currency"], pi["capture_method"]) == (1250, "eur", "automatic")
    assert pi["payment_method_types"] == ["card_present"]
    assert pi["metadata"] == {"sale_id": sale_id, "attempt": "1"}

    await rig.tap(VISA)
    outcome = await payments.wait(attempt)

    assert outcome.status is CardStatus.SUCCEEDED and outcome.paid
    assert outcome.amount == EUR_12_50
    assert outcome.card_text == "VISA •••• 4242"
    assert outcome.message == "Paid by VISA card."
    assert ("AID", "A0000000031010") in outcome.receipt
    assert "4242" not in repr(outcome)  # an outcome in a log line carries no card digits
    (charge,) = rig.sim.succeeded_charges()
    assert outcome.charge == charge["id"] and charge["captured"]
    (row,) = await card_store.sale_attempts(rig.conn, sale_id)
    assert (row.state, row.payment_intent, row.charge_id) == (
        "succeeded",
        attempt.payment_intent,
        charge["id"],
    )
    assert await payments.open_attempts() == []


@pytest.mark.parametrize(
    ("number", "decline_code", "words"),
    [
        ("4000000000000002", "generic_decline", "The card was declined."),
        ("4000000000009995", "insufficient_funds", "The card has insufficient funds."),
        ("4000000000000069", "expired_card", "The card has expired."),
        # A stolen card is shown to the customer as a plain decline; the code is kept.
        ("4000000000009979", "stolen_card", "The card was declined."),
        ("4111111111111111", "test_mode_live_card", "with a test key: nothing was charged"),
    ],
)
async def test_card_decline_in_words(rig: Rig, number: str, decline_code: str, words: str) -> None:
    payments = rig.payments()
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    await rig.tap(number)
    outcome = await payments.wait(attempt)

    assert outcome.status is CardStatus.DECLINED and not outcome.paid
    assert outcome.decline_code == decline_code
    assert outcome.message.startswith("Declined: ") and words in outcome.message
    assert outcome.message.endswith("Ask for another card or another way to pay.")
    assert rig.sim.succeeded_charges() == []
    # Nothing more can happen on a declined attempt's PaymentIntent: it is cancelled.
    assert rig.sim.payment_intents[attempt.payment_intent]["status"] == "canceled"


async def test_after_a_decline_another_card_is_a_new_attempt(rig: Rig) -> None:
    payments = rig.payments()
    sale_id = sale()
    first = await payments.start(sale_id, EUR_12_50, "Sale")
    await rig.tap("4000000000009995")
    assert (await payments.wait(first)).status is CardStatus.DECLINED

    second = await payments.start(sale_id, EUR_12_50, "Sale")
    assert second.number == 2 and second.payment_intent != first.payment_intent
    await rig.tap(VISA)
    assert (await payments.wait(second)).paid
    states = [
        (r.attempt, r.state, r.reason) for r in await card_store.sale_attempts(rig.conn, sale_id)
    ]
    assert states == [(1, "declined", "insufficient_funds"), (2, "succeeded", None)]


async def test_cancel_from_the_kiosk_while_waiting(rig: Rig) -> None:
    payments = rig.payments()
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    waiting = asyncio.create_task(payments.wait(attempt))
    await asyncio.wait_for(
        rig.sim.request_seen("GET", f"/v1/terminal/readers/{DEFAULT_READER}"), 5
    )  # the screen is waiting for the card

    outcome = await payments.cancel(attempt)
    assert outcome.status is CardStatus.CANCELLED
    assert outcome.message == "The card payment was cancelled."
    assert (await waiting).status is CardStatus.CANCELLED  # the screen's wait ends with it

    assert rig.sim.readers[DEFAULT_READER]["action"] is None  # cancel_action cleared the reader
    pi = rig.sim.payment_intents[attempt.payment_intent]
    assert (pi["status"], pi["cancellation_reason"]) == ("canceled", "requested_by_customer")
    with pytest.raises(stripe.InvalidRequestError):
        await rig.tap(VISA)  # a card presented now has nothing to pay
    assert rig.sim.succeeded_charges() == []


async def test_a_cancel_that_comes_too_late_reports_the_payment(rig: Rig) -> None:
    payments = rig.payments()
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    await rig.tap(VISA)  # the customer's card went through just before staff pressed cancel
    outcome = await payments.cancel(attempt)
    assert outcome.status is CardStatus.SUCCEEDED
    assert rig.sim.payment_intents[attempt.payment_intent]["status"] == "succeeded"


async def test_network_error_mid_payment_is_resolved_by_idempotent_retry(rig: Rig) -> None:
    # Stripe does the work, then the connection drops before the answer arrives: for the
    # create, for the reader's process call, for a capture-free poll.
    rig.sim.drop("POST", "/v1/payment_intents", when="after")
    rig.sim.drop("POST", f"/v1/terminal/readers/{DEFAULT_READER}/process_payment_intent")
    payments = rig.payments()
    sale_id = sale()
    attempt = await payments.start(sale_id, EUR_12_50, "Sale")

    creates = [r for r in rig.sim.requests if r == ("POST", "/v1/payment_intents")]
    assert len(creates) == 2  # sent again after the network error ...
    assert list(rig.sim.payment_intents) == [attempt.payment_intent]  # ... one PaymentIntent
    rig.sim.drop("GET", f"/v1/payment_intents/{attempt.payment_intent}")
    await rig.tap(VISA)
    outcome = await payments.wait(attempt)

    assert outcome.paid
    assert len(rig.sim.payment_intents) == 1
    assert len(rig.sim.succeeded_charges()) == 1 == len(rig.sim.charges)


async def test_an_attempt_left_open_by_the_network_is_found_after_a_restart(rig: Rig) -> None:
    # Every try of the reader call reaches Stripe but no answer comes back: start gives up.
    reader_path = f"/v1/terminal/readers/{DEFAULT_READER}/process_payment_intent"
    rig.sim.drop("POST", reader_path, count=rig.settings.retries + 1)
    sale_id = sale()
    with pytest.raises(CardNetworkError) as raised:
        await rig.payments().start(sale_id, EUR_12_50, "Sale")
    assert raised.value.attempt is not None

    # The kiosk restarts; the reader was told to take the card and the customer pays.
    await rig.tap(VISA)
    restarted = rig.payments()
    (attempt,) = await restarted.open_attempts()
    assert attempt == raised.value.attempt
    assert (await restarted.poll(attempt)).paid
    assert await restarted.open_attempts() == []
    assert len(rig.sim.payment_intents) == 1 and len(rig.sim.succeeded_charges()) == 1


async def test_a_create_that_never_answered_is_found_again_with_its_key(rig: Rig) -> None:
    rig.sim.drop("POST", "/v1/payment_intents", count=rig.settings.retries + 1)
    sale_id = sale()
    with pytest.raises(CardNetworkError) as raised:
        await rig.payments().start(sale_id, EUR_12_50, "Sale")
    assert raised.value.attempt is None  # no PaymentIntent id was ever heard
    (created,) = rig.sim.payment_intents  # but Stripe made one

    (attempt,) = await rig.payments().open_attempts()
    assert attempt.payment_intent == created and len(rig.sim.payment_intents) == 1
    cancelled = await rig.payments().cancel(attempt)
    assert cancelled.status is CardStatus.CANCELLED


async def test_wrong_key_is_a_clear_error_that_does_not_show_the_key(rig: Rig) -> None:
    wrong = "sk_test_" + "wrong" * 5
    payments = rig.payments(api_key=wrong)
    sale_id = sale()
    with pytest.raises(CardAuthError) as raised:
        await payments.start(sale_id, EUR_12_50, "Sale")
    message = str(raised.value)
    assert "Stripe refused the API key (card.api_key)" in message
    assert wrong not in message and wrong[-4:] not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    assert rig.sim.payment_intents == {}
    (row,) = await card_store.sale_attempts(rig.conn, sale_id)
    assert row.state == "failed"


async def test_manual_capture(rig: Rig) -> None:
    payments = rig.payments(capture="manual")
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    assert rig.sim.payment_intents[attempt.payment_intent]["capture_method"] == "manual"
    await rig.tap(VISA)

    held = await payments.wait(attempt, capture=False)  # e.g. to commit the sale first
    assert held.status is CardStatus.AUTHORIZED and not held.paid
    assert held.amount == EUR_12_50
    (charge,) = rig.sim.succeeded_charges()
    assert not charge["captured"]
    assert [a.payment_intent for a in await payments.open_attempts()] == [attempt.payment_intent]

    rig.sim.drop("POST", f"/v1/payment_intents/{attempt.payment_intent}/capture")
    captured = await payments.capture(attempt)
    assert captured.paid and captured.amount == EUR_12_50
    assert charge["captured"] and charge["amount_captured"] == 1250
    assert await payments.open_attempts() == []


async def test_manual_capture_by_wait(rig: Rig) -> None:
    payments = rig.payments(capture="manual")
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    await rig.tap("5555555555554444")
    outcome = await payments.wait(attempt)
    assert outcome.paid and outcome.card_text == "MASTERCARD •••• 4444"
    assert rig.sim.payment_intents[attempt.payment_intent]["status"] == "succeeded"


async def test_a_cancelled_authorisation_releases_the_hold(rig: Rig) -> None:
    payments = rig.payments(capture="manual")
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    await rig.tap(VISA)
    assert (await payments.wait(attempt, capture=False)).status is CardStatus.AUTHORIZED
    assert (await payments.cancel(attempt)).status is CardStatus.CANCELLED
    assert rig.sim.payment_intents[attempt.payment_intent]["status"] == "canceled"


async def test_no_card_in_time_cancels(rig: Rig) -> None:
    payments = rig.payments()
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    outcome = await payments.wait(attempt, timeout_s=0.1)
    assert outcome.status is CardStatus.CANCELLED
    assert outcome.message == "No card was presented in time; the card payment was cancelled."
    assert rig.sim.payment_intents[attempt.payment_intent]["cancellation_reason"] == "abandoned"


async def test_customer_cancels_on_the_reader(rig: Rig) -> None:
    payments = rig.payments()
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    rig.sim.set_reader(DEFAULT_READER, customer_cancel=True)
    outcome = await payments.wait(attempt)
    assert outcome.status is CardStatus.FAILED
    assert outcome.message == "The customer cancelled the payment on the reader."


async def test_reader_offline_or_busy_cannot_start(rig: Rig) -> None:
    rig.sim.set_reader(DEFAULT_READER, status="offline")
    payments = rig.payments()
    sale_id = sale()
    with pytest.raises(CardUnavailable, match="The card reader is offline"):
        await payments.start(sale_id, EUR_12_50, "Sale")
    (row,) = await card_store.sale_attempts(rig.conn, sale_id)
    assert (row.state, row.reason) == ("failed", "terminal_reader_offline")
    assert rig.sim.payment_intents[row.payment_intent]["status"] == "canceled"

    rig.sim.set_reader(DEFAULT_READER, status="online")
    await payments.start(sale(), EUR_12_50, "Sale")  # another till's payment is in progress
    with pytest.raises(CardUnavailable, match="busy with another payment"):
        await payments.start(sale_id, EUR_12_50, "Sale")
    assert (await payments.reader_status()) == "online"
    with pytest.raises(CardUnavailable, match="does not know the card reader tmr_nope"):
        await rig.payments(reader_id="tmr_nope").reader_status()


async def test_one_open_attempt_per_sale(rig: Rig) -> None:
    payments = rig.payments()
    sale_id = sale()
    await payments.start(sale_id, EUR_12_50, "Sale")
    with pytest.raises(Exception, match="still open"):
        await payments.start(sale_id, EUR_12_50, "Sale")


async def test_key_and_card_details_stay_out_of_logs_and_reprs(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    payments = rig.payments()
    assert KEY not in repr(payments) and KEY not in repr(rig.settings)
    rig.sim.drop("POST", "/v1/payment_intents")
    attempt = await payments.start(sale(), EUR_12_50, "Sale")
    await rig.tap(VISA)
    outcome = await payments.wait(attempt)
    assert outcome.paid
    declined = await payments.start(sale(), EUR_12_50, "Sale")
    await rig.tap("4000000000009995")
    await payments.wait(declined)
    with pytest.raises(CardAuthError):
        await rig.payments(api_key=KEY + "x").start(sale(), EUR_12_50, "Sale")

    (charge,) = rig.sim.succeeded_charges()
    card = charge["payment_method_details"]["card_present"]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "card payment started" in logged and "sending it again" in logged
    assert KEY not in logged and KEY[-6:] not in logged
    for secret in (card["fingerprint"], '"last4"', '"exp_year"', "application_cryptogram"):
        assert secret not in logged
    assert not any(r.name.startswith("stripe") for r in caplog.records)


async def test_idempotency_keys_and_the_simulator_honouring_them(rig: Rig) -> None:
    assert idempotency_key("s1", 2, "create") == "bitagora-s1-2-create"
    client = make_client(rig.settings, rig.http)
    params = {"amount": 500, "currency": "eur", "allowed_payment_method_types": ["card_present"]}
    first = await client.v1.payment_intents.create_async(params, {"idempotency_key": "k1"})
    again = await client.v1.payment_intents.create_async(params, {"idempotency_key": "k1"})
    assert first.id == again.id and len(rig.sim.payment_intents) == 1
    with pytest.raises(stripe.IdempotencyError):
        await client.v1.payment_intents.create_async(
            {**params, "amount": 600}, {"idempotency_key": "k1"}
        )
    with pytest.raises(stripe.InvalidRequestError, match="payment_method_types"):
        await client.v1.payment_intents.create_async(
            {"amount": 500, "currency": "eur", "payment_method_types": ["card_present"]}  # type: ignore[typeddict-unknown-key]
        )


def card_settings(tmp_path: Path, body: str, env: dict[str, str] | None = None) -> CardSettings:
    config = tmp_path / "appliance.toml"
    config.write_text("[card]\n" + body)
    return load_settings(tmp_path, config, env or {}).card


def test_card_settings_validation(tmp_path: Path) -> None:
    good = 'kind = "stripe_terminal"\nreader_id = "tmr_abc"\n'
    settings = card_settings(tmp_path, good + f'api_key = "{KEY}"\n')
    assert settings.enabled and settings.capture == "automatic"
    assert settings.api_base == "https://api.stripe.com"
    assert KEY not in repr(settings)
    assert not card_settings(tmp_path, "").enabled  # card payments are off by default

    bad = {
        'kind = "square"\n': "card.kind: 'square' is not supported",
        'kind = "stripe_terminal"\nreader_id = "tmr_abc"\n': "card.api_key: Stripe Terminal needs",
        good + 'api_key = "pk_test_123"\n': "card.api_key: that is a publishable key",
        good + 'api_key = "hunter2-hunter2"\n': "card.api_key: not a Stripe secret",
        f'kind = "stripe_terminal"\napi_key = "{KEY}"\n': "card.reader_id: the reader's id",
        f'api_base = "http://stripe.example/"\napi_key = "{KEY}"\n': "card.api_base: plain http",
        'api_base = "ftp://x"\n': "card.api_base: 'ftp://x' is not an https URL",
        'capture = "later"\n': "card.capture: 'later' is not automatic or manual",
        "wait_s = 5\n": "card.wait_s: must be 10..600 s",
        "retries = 11\n": "card.retries: must be 0..10",
    }
    for body, message in bad.items():
        with pytest.raises(ConfigError) as raised:
            card_settings(tmp_path, body)
        assert message in str(raised.value), body
        assert "hunter2" not in str(raised.value)
    local = card_settings(
        tmp_path, good + f'api_key = "{KEY}"\napi_base = "http://127.0.0.1:3005"\n'
    )
    assert local.api_base == "http://127.0.0.1:3005"  # plain http only to this machine
    with pytest.raises(CardUnavailable, match="not set up"):
        CardPayments(CardSettings(), None)  # type: ignore[arg-type]


def test_the_key_comes_from_a_systemd_credential_or_the_environment(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "card.api_key").write_text(KEY + "\n")
    body = 'kind = "stripe_terminal"\nreader_id = "tmr_abc"\n'
    env = {"CREDENTIALS_DIRECTORY": str(credentials)}
    assert card_settings(tmp_path, body, env).api_key == KEY
    env["BITAGORA_CARD_API_KEY"] = "rk_test_from_env"
    assert card_settings(tmp_path, body, env).api_key == "rk_test_from_env"


def test_sim_command_prints_where_it_listens() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "sim", "stripe", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        env_line = process.stdout.readline()
        assert ready.startswith("stripe simulator on http://127.0.0.1:"), ready
        url = ready.split()[3]
        unauthorised = httpx.get(f"{url}/v1/terminal/readers/{DEFAULT_READER}", timeout=5)
        assert unauthorised.status_code == 401
        assert unauthorised.json()["error"]["type"] == "invalid_request_error"
        answer = httpx.get(
            f"{url}/v1/terminal/readers/{DEFAULT_READER}",
            headers={"Authorization": "Bearer sk_test_bitagora_simulator"},
            timeout=5,
        )
        assert answer.json()["status"] == "online"
        assert f"BITAGORA_CARD_API_BASE={url}" in env_line
    finally:
        process.terminate()
        process.wait(timeout=10)
