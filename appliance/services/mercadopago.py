"""Mercado Pago payments as the screens name them (payments/mercadopago.py takes the money): the
values and errors, without the SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING

from appliance.payments.mercadopago_types import (
    MercadoPagoError,
    MercadoPagoMethod,
    MercadoPagoNetworkError,
    OrderAttempt,
    OrderOutcome,
    OrderStatus,
)

if TYPE_CHECKING:
    from appliance.payments.mercadopago import MercadoPagoPayments

__all__ = [
    "MercadoPagoError",
    "MercadoPagoMethod",
    "MercadoPagoNetworkError",
    "MercadoPagoPayments",
    "OrderAttempt",
    "OrderOutcome",
    "OrderStatus",
]
