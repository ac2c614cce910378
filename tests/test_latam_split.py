"""One sale paid three ways at once, the ones Latin American shops ask for: part on a Mercado
Pago Point device, part by Mercado Pago QR and the rest in USDT on TRON, against the Mercado
Pago, TronGrid and printer simulators over the wire; then the receipt, the X totals by method
and a refund of the whole sale (Mercado Pago money back through Mercado Pago, the USDT as a
pending payout the merchant pays)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import STAFF, cart_of, records
from http_helpers import serve
from usdt_helpers import CUSTOMER, usdt_shop

from appliance.payments.mercadopago import MercadoPagoMethod
from appliance.services.refunds import Approval, payouts
from bitagora_devtools.sim.mercadopago import DEFAULT_POS, DEFAULT_TERMINAL, MercadoPagoSim
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(120)

TOKEN = "APP_USR-" + "l4t4m" * 8


async def test_point_qr_and_usdt_pay_one_sale_and_give_it_back(tmp_path: Path) -> None:
    mp_sim = MercadoPagoSim(access_token=TOKEN)
    async with serve(mp_sim.app()) as mp_url:
        env = {
            "BITAGORA_MERCADOPAGO_ACCESS_TOKEN": TOKEN,
            "BITAGORA_MERCADOPAGO_POINT_TERMINAL_ID": DEFAULT_TERMINAL,
            "BITAGORA_MERCADOPAGO_QR_EXTERNAL_POS_ID": DEFAULT_POS,
            "BITAGORA_MERCADOPAGO_API_BASE": mp_url,
            "BITAGORA_MERCADOPAGO_POLL_S": "0.02",
        }
        async with usdt_shop(tmp_path, env) as s:
            till = s.shop.till
            mp = till.mercadopago
            assert mp is not None
            split = await till.split.begin(await cart_of(s.shop, "mug", 1), STAFF)
            assert split.total == Money(1200, "EUR")

            point = await till.split.start_mercadopago(
                MercadoPagoMethod.POINT, split.sale_id, STAFF, Money(500, "EUR")
            )
            mp_sim.point("APRO")
            await till.split.mercadopago_paid(
                split.sale_id, STAFF, await mp.wait(point, timeout_s=60)
            )
            qr = await till.split.start_mercadopago(
                MercadoPagoMethod.QR, split.sale_id, STAFF, Money(400, "EUR")
            )
            mp_sim.qr("APRO", qr.order_id)
            await till.split.mercadopago_paid(split.sale_id, STAFF, await mp.wait(qr, timeout_s=60))
            offer = await s.usdt.offer_part(split.sale_id, Money(300, "EUR"), STAFF)
            assert offer.address is not None and offer.sats is not None
            s.grid.pay(offer.address, offer.sats, solid=True)
            await s.usdt.check()  # TronGrid: solidified, the last part paid, the sale done

            (sale,) = await records(s.shop, "sale")
            paid = [(p["method"], p["amount"]) for p in sale.body["payments"]]
            assert paid == [("mercadopago_point", 500), ("mercadopago_qr", 400), ("usdt_tron", 300)]
            by_order = {p.get("order_id"): p for p in sale.body["payments"]}
            assert by_order[point.order_id]["last4"] == "3704"
            assert mp_sim.orders[point.order_id]["total_amount"] == "5.00"
            assert mp_sim.orders[qr.order_id]["total_amount"] == "4.00"

            receipt = (await s.shop.printer.wait_receipts(1))[0]
            for line in ("Mercado Pago Point", "Mercado Pago QR", "USDT (TRON)", "€12.00"):
                assert line in receipt, receipt
            totals = await till.shifts.current()
            assert totals.by_method == {
                "mercadopago_point": 500,
                "mercadopago_qr": 400,
                "usdt_tron": 300,
            }

            result = await till.refunds.refund(
                STAFF, Approval(pin="9999"), "returned", sale_id=split.sale_id, destination=CUSTOMER
            )
            back = {p["method"]: p for p in result.record.body["payments"]}
            assert mp_sim.orders[point.order_id]["status"] == "refunded"
            assert mp_sim.orders[qr.order_id]["status"] == "refunded"
            assert back["mercadopago_point"]["amount"] == 500
            assert back["mercadopago_qr"]["amount"] == 400
            pending = await payouts(till.conn, pending_only=True)
            assert [(p["method"], p["amount"]) for p in pending] == [("usdt_tron", 300)]
            assert (await till.shifts.current()).by_method == {
                "mercadopago_point": 0,
                "mercadopago_qr": 0,
                "usdt_tron": 0,
            }
