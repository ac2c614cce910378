"""Where a bitcoin refund goes, checked while the customer is at the counter: the form, the
chain the customer paid on and an invoice's own amount; and the record that marks one paid.
Invoices are real signed BOLT11 strings (sim/bolt11.py), their amounts cross-checked with the
independent ``bolt11`` package."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import bolt11
import pytest
from lightning_helpers import customer_invoice

from appliance.core.btc import fiat_to_msat
from appliance.core.payout import (
    PayoutError,
    address_is_mainnet,
    check_destination,
    invoice_hrp,
    payout_body,
    payout_kind,
)
from bitagora_protocol.money import Money

MAINNET = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
TESTNET = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
RATE = {"rate": "61220.275", "currency": "EUR"}
RATE_DECIMAL = Decimal(RATE["rate"])


@pytest.mark.parametrize(
    ("method", "text", "kind"),
    [
        ("lightning", "lnbc10u1p3xyz", "bolt11"),
        ("lightning", "LIGHTNING:LNURL1DP68GURN8GHJ7", "lnurl"),
        ("lightning", "satoshi@example.com", "lnurl"),
        ("onchain", f"bitcoin:{MAINNET}?amount=1", "address"),
    ],
)
def test_payout_kinds(method: str, text: str, kind: str) -> None:
    assert payout_kind(method, text) == kind


def test_payout_refused_in_words() -> None:
    with pytest.raises(PayoutError, match="Lightning address"):
        payout_kind("lightning", MAINNET)
    with pytest.raises(PayoutError, match="bitcoin address"):
        payout_kind("onchain", "lnbc10u1p3xyz!")


@pytest.mark.parametrize("amount_msat", [None, 1, 10, 1000, 2_939_520, 250_000_000, 10**11])
@pytest.mark.parametrize("network", ["bc", "tb", "bcrt"])
def test_invoice_amount_and_chain_read_like_the_bolt11_package(
    network: str, amount_msat: int | None
) -> None:
    text = customer_invoice(amount_msat, network)
    assert invoice_hrp(text) == (network, amount_msat)
    assert bolt11.decode(text).amount_msat == amount_msat


@pytest.mark.parametrize("text", ["lnbc", "lnxx10u1abc", "lnbc10x1abc", "lnbc1p1abc", "hello"])
def test_a_malformed_invoice_prefix_is_refused(text: str) -> None:
    with pytest.raises(PayoutError):
        invoice_hrp(text)


def test_address_chain() -> None:
    assert address_is_mainnet(MAINNET)
    assert address_is_mainnet("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2")
    assert address_is_mainnet("3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy")
    assert not address_is_mainnet(TESTNET)
    assert not address_is_mainnet("mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn")
    with pytest.raises(PayoutError, match="not a valid bitcoin address"):
        address_is_mainnet(MAINNET[:-1] + "x")


def test_a_qr_code_in_capitals_is_taken_in_lowercase() -> None:
    paid = {"method": "onchain", "address": MAINNET, "rate": RATE}
    payout = check_destination("onchain", f"BITCOIN:{MAINNET.upper()}", Money(180, "EUR"), paid)
    assert payout["destination"] == MAINNET
    invoice = customer_invoice()
    payout = check_destination(
        "lightning", f"LIGHTNING:{invoice.upper()}", Money(180, "EUR"), {"rate": RATE}
    )
    assert payout == {"kind": "bolt11", "destination": invoice, "status": "pending"}
    base58 = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"  # case-sensitive: kept as given
    assert check_destination("onchain", base58, Money(1, "EUR"), {})["destination"] == base58


def test_an_address_on_another_chain_than_the_payment_is_refused() -> None:
    paid = {"method": "onchain", "address": MAINNET, "rate": RATE}
    with pytest.raises(PayoutError, match="test destination, but the customer paid on mainnet"):
        check_destination("onchain", TESTNET, Money(180, "EUR"), paid)
    payout = check_destination("onchain", f"bitcoin:{MAINNET}", Money(180, "EUR"), paid)
    assert payout == {"kind": "address", "destination": MAINNET, "status": "pending"}


def test_an_invoice_on_another_chain_than_the_paid_one_is_refused() -> None:
    paid: dict[str, Any] = {"method": "lightning", "rate": RATE}
    with pytest.raises(
        PayoutError, match="invoice is for testnet, but the customer paid on mainnet"
    ):
        check_destination(
            "lightning",
            customer_invoice(None, "tb"),
            Money(180, "EUR"),
            paid,
            paid_invoice=customer_invoice(2_939_520),
        )


def test_an_invoice_amount_must_be_what_the_refund_is_worth() -> None:
    paid: dict[str, Any] = {"method": "lightning", "rate": RATE}
    amount = Money(180, "EUR")
    worth = fiat_to_msat(amount, RATE_DECIMAL)  # 2,941 sats (rounded up) at the sale's rate
    exact = customer_invoice(worth)
    assert check_destination("lightning", exact, amount, paid)["kind"] == "bolt11"
    assert check_destination("lightning", customer_invoice(None), amount, paid)["kind"] == "bolt11"
    assert check_destination("lightning", customer_invoice(worth * 99 // 100 + 1), amount, paid)
    with pytest.raises(PayoutError, match="asks 3,000 sats but the refund of €1.80 is 2,941"):
        check_destination("lightning", customer_invoice(3_000_000), amount, paid)
    with pytest.raises(PayoutError, match="asks only 2,000 sats for a refund worth 2,941"):
        check_destination("lightning", customer_invoice(2_000_000), amount, paid)
    with pytest.raises(PayoutError, match="no rate lock"):
        check_destination("lightning", exact, amount, {"method": "lightning"})


def test_payout_record_names_the_refund_and_its_proof() -> None:
    refund = {
        "refund_id": "r1",
        "sale_id": "s1",
        "currency": "EUR",
        "payments": [
            {"method": "cash", "amount": 100},
            {
                "method": "onchain",
                "amount": 80,
                "payout": {"kind": "address", "destination": MAINNET, "status": "pending"},
            },
        ],
    }
    txid = "AB" * 32
    body = payout_body(refund, "onchain", txid, {"via": "cli"})
    assert body == {
        "refund_id": "r1",
        "sale_id": "s1",
        "method": "onchain",
        "amount": 80,
        "currency": "EUR",
        "destination": MAINNET,
        "proof": txid.lower(),
        "by": {"via": "cli"},
    }
    with pytest.raises(PayoutError, match="owes nothing by lightning"):
        payout_body(refund, "lightning", txid, {"via": "cli"})
    with pytest.raises(PayoutError, match="transaction id: 64 hexadecimal digits"):
        payout_body(refund, "onchain", "not-a-txid", {"via": "cli"})


def test_usdt_refunds_go_to_a_checked_tron_address() -> None:
    good = "TUEZSdKsoDHQMeZwihtdoBiN46zxhGWYdH"
    paid = {"address": "TNPeeaaFB7K9cmo4uQpcU32zGK8G1NYqeL", "rate": {"rate": "0.9213"}}
    payout = check_destination("usdt_tron", f" {good} ", Money(180, "EUR"), paid)
    assert payout == {"kind": "tron_address", "destination": good, "status": "pending"}
    with pytest.raises(PayoutError, match="not a valid TRON address"):
        check_destination("usdt_tron", good[:-1] + "X", Money(180, "EUR"), paid)
    with pytest.raises(PayoutError, match="needs the customer's TRON address"):
        check_destination(
            "usdt_tron", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", Money(1, "EUR"), paid
        )
    refund = {
        "refund_id": "r1",
        "sale_id": "s1",
        "currency": "EUR",
        "payments": [{"method": "usdt_tron", "amount": 180, "payout": payout}],
    }
    body = payout_body(refund, "usdt_tron", "AB" * 32, {"id": "marco", "name": "Marco"})
    assert body["method"] == "usdt_tron" and body["proof"] == "ab" * 32
    assert body["destination"] == good
