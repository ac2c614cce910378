"""Mercado Pago payments (Point device and QR) through the official mercadopago SDK, against
the Mercado Pago simulator (devtools/bitagora_devtools/sim/mercadopago.py) over real HTTP. The
customer is played with Mercado Pago's published test payer names (APRO, FUND, OTHE, …)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiosqlite
import httpx
import pytest

from appliance.config import ConfigError, MercadoPagoSettings, Settings, load_settings
from appliance.doctor import mercadopago_check
from appliance.payments.mercadopago import (
    MercadoPagoAuthError,
    MercadoPagoMethod,
    MercadoPagoNetworkError,
    MercadoPagoPayments,
    MercadoPagoUnavailable,
    OrderStatus,
)
from appliance.store import mercadopago as attempt_store
from appliance.store.db import open_db
from bitagora_devtools.sim.mercadopago import (
    DEFAULT_POS,
    DEFAULT_TERMINAL,
    DEFAULT_TOKEN,
    MercadoPagoSim,
)
from bitagora_protocol.money import Money
from tests.http_helpers import serve, sim_command

TOKEN = "TEST-" + "t0k3n" * 10  # the simulator's token; tests look for it in logs
POINT = MercadoPagoMethod.POINT
QR = MercadoPagoMethod.QR
BRL_24_50 = Money(2450, "BRL")


@dataclass
class Rig:
    sim: MercadoPagoSim
    settings: MercadoPagoSettings
    conn: aiosqlite.Connection

    def payments(self, **changes: object) -> MercadoPagoPayments:
        return MercadoPagoPayments(replace(self.settings, **changes), self.conn)  # type: ignore[arg-type]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    sim = MercadoPagoSim(access_token=TOKEN)
    conn = await open_db(tmp_path / "appliance.sqlite3")
    async with serve(sim.app()) as url:
        settings = MercadoPagoSettings(
            access_token=TOKEN,
            point_terminal_id=DEFAULT_TERMINAL,
            qr_external_pos_id=DEFAULT_POS,
            api_base=url,
            timeout_s=5,
            retries=2,
            poll_s=0.05,
        )
        settings.check()
        yield Rig(sim, settings, conn)
    await conn.close()


def sale() -> str:
    return str(uuid.uuid4())


async def test_point_payment_approved_with_what_the_receipt_may_show(rig: Rig) -> None:
    mp = rig.payments()
    attempt = await mp.start(POINT, sale(), BRL_24_50, "Sale at the shop")
    assert (await mp.poll(attempt)).status is OrderStatus.WAITING
    rig.sim.point("APRO")
    outcome = await mp.wait(attempt, timeout_s=60)
    assert outcome.paid and outcome.amount == BRL_24_50
    assert (outcome.brand, outcome.last4) == ("visa", "3704")
    assert outcome.auth_code and outcome.payment_id
    assert "3704" not in repr(outcome) and outcome.auth_code not in repr(outcome)
    order = rig.sim.orders[attempt.order_id]
    assert order["type"] == "point" and order["total_amount"] == "24.50"
    assert order["config"]["point"]["terminal_id"] == DEFAULT_TERMINAL


@pytest.mark.parametrize(
    ("payer", "detail", "words"),
    [
        ("FUND", "cc_rejected_insufficient_amount", "insufficient funds"),
        ("OTHE", "cc_rejected_other_reason", "bank rejected"),
        ("CALL", "cc_rejected_call_for_authorize", "call"),
        ("SECU", "cc_rejected_bad_filled_security_code", "security code"),
    ],
)
async def test_a_rejected_card_says_why_in_words(
    rig: Rig, payer: str, detail: str, words: str
) -> None:
    mp = rig.payments()
    sale_id = sale()
    attempt = await mp.start(POINT, sale_id, BRL_24_50, "Sale")
    rig.sim.point(payer)
    outcome = await mp.wait(attempt, timeout_s=60)
    assert outcome.status is OrderStatus.DECLINED and outcome.status_detail == detail
    assert words in outcome.message and "another" in outcome.message
    # the next try is a new attempt with new keys: a new order, which can be paid
    again = await mp.start(POINT, sale_id, BRL_24_50, "Sale")
    assert (again.number, again.order_id != attempt.order_id) == (2, True)
    rig.sim.point("APRO")
    assert (await mp.wait(again, timeout_s=60)).paid


async def test_a_lost_answer_to_the_create_and_a_retry_make_one_order(rig: Rig) -> None:
    mp = rig.payments()
    sale_id = sale()
    rig.sim.drop("POST", "/v1/orders", when="after")  # created, but the till hears nothing
    attempt = await mp.start(POINT, sale_id, BRL_24_50, "Sale")
    assert len(rig.sim.orders) == 1 and attempt.number == 1
    creates = [r for r in rig.sim.requests if r == ("POST", "/v1/orders")]
    assert len(creates) == 2  # sent again with the same key: Mercado Pago's first order
    rig.sim.point("APRO")
    assert (await mp.wait(attempt, timeout_s=60)).paid
    assert len(rig.sim.processed()) == 1


async def test_an_unreachable_create_stays_open_and_the_next_start_finds_it(rig: Rig) -> None:
    mp = rig.payments(retries=0)
    sale_id = sale()
    rig.sim.drop("POST", "/v1/orders", when="after")
    with pytest.raises(MercadoPagoNetworkError):
        await mp.start(POINT, sale_id, BRL_24_50, "Sale")
    [row] = await attempt_store.open_attempts(rig.conn, sale_id)
    assert row.state == "creating" and row.order_id is None
    # Try again: the same attempt, its same key: the order Mercado Pago made, not a second one
    attempt = await mp.start(POINT, sale_id, BRL_24_50, "Sale")
    assert attempt.number == 1 and len(rig.sim.orders) == 1
    rig.sim.point("APRO")
    assert (await mp.wait(attempt, timeout_s=60)).paid
    assert len(rig.sim.processed()) == 1


async def test_cancel_from_the_till_and_a_timeout_cancel_the_order(rig: Rig) -> None:
    mp = rig.payments()
    attempt = await mp.start(POINT, sale(), BRL_24_50, "Sale")
    outcome = await mp.cancel(attempt)
    assert outcome.status is OrderStatus.CANCELLED
    assert rig.sim.orders[attempt.order_id]["status"] == "canceled"
    timed = await mp.start(POINT, sale(), BRL_24_50, "Sale")
    outcome = await mp.wait(timed, timeout_s=0.3)
    assert outcome.status is OrderStatus.EXPIRED and not outcome.paid
    assert rig.sim.orders[timed.order_id]["status"] == "canceled"


async def test_a_cancel_that_comes_too_late_is_the_payment(rig: Rig) -> None:
    mp = rig.payments()
    attempt = await mp.start(POINT, sale(), BRL_24_50, "Sale")
    rig.sim.point("APRO")
    outcome = await mp.cancel(attempt)
    assert outcome.paid and outcome.last4 == "3704"


async def test_a_busy_device_and_a_bad_token_are_said_in_words(rig: Rig) -> None:
    rig.sim.device(DEFAULT_TERMINAL, busy=True)
    mp = rig.payments()
    sale_id = sale()
    with pytest.raises(MercadoPagoUnavailable, match="busy"):
        await mp.start(POINT, sale_id, BRL_24_50, "Sale")
    assert await attempt_store.open_attempts(rig.conn, sale_id) == []
    rig.sim.device(DEFAULT_TERMINAL, busy=False)
    with pytest.raises(MercadoPagoAuthError, match="access token"):
        await rig.payments(access_token="TEST-wrong").start(POINT, sale(), BRL_24_50, "Sale")


async def test_qr_order_shows_a_code_and_is_paid_by_a_scanning_payer(rig: Rig) -> None:
    mp = rig.payments()
    attempt = await mp.start(QR, sale(), BRL_24_50, "Sale at the shop")
    assert attempt.qr_data.startswith("000201") and attempt.wait_s == rig.settings.qr_wait_s
    order = rig.sim.orders[attempt.order_id]
    assert order["config"]["qr"] == {"external_pos_id": DEFAULT_POS, "mode": "dynamic"}
    assert order["expiration_time"] == f"PT{rig.settings.qr_wait_s}S"
    rig.sim.qr("APRO")
    outcome = await mp.wait(attempt, timeout_s=60)
    assert outcome.paid and outcome.brand == "pix" and outcome.last4 is None


async def test_an_expired_qr_took_no_money(rig: Rig) -> None:
    mp = rig.payments()
    sale_id = sale()
    attempt = await mp.start(QR, sale_id, BRL_24_50, "Sale")
    rig.sim.qr("TIME")
    outcome = await mp.wait(attempt, timeout_s=60)
    assert outcome.status is OrderStatus.EXPIRED and "expired" in outcome.message
    assert rig.sim.processed() == []
    assert await attempt_store.open_attempts(rig.conn, sale_id) == []


async def test_refund_part_then_the_rest_once_each(rig: Rig) -> None:
    mp = rig.payments()
    attempt = await mp.start(POINT, sale(), BRL_24_50, "Sale")
    rig.sim.point("APRO")
    await mp.wait(attempt, timeout_s=60)
    part = await mp.refund("r1", attempt.order_id, Money(450, "BRL"))
    again = await mp.refund("r1", attempt.order_id, Money(450, "BRL"))  # resent: same refund
    assert part == again and part["status"] == "processed"
    rest = await mp.refund("r2", attempt.order_id, None)
    assert rest["id"] != part["id"]
    order = rig.sim.orders[attempt.order_id]
    assert [r["amount"] for r in order["transactions"]["refunds"]] == ["4.50", "20.00"]
    assert order["status"] == "refunded"
    with pytest.raises(Exception, match="refund"):
        await mp.refund("r3", attempt.order_id, Money(100, "BRL"))


async def test_token_and_card_details_stay_out_of_logs_and_reprs(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mp = rig.payments()
    rig.sim.drop("POST", "/v1/orders", when="after")
    attempt = await mp.start(POINT, sale(), BRL_24_50, "Sale")
    rig.sim.point("APRO")
    outcome = await mp.wait(attempt, timeout_s=60)
    await mp.refund("r1", attempt.order_id, None)
    with pytest.raises(MercadoPagoAuthError) as refused:
        await rig.payments(access_token=TOKEN + "x").account()
    # What a handler could write: the message, its arguments and any traceback (not the record's
    # timestamps and ids, where four given digits turn up by chance).
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    for secret in (TOKEN, "3704", outcome.auth_code or "?"):
        assert secret not in logged
        assert secret not in repr(mp) and secret not in repr(rig.settings)
        assert secret not in str(refused.value)


async def test_doctor_checks_see_the_account_and_the_device_mode(rig: Rig) -> None:
    mp = rig.payments()
    assert (await mp.account())["id"] == rig.sim.user_id
    assert (await mp.point_device())["operating_mode"] == "PDV"
    rig.sim.device(DEFAULT_TERMINAL, mode="STANDALONE")
    assert (await mp.point_device())["operating_mode"] == "STANDALONE"
    with pytest.raises(MercadoPagoUnavailable, match="does not list"):
        await rig.payments(point_terminal_id="NEWLAND_N950__OTHER").point_device()


def test_settings_name_the_key_and_keep_the_token_secret(tmp_path: Path) -> None:
    cfg = tmp_path / "appliance.toml"
    cfg.write_text('[mercadopago]\npoint_terminal_id = "X"\naccess_token = "APP_USR-secret"\n')
    settings = load_settings(tmp_path, cfg, env={})
    assert settings.mercadopago.point and not settings.mercadopago.qr
    assert "APP_USR-secret" not in repr(settings)
    cfg.write_text(
        '[mercadopago]\npoint_terminal_id = "X"\naccess_token = "APP_USR-1"\n'
        'api_base = "http://mp.example"\n'
    )
    with pytest.raises(ConfigError, match="mercadopago.api_base"):
        load_settings(tmp_path, cfg, env={})
    cfg.write_text('[mercadopago]\nqr_external_pos_id = "P"\naccess_token = "PUBLIC-KEY"\n')
    with pytest.raises(ConfigError, match="mercadopago.access_token") as err:
        load_settings(tmp_path, cfg, env={})
    assert "PUBLIC-KEY" not in str(err.value)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mercadopago.access_token").write_text("TEST-from-credential\n")
    cfg.write_text('[mercadopago]\nqr_external_pos_id = "P"\n')
    loaded = load_settings(tmp_path, cfg, env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert loaded.mercadopago.access_token.strip() == "TEST-from-credential"


async def test_the_doctor_line_says_token_device_and_mode(rig: Rig, tmp_path: Path) -> None:
    def settings(**changes: object) -> Settings:
        return replace(Settings(data_dir=tmp_path), mercadopago=replace(rig.settings, **changes))  # type: ignore[arg-type]

    ok = await mercadopago_check(settings(), offline=False)
    assert ok.status == "OK" and f"Point {DEFAULT_TERMINAL} in PDV mode" in ok.detail
    rig.sim.device(DEFAULT_TERMINAL, mode="STANDALONE")
    standalone = await mercadopago_check(settings(), offline=False)
    assert standalone.status == "FAIL" and "PDV" in standalone.action
    bad = await mercadopago_check(settings(access_token="TEST-revoked"), offline=False)
    assert (
        bad.status == "FAIL" and "access token" in bad.detail and "TEST-revoked" not in bad.line()
    )
    qr_only = await mercadopago_check(settings(point_terminal_id=""), offline=False)
    assert qr_only.status == "OK" and DEFAULT_POS in qr_only.detail
    off = await mercadopago_check(settings(), offline=True)
    none = await mercadopago_check(Settings(data_dir=tmp_path), offline=False)
    assert (off.status, none.status) == ("SKIP", "SKIP")


def test_sim_command_serves_the_api_and_its_controls_over_http() -> None:
    with sim_command("mercadopago", "--port", "0") as (process, ready):
        assert ready.startswith("mercadopago simulator on http://127.0.0.1:"), ready
        url = ready.split()[3]
        assert process.stdout is not None
        env_line = process.stdout.readline()
        assert f"BITAGORA_MERCADOPAGO_API_BASE={url}" in env_line
        auth = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "X-Idempotency-Key": "k1"}
        assert httpx.get(f"{url}/users/me", timeout=5).status_code == 401
        body = {
            "type": "qr",
            "external_reference": "s1",
            "total_amount": "5.00",
            "transactions": {"payments": [{"amount": "5.00"}]},
            "config": {"qr": {"external_pos_id": DEFAULT_POS, "mode": "dynamic"}},
        }
        order = httpx.post(f"{url}/v1/orders", json=body, headers=auth, timeout=5).json()
        paid = httpx.post(f"{url}/_sim/qr", json={"name": "APRO"}, timeout=5)
        assert paid.json()["by_status"] == {"processed": 1}
        seen = httpx.get(f"{url}/v1/orders/{order['id']}", headers=auth, timeout=5).json()
        assert seen["status"] == "processed"
        bad = httpx.post(f"{url}/_sim/point", json={"name": "NOPE"}, timeout=5)
        assert bad.status_code == 400
