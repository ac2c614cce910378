"""A finished sale as the journal records it, and the receipt made from that record.

The journal body of a ``sale`` record (all amounts integers of minor units in ``currency``):
    {"sale_id", "currency", "staff": {"id", "name"},
     "lines": [{"sku", "name", "quantity", "unit_price", "amount", "tax_code", "tax_bp",
                "price_includes_tax"}],
     "taxes": [{"code", "bp", "price_includes_tax", "net", "tax", "gross"}],
     "subtotal": {"minor", "currency"}, "tax": {"minor", "currency"},
     "total": {"minor", "currency"},
     "payments": [{"method", "amount", "tendered", "change", ...details}],
     "rounding": int,                    (cash rounding, core/tender.py: the payments' amounts
                                          add up to total + rounding; absent when none)
     "catalog": {"version", "sha256"}}   (the catalog version the cart was priced from; absent
                                          while no version is recorded)

A bitcoin payment's details (rail, rate lock, sats or msat, address or payment hash) are given
by the payment session that settled it; a card payment's (brand, last4, payment_intent, charge,
capture) by the till from the card attempt that succeeded; see docs/PROTOCOL.md 1.4.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.core.cart import Cart
from appliance.core.catalog import TaxRate
from appliance.core.receipt import Receipt, ReceiptLine, ReceiptTax
from appliance.core.words import ENGLISH, N_, Translator, moment_text
from bitagora_protocol.money import Money


class SaleError(ValueError):
    """A sale that cannot be finished as asked (empty cart, payments that do not cover it)."""


@dataclass(frozen=True)
class Payment:
    method: str
    amount: Money
    tendered: Money | None = None
    change: Money | None = None
    details: Mapping[str, Any] = field(default_factory=dict)  # method-specific, see the doc


def _money(value: Money) -> dict[str, Any]:
    return {"minor": value.minor, "currency": value.currency}


def sale_body(
    sale_id: str,
    cart: Cart,
    staff_id: str,
    staff_name: str,
    payments: list[Payment],
    *,
    training: bool = False,
) -> dict[str, Any]:
    """``training``: a practice sale (``"training": true`` in the body; no money, in no total)."""
    body = with_payments(cart_body(sale_id, cart, staff_id, staff_name), payments)
    return {**body, "training": True} if training else body


def with_payments(cart_part: dict[str, Any], payments: list[Payment]) -> dict[str, Any]:
    """The sale body: ``cart_part`` (from :func:`cart_body`) settled by ``payments``."""
    currency, total = cart_part["currency"], cart_part["total"]["minor"]
    entries = [payment_entry(p) for p in payments]
    paid = sum((p.amount for p in payments), Money.zero(currency))
    rounding = entries_rounding(entries)
    if paid != Money(total + rounding, currency):
        raise SaleError(f"payments of {paid} do not settle the total {Money(total, currency)}")
    return with_rounding({**cart_part, "payments": entries}, rounding)


def entries_rounding(entries: Iterable[Mapping[str, Any]]) -> int:
    """The cash rounding ``payments`` entries made (core/tender.py), in minor units."""
    return sum(int(entry.get("rounding", 0)) for entry in entries)


def with_rounding(body: dict[str, Any], rounding: int) -> dict[str, Any]:
    """A sale body with its ``rounding`` when it has one."""
    return {**body, "rounding": rounding} if rounding else body


def payment_entry(payment: Payment) -> dict[str, Any]:
    """One ``payments`` entry of a sale body."""
    return {
        "method": payment.method,
        "amount": payment.amount.minor,
        "tendered": payment.tendered.minor if payment.tendered else None,
        "change": payment.change.minor if payment.change else None,
        **payment.details,
    }


def cart_body(sale_id: str, cart: Cart, staff_id: str, staff_name: str) -> dict[str, Any]:
    """Everything of the sale body but its payments: what a payment session keeps while the
    customer pays (so a payment that arrives after a restart still finishes this sale)."""
    if cart.is_empty:
        raise SaleError("the cart is empty")
    totals = cart.totals()
    body: dict[str, Any] = {
        "sale_id": sale_id,
        "currency": cart.currency,
        "staff": {"id": staff_id, "name": staff_name},
        "lines": [
            {
                "sku": line.product.sku,
                "name": line.product.name,
                "quantity": line.quantity,
                "unit_price": line.product.price.minor,
                "amount": line.amount.minor,
                "tax_code": line.product.tax.code,
                "tax_bp": line.product.tax.basis_points,
                "price_includes_tax": line.product.price_includes_tax,
            }
            for line in cart.lines
        ],
        "taxes": [
            {
                "code": g.rate.code,
                "bp": g.rate.basis_points,
                "price_includes_tax": g.price_includes_tax,
                "net": g.net.minor,
                "tax": g.tax.minor,
                "gross": g.gross.minor,
            }
            for g in totals.groups
        ],
        "subtotal": _money(totals.subtotal),
        "tax": _money(totals.tax),
        "total": _money(totals.total),
    }
    if cart.catalog is not None:
        body["catalog"] = cart.catalog.body()
    return body


METHOD_LABELS = {
    "cash": N_("Cash"),
    "lightning": N_("Lightning"),
    "onchain": N_("Bitcoin"),
    "card": N_("Card"),
    "mercadopago_point": N_("Mercado Pago Point"),
    "mercadopago_qr": N_("Mercado Pago QR"),
    "usdt_tron": N_("USDT (TRON)"),
}
# Methods whose payment entry may name the card (brand, last4) for the receipt.
CARD_METHODS = frozenset({"card", "mercadopago_point"})


def method_label(method: str, tr: Translator = ENGLISH) -> str:
    """A payment method's name in ``tr``'s language ("Efectivo"); an unknown one as it is."""
    label = METHOD_LABELS.get(method)
    return tr.gettext(label) if label else method


def payment_label(payment: Mapping[str, Any], tr: Translator = ENGLISH) -> str:
    """How a receipt or a screen names a payment: "Cash", or for a card the masked card as
    card schemes want it on a cardholder receipt, "Card VISA •••• 4242"."""
    label = method_label(payment["method"], tr)
    if payment["method"] not in CARD_METHODS or not payment.get("brand"):
        return str(label)
    brand = str(payment["brand"]).upper()
    last4 = payment.get("last4")
    return f"{label} {brand} •••• {last4}" if last4 else f"{label} {brand}"


def receipt_for(
    body: dict[str, Any],
    seq: int,
    sig: str,
    at_local: datetime,
    merchant: str,
    header: tuple[str, ...],
    footer: tuple[str, ...],
    copy: bool = False,
    tr: Translator = ENGLISH,
    locale: str = "en",
) -> Receipt:
    """The customer's receipt, made only from the journal record (what is printed is signed),
    in ``tr``'s language with amounts and its date as ``locale`` writes them."""
    cur = body["currency"]

    def fmt(minor: int) -> str:
        return Money(minor, cur).localized(locale)

    change = sum(p["change"] or 0 for p in body["payments"])
    return Receipt(
        merchant=merchant,
        header_lines=header,
        sale_id=body["sale_id"],
        at_local=moment_text(at_local, locale),
        staff=body["staff"]["name"],
        lines=tuple(
            ReceiptLine(
                ln["name"], ln["quantity"], fmt(ln["unit_price"]), fmt(ln["amount"]), ln["tax_code"]
            )
            for ln in body["lines"]
        ),
        subtotal=fmt(body["subtotal"]["minor"]),
        tax=fmt(body["tax"]["minor"]),
        total=fmt(body["total"]["minor"]),
        taxes=tuple(
            ReceiptTax(
                t["code"],
                TaxRate(t["code"], t["bp"]).percent_text,
                fmt(t["net"]),
                fmt(t["tax"]),
                fmt(t["gross"]),
            )
            for t in body["taxes"]
        ),
        payments=tuple(
            (
                payment_label(p, tr),
                fmt(p["tendered"] if p["tendered"] is not None else p["amount"]),
            )
            for p in body["payments"]
        ),
        change=fmt(change) if change else None,
        rounding=fmt(body["rounding"]) if body.get("rounding") else None,
        training=body.get("training") is True,
        journal_seq=seq,
        signature_short=sig[:16],
        footer_lines=footer,
        copy=copy,
    )
