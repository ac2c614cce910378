"""Refunds and voids: what is given back for a finished sale, computed from its journal body alone.

The journal body of a ``refund`` record (all amounts positive integers of minor units: money given
back to the customer; docs/PROTOCOL.md 1.4):
    {"refund_id", "sale_id", "original_seq", "currency", "staff": {"id", "name"},
     "approved_by": {"id", "name"}, "reason",
     "lines": [{"sku", "name", "quantity", "amount", "tax_code", "tax_bp", "price_includes_tax"}],
     "taxes": [{"code", "bp", "price_includes_tax", "net", "tax", "gross"}],
     "total": {"minor", "currency"},
     "payments": [{"method", "amount", ...details}]}

Rules (each one a ``RefundError`` in words when broken):

- Lines are chosen by their index in the sale body and a quantity (``None``: everything left).
  What is left of a line is its quantity less what earlier refunds of the same sale gave back
  for that sku (a sale made from a cart has one line per sku; lines of a hand-made body that
  share a sku share what is left).
- Taxes: the same group rule as the sale (core/cart.py: one rounding per (rate, pricing) group).
  A refund's group is the *difference* between the group computed over everything refunded so
  far including this refund and the group over what was refunded before. So the refunds of a
  sale never add up to more tax (or net, or gross) than the sale had: once every line has gone
  back, the refunds' taxes sum exactly to the sale's.
- Money goes back to the sale's own payments, in proportion to what is left of each (its paid
  amount, without a cash payment's rounding, less what earlier refunds gave back to it: for a
  card, to its PaymentIntent; for other methods, by the method, using up its payments in
  order), rounded down; the minor units left by
  rounding go to cash first (a drawer can give exact coins), then the payments in the sale's
  order, never more than what is left of one. A refund of a whole sale thus repays each payment
  exactly what is left of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.core.cart import tax_group
from appliance.core.catalog import TaxRate
from appliance.core.payout import PAYOUT_LABELS
from appliance.core.receipt import Receipt, ReceiptLine, ReceiptTax
from appliance.core.sale import method_label
from appliance.core.words import ENGLISH, Translator, moment_text
from bitagora_protocol.money import Money

METHOD_ORDER = ("cash",)  # who gets rounding remainders first
REFUND_REASON_MAX = 200


class RefundError(ValueError):
    """A refund or void that cannot be done as asked; the message says why in words."""


@dataclass(frozen=True)
class LineChoice:
    """Refund ``quantity`` of the sale's line ``index`` (0-based); None: all that is left."""

    index: int
    quantity: int | None = None


@dataclass(frozen=True)
class RefundPlan:
    lines: list[dict[str, Any]]
    taxes: list[dict[str, Any]]
    total: Money
    # (method, amount, the sale's payment entry it repays)
    payments: list[tuple[str, Money, Mapping[str, Any]]]


GroupKey = tuple[str, int, bool]


def _key(line: Mapping[str, Any]) -> GroupKey:
    return (str(line["tax_code"]), int(line["tax_bp"]), bool(line["price_includes_tax"]))


def _group_amounts(lines: Iterable[Mapping[str, Any]]) -> dict[GroupKey, int]:
    sums: dict[GroupKey, int] = {}
    for line in lines:
        sums[_key(line)] = sums.get(_key(line), 0) + int(line["amount"])
    return sums


