"""A sale paid by Lightning as the bitcoin checkout records it (with its rate lock), for refunds
(the customer's invoice to refund to: ``lightning_helpers.customer_invoice``)."""

from __future__ import annotations

import uuid

from appliance.core.sale import Payment, sale_body
from appliance.services.refunds import CardRefunder, RefundService
from appliance.services.till import Till
from appliance.store import sales
from bitagora_protocol.journal import Record

RATE = {"rate": "61220.275", "currency": "EUR"}


async def lightning_sale(till: Till, *skus: str) -> Record:
    """A sale of ``skus`` paid in full over Lightning, as the checkout records it."""
    cart = till.sales.new_cart()
    products = {p.sku: p for p in await till.sales.products()}
    for sku in skus:
        cart.add(products[sku])
    payment = Payment(
        "lightning", cart.totals().total, details={"payment_hash": "00" * 32, "rate": RATE}
    )
    body = sale_body(str(uuid.uuid4()), cart, "ana", "Ana", [payment])
    record = await sales.record_sale(till.conn, till.identity, body)
    # told, as the checkout's finish_sale does: no "last sale" notice at the next unlock
    await sales.mark_outcome_told(till.conn, record.seq)
    return record


def refunds_with(till: Till, card: CardRefunder) -> RefundService:
    """The till's refund service over another card service (a fake, or one with its own
    HTTP client): as the composition root builds it, with ``card`` instead."""
    return RefundService(till.conn, till.identity, till.access, till.drawer, till.receipts, card)
