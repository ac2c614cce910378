"""Mercado Pago sales on central: a device's sale paid part on the Point device and part by QR,
and a refund of the Point part, pushed over real HTTP into the ledger (real PostgreSQL), show in
the report by payment method under the methods' names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from test_central_sales_reports import ANA, DAY, MARCO, push_at, sale

from central import sales_reports

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)


async def test_report_by_method_names_point_and_qr(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    till = make_device()
    paid = sale(
        "m1", [("mug", "Mug", 1, 1200)], [("mercadopago_point", 700), ("mercadopago_qr", 500)]
    )
    paid["payments"][0].update(
        order_id="ORD01", payment_id="1001", brand="visa", last4="3704", auth_code="A1B2C3"
    )
    paid["payments"][1].update(order_id="ORD02", payment_id="1002")
    refund = {
        "refund_id": "r1",
        "sale_id": "m1",
        "original_seq": 1,
        "currency": "EUR",
        "staff": ANA,
        "approved_by": MARCO,
        "reason": "chipped",
        "lines": [],
        "taxes": [],
        "total": {"minor": 300, "currency": "EUR"},
        "payments": [
            {"method": "mercadopago_point", "amount": 300, "order_id": "ORD01", "refund_id": "R1"}
        ],
    }
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        code = await central_server.make_code("Shop MP")
        assert (await till.enroll(client, code)).status_code == 201
        await push_at(
            client,
            till,
            [
                ("sale", "2026-12-01T09:15:00.000000Z", paid),
                ("refund", "2026-12-01T10:00:00.000000Z", refund),
            ],
        )
    merchant = await db.fetchval("SELECT id FROM merchants WHERE name = 'Shop MP'")
    methods = await sales_reports.by_method(db, merchant, DAY)
    assert sorted(methods.rows) == [
        ("mercadopago_point", "EUR", 700, 300, 400),
        ("mercadopago_qr", "EUR", 500, 0, 500),
    ]
    names = sorted(row[0] for row in methods.cells("en"))
    assert names == ["Mercado Pago Point", "Mercado Pago QR"]