def refunded_quantities(previous: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    done: dict[str, int] = {}
    for refund in previous:
        for line in refund["lines"]:
            done[line["sku"]] = done.get(line["sku"], 0) + int(line["quantity"])
    return done


def left_to_refund(sale: Mapping[str, Any], previous: Iterable[Mapping[str, Any]]) -> int:
    """The minor units of ``sale`` not yet given back by ``previous`` refunds."""
    return int(sale["total"]["minor"]) - sum(int(r["total"]["minor"]) for r in previous)


def plan_refund(
    sale: Mapping[str, Any],
    previous: Sequence[Mapping[str, Any]],
    choices: Sequence[LineChoice] | None = None,
) -> RefundPlan:
    """What to give back for ``choices`` of ``sale`` (None: everything left), given the bodies
    of the ``previous`` refunds of the same sale."""
    currency = str(sale["currency"])
    sale_lines: list[Mapping[str, Any]] = list(sale["lines"])
    done = refunded_quantities(previous)
    left: dict[str, int] = {}
    for line in sale_lines:
        left[line["sku"]] = left.get(line["sku"], 0) + int(line["quantity"])
    for sku, qty in done.items():
        left[sku] = left.get(sku, 0) - qty
    if choices is None:
        choices = [LineChoice(i) for i in range(len(sale_lines))]
    chosen: dict[str, int] = {}
    lines: list[dict[str, Any]] = []
    for choice in choices:
        if not 0 <= choice.index < len(sale_lines):
            raise RefundError(
                f"the sale has no line {choice.index + 1} (it has {len(sale_lines)} lines)"
            )
        line = sale_lines[choice.index]
        sku = line["sku"]
        remaining = left.get(sku, 0) - chosen.get(sku, 0)
        qty = remaining if choice.quantity is None else choice.quantity
        if choice.quantity is None and qty <= 0:
            continue  # a whole refund skips lines already given back
        if not isinstance(qty, int) or qty < 1:
            raise RefundError(f"the quantity of {line['name']} to refund must be at least 1")
        if qty > remaining:
            raise RefundError(
                f"only {max(remaining, 0)} of {line['name']} left to refund"
                f" ({line['quantity']} sold, {line['quantity'] - remaining} refunded already)"
            )
        chosen[sku] = chosen.get(sku, 0) + qty
        lines.append(
            {
                "sku": sku,
                "name": line["name"],
                "quantity": qty,
                "amount": int(line["unit_price"]) * qty,
                "tax_code": line["tax_code"],
                "tax_bp": line["tax_bp"],
                "price_includes_tax": line["price_includes_tax"],
            }
        )
    if not lines:
        raise RefundError("nothing is left to refund on this sale")
    before = _group_amounts(line for r in previous for line in r["lines"])
    now = _group_amounts(lines)
    taxes: list[dict[str, Any]] = []
    for key in sorted(now):
        code, bp, incl = key
        rate = TaxRate(code, bp)
        after = tax_group(rate, incl, Money(before.get(key, 0) + now[key], currency))
        prior = tax_group(rate, incl, Money(before.get(key, 0), currency))
        taxes.append(
            {
                "code": code,
                "bp": bp,
                "price_includes_tax": incl,
                "net": after.net.minor - prior.net.minor,
                "tax": after.tax.minor - prior.tax.minor,
                "gross": after.gross.minor - prior.gross.minor,
            }
        )
    total = sum(t["gross"] for t in taxes)
    if total > left_to_refund(sale, previous):
        raise RefundError(
            f"{Money(total, currency)} is more than the"
            f" {Money(left_to_refund(sale, previous), currency)} left to refund on this sale"
        )
    payments = allocate(sale, previous, Money(total, currency))
    return RefundPlan(lines, taxes, Money(total, currency), payments)


def allocate(
    sale: Mapping[str, Any], previous: Sequence[Mapping[str, Any]], total: Money
) -> list[tuple[str, Money, Mapping[str, Any]]]:
    """Split ``total`` over the sale's payment methods (the rule in the module docstring)."""
    paid: list[Mapping[str, Any]] = list(sale["payments"])
    # A card payment is its own PaymentIntent, a Mercado Pago payment its own order (a split
    # sale may have several): what earlier refunds gave back to it is what went to that one.
    # Other methods are fungible (cash is cash, a payout comes from the merchant's wallet):
    # earlier refunds by a method use up its payments in order.
    by_intent: dict[str, int] = {}
    by_method: dict[str, int] = {}
    for refund in previous:
        for p in refund["payments"]:
            intent = p.get("payment_intent") or p.get("order_id")
            if intent:
                by_intent[intent] = by_intent.get(intent, 0) + int(p["amount"])
            else:
                by_method[p["method"]] = by_method.get(p["method"], 0) + int(p["amount"])
    left: list[int] = []
    for p in paid:
        intent = p.get("payment_intent") or p.get("order_id")
        given = by_intent if intent else by_method
        key = intent or p["method"]
        # A rounded cash payment settled the exact amount due: that is what goes back.
        settled = int(p["amount"]) - int(p.get("rounding", 0))
        use = min(settled, given.get(key, 0))
        given[key] = given.get(key, 0) - use
        left.append(settled - use)
    pool = sum(left)
    if total.minor > pool:
        raise RefundError(f"{total} is more than the {Money(pool, total.currency)} left to refund")
    shares = [total.minor * x // pool if pool else 0 for x in left]
    rest = total.minor - sum(shares)
    order = sorted(
        range(len(paid)),
        key=lambda i: (0 if paid[i]["method"] in METHOD_ORDER else 1, i),
    )
    while rest > 0:
        for i in order:
            if rest and shares[i] < left[i]:
                shares[i] += 1
                rest -= 1
    return [
        (str(p["method"]), Money(share, total.currency), p)
        for p, share in zip(paid, shares, strict=True)
        if share > 0
    ]


def check_reason(reason: str) -> str:
    text = " ".join(reason.split())
    if not text:
        raise RefundError("say why (a reason is part of the record)")
    if len(text) > REFUND_REASON_MAX:
        raise RefundError(f"the reason is too long ({len(text)} > {REFUND_REASON_MAX} characters)")
    return text


def void_body(
    sale_id: str,
    cart_part: Mapping[str, Any],
    staff: tuple[str, str],
    approved_by: tuple[str, str],
    reason: str,
) -> dict[str, Any]:
    """The body of a ``void`` record: the cart given up before payment (``cart_part`` from
    core.sale.cart_body)."""
    return {
        "sale_id": sale_id,
        "lines": [
            {k: line[k] for k in ("sku", "name", "quantity", "amount", "tax_code")}
            for line in cart_part["lines"]
        ],
        "total": dict(cart_part["total"]),
        "staff": {"id": staff[0], "name": staff[1]},
        "approved_by": {"id": approved_by[0], "name": approved_by[1]},
        "reason": check_reason(reason),
    }


def refund_receipt(
    body: Mapping[str, Any],
    seq: int,
    sig: str,
    at_local: datetime,
    merchant: str,
    header: tuple[str, ...],
    footer: tuple[str, ...],
    tr: Translator = ENGLISH,
    locale: str = "en",
) -> Receipt:
    """The customer's refund receipt, from the refund record only: titled REFUND, every amount
    negative (money going back), a bitcoin payout marked as still to be paid; in ``tr``'s
    language, amounts and the date as ``locale`` writes them."""
    _ = tr.gettext
    cur = body["currency"]

    def neg(minor: int) -> str:
        return Money(-minor, cur).localized(locale)

    net = sum(int(t["net"]) for t in body["taxes"])
    tax = sum(int(t["tax"]) for t in body["taxes"])
    return Receipt(
        merchant=merchant,
        header_lines=(
            *header,
            _("Refund of sale {sale} (journal #{seq})").format(
                sale=body["sale_id"], seq=body["original_seq"]
            ),
            _("Reason: {reason}").format(reason=body["reason"]),
            _("Approved by {name}").format(name=body["approved_by"]["name"]),
        ),
        sale_id=body["refund_id"],
        at_local=moment_text(at_local, locale),
        staff=body["staff"]["name"],
        lines=tuple(
            ReceiptLine(
                ln["name"],
                ln["quantity"],
                neg(int(ln["amount"]) // int(ln["quantity"])),
                neg(int(ln["amount"])),
                ln["tax_code"],
            )
            for ln in body["lines"]
        ),
        subtotal=neg(net),
        tax=neg(tax),
        total=neg(int(body["total"]["minor"])),
        taxes=tuple(
            ReceiptTax(
                t["code"],
                TaxRate(t["code"], t["bp"]).percent_text,
                neg(int(t["net"])),
                neg(int(t["tax"])),
                neg(int(t["gross"])),
            )
            for t in body["taxes"]
        ),
        payments=tuple(
            (
                _(PAYOUT_LABELS[p["method"]])
                if p["method"] in PAYOUT_LABELS
                else method_label(p["method"], tr),
                neg(int(p["amount"])),
            )
            for p in body["payments"]
        ),
        change=None,
        journal_seq=seq,
        signature_short=sig[:16],
        footer_lines=footer,
        title=_("REFUND"),
    )
