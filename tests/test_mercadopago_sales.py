"""Mercado Pago in the till's services against the simulator over HTTP: a split sale paid part
in cash and part on the Point device, refunds of Mercado Pago money whole and in part (once at
Mercado Pago even when an answer is lost), and what the journal keeps of each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mercadopago_helpers import mercadopago_till

from appliance.core.refund import LineChoice
from appliance.payments.mercadopago import MercadoPagoMethod
from appliance.services.refunds import Approval
from appliance.services.split import PartRefunded
from appliance.services.till import SaleResult, Staff, Till
from bitagora_devtools.sim.mercadopago import MercadoPagoSim
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)

TOKEN = "APP_USR-" + "s4l3s" * 8
ANA = Staff("ana", "Ana", "cashier")
MANAGER = Approval(pin="9999")
POINT = MercadoPagoMethod.POINT
QR = MercadoPagoMethod.QR


@dataclass
class Rig:
    till: Till
    sim: MercadoPagoSim


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with mercadopago_till(tmp_path, TOKEN) as (till, _printer, sim):
        yield Rig(till, sim)


async def cart_of(till: Till, *skus: str):  # noqa: ANN201
    cart = till.sales.new_cart()
    products = {p.sku: p for p in await till.sales.products()}
    for sku in skus:
        cart.add(products[sku])
    return cart


async def point_sale(rig: Rig, *skus: str) -> SaleResult:
    till = rig.till
    cart = await cart_of(till, *skus)
    sale_id = str(uuid.uuid4())
    attempt = await till.sales.start_mercadopago(POINT, cart, ANA, sale_id)
    rig.sim.point("APRO")
    assert till.mercadopago is not None
    outcome = await till.mercadopago.wait(attempt, timeout_s=60)
    return await till.sales.pay_mercadopago(cart, ANA, sale_id, outcome)


async def test_split_sale_part_cash_part_point_then_given_back_by_refund(rig: Rig) -> None:
    till = rig.till
    split = await till.split.begin(await cart_of(till, "mug", "cake"), ANA)
    total = split.total
    after_cash = await till.split.pay_cash(split.sale_id, ANA, Money(500, total.currency))
    assert not isinstance(after_cash, SaleResult)
    rest = after_cash.remaining
    attempt = await till.split.start_mercadopago(POINT, split.sale_id, ANA, rest)
    rig.sim.point("APRO")
    assert till.mercadopago is not None
    outcome = await till.mercadopago.wait(attempt, timeout_s=60)
    done = await till.split.mercadopago_paid(split.sale_id, ANA, outcome)
    assert isinstance(done, SaleResult)
    cash, point = done.record.body["payments"]
    assert (cash["method"], cash["amount"]) == ("cash", 500)
    assert point["method"] == "mercadopago_point" and point["amount"] == rest.minor
    assert point["order_id"] == attempt.order_id and point["last4"] == "3704"
    assert rig.sim.orders[attempt.order_id]["total_amount"] == rest.decimal()

    result = await till.refunds.refund(ANA, MANAGER, "broken", sale_id=split.sale_id)
    by_method = {p["method"]: p for p in result.record.body["payments"]}
    assert by_method["cash"]["amount"] == 500
    refunded = by_method["mercadopago_point"]
    assert refunded["order_id"] == attempt.order_id and refunded["amount"] == rest.minor
    order = rig.sim.orders[attempt.order_id]
    assert order["status"] == "refunded"
    assert refunded["refund_id"] == order["transactions"]["refunds"][0]["id"]


async def test_point_sale_refunded_in_part_once_despite_a_lost_answer(rig: Rig) -> None:
    sale = await point_sale(rig, "mug", "cake")
    (paid,) = sale.record.body["payments"]
    rig.sim.drop("POST", f"/v1/orders/{paid['order_id']}/refund", when="after")
    first = await rig.till.refunds.refund(
        ANA, MANAGER, "broken", sale_id=sale.sale_id, lines=[LineChoice(0)]
    )
    (part,) = first.record.body["payments"]
    order = rig.sim.orders[paid["order_id"]]
    assert len(order["transactions"]["refunds"]) == 1  # sent twice, refunded once
    assert part["amount"] < paid["amount"] and order["status"] == "processed"
    second = await rig.till.refunds.refund(ANA, MANAGER, "broken", sale_id=sale.sale_id)
    (rest,) = second.record.body["payments"]
    assert part["amount"] + rest["amount"] == paid["amount"]
    assert order["status"] == "refunded" and len(order["transactions"]["refunds"]) == 2


async def test_qr_sale_journals_the_order_and_no_card(rig: Rig) -> None:
    till = rig.till
    cart = await cart_of(till, "mug")
    attempt = await till.sales.start_mercadopago(QR, cart, ANA, "qr-sale-1")
    rig.sim.qr("APRO")
    assert till.mercadopago is not None
    sale = await till.sales.pay_mercadopago(
        cart, ANA, "qr-sale-1", await till.mercadopago.wait(attempt, timeout_s=60)
    )
    (payment,) = sale.record.body["payments"]
    assert payment["method"] == "mercadopago_qr" and payment["order_id"] == attempt.order_id
    assert {"brand", "last4", "auth_code"}.isdisjoint(payment)
    assert sale.method == "mercadopago_qr"


async def test_a_point_part_that_comes_to_more_than_is_due_goes_back_at_once(rig: Rig) -> None:
    till = rig.till
    split = await till.split.begin(await cart_of(till, "mug", "cake"), ANA)
    attempt = await till.split.start_mercadopago(POINT, split.sale_id, ANA, split.remaining)
    await till.split.pay_cash(split.sale_id, ANA, Money(500, split.currency))  # meanwhile
    rig.sim.point("APRO")
    assert till.mercadopago is not None
    outcome = await till.mercadopago.wait(attempt, timeout_s=60)
    with pytest.raises(PartRefunded, match="went back"):
        await till.split.mercadopago_paid(split.sale_id, ANA, outcome)
    assert rig.sim.orders[attempt.order_id]["status"] == "refunded"
    latest = await till.split.get(split.sale_id)
    assert latest.is_open and latest.remaining == split.remaining - Money(500, split.currency)
