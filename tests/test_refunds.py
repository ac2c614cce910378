"""Refunds and voids through the service, on a real store with the ESC/POS printer simulator:
the drawer kicks for cash, the REFUND receipt prints, a split sale's one line goes back in
proportion, bitcoin refunds become pending payouts, and the rules hold without any UI."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lightning_helpers import customer_invoice
from refund_helpers import RATE, refunds_with
from tui_helpers import till_with_printer

from appliance.core.lockout import LockedOut
from appliance.core.refund import LineChoice, RefundError
from appliance.core.sale import Payment, sale_body
from appliance.services.printing import local_time
from appliance.services.refunds import Approval, mark_payout_paid, payouts
from appliance.services.till import AuthError, NotAuthorized, Staff, Till
from appliance.store import journal, sales
from bitagora_protocol.journal import verify_chain
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(60)

ANA = Staff("ana", "Ana", "cashier")  # demo staff: Ana 1234, Marco 9999 (manager)
MANAGER = Approval(pin="9999")
BOLT11 = customer_invoice()  # no amount: the merchant's wallet pays the refund's sats


async def records(till: Till) -> list[Any]:
    return [r async for r in journal.iterate(till.conn)]


async def cash_sale(till: Till, *skus: str) -> Any:
    cart = till.sales.new_cart()
    products = {p.sku: p for p in await till.sales.products()}
    for sku in skus:
        cart.add(products[sku])
    return await till.sales.pay_cash(cart, ANA, Money(10_000, till.currency))


async def split_sale(till: Till, methods: tuple[str, str] = ("cash", "card")) -> Any:
    """A sale paid half by each method, appended directly (split tender has no screen yet)."""
    cart = till.sales.new_cart()
    products = {p.sku: p for p in await till.sales.products()}
    cart.add(products["mug"])  # 12.00 at 21 %
    cart.add(products["espresso"], 2)  # 3.60 at 10 %
    total = cart.totals().total  # 15.60
    first = Money(total.minor // 2, total.currency)
    details: dict[str, dict[str, Any]] = {
        "card": {"payment_intent": "pi_test_split", "brand": "visa", "last4": "4242"},
        "lightning": {"payment_hash": "00" * 32, "rate": RATE},
        "onchain": {"address": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "rate": RATE},
        "cash": {},
    }
    payments = [
        Payment(methods[0], first, details=details[methods[0]]),
        Payment(methods[1], total - first, details=details[methods[1]]),
    ]
    body = sale_body(str(uuid.uuid4()), cart, "ana", "Ana", payments)
    return await sales.record_sale(till.conn, till.identity, body)


async def test_whole_cash_refund_kicks_drawer_and_prints(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        sale = await cash_sale(till, "espresso", "mug")
        await sim.wait_receipts(1)
        await sim.wait_drawer_kicks(1)
        result = await till.refunds.refund(ANA, MANAGER, "wrong order", sale_id=sale.sale_id)
        body = result.record.body
        assert result.record.kind == "refund" and result.problems == ()
        assert body["original_seq"] == sale.record.seq
        assert body["total"]["minor"] == sale.record.body["total"]["minor"] == 1380
        assert body["payments"] == [{"method": "cash", "amount": 1380}]
        assert [(t["code"], t["tax"]) for t in body["taxes"]] == [
            (t["code"], t["tax"]) for t in sale.record.body["taxes"]
        ]
        assert body["approved_by"] == {"id": "marco", "name": "Marco"}
        assert await sim.wait_drawer_kicks(2)
        # The drawer opening comes after the refund and names it.
        assert result.drawer is not None and result.drawer.seq == result.record.seq + 1
        assert result.drawer.body["reason"] == "refund"
        assert result.drawer.body["refund_id"] == body["refund_id"]
        receipt = (await sim.wait_receipts(2))[1]
        assert "REFUND" in receipt and "-€13.80" in receipt and "wrong order" in receipt
        verify_chain(await records(till), till.identity.public_key, till.identity.device_id)
        # Nothing is left: a second refund is refused in words.
        with pytest.raises(RefundError, match="nothing is left"):
            await till.refunds.refund(ANA, MANAGER, "again", sale_id=sale.sale_id)


async def test_one_line_of_a_split_sale(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        sale = await split_sale(till)
        card = FakeCard()
        service = refunds_with(till, card)
        result = await service.refund(
            ANA, MANAGER, "chipped", original_seq=sale.seq, lines=[LineChoice(0)]
        )
        body = result.record.body
        assert body["lines"] == [
            {
                "sku": "mug",
                "name": "BitAgora mug",
                "quantity": 1,
                "amount": 1200,
                "tax_code": "A",
                "tax_bp": 2100,
                "price_includes_tax": True,
            }
        ]
        assert body["taxes"] == [
            {
                "code": "A",
                "bp": 2100,
                "price_includes_tax": True,
                "net": 992,
                "tax": 208,
                "gross": 1200,
            }
        ]
        # 7.80 cash + 7.80 card paid: 12.00 back half by each.
        assert [(p["method"], p["amount"]) for p in body["payments"]] == [
            ("cash", 600),
            ("card", 600),
        ]
        assert body["payments"][1]["payment_intent"] == "pi_test_split"
        assert card.calls == [(body["refund_id"], "pi_test_split", Money(600, "EUR"))]
        # The rest: one espresso of two, then the last; odd cents to cash first.
        second = await service.refund(
            ANA, MANAGER, "cold", original_seq=sale.seq, lines=[LineChoice(1, 1)]
        )
        assert [(p["method"], p["amount"]) for p in second.record.body["payments"]] == [
            ("cash", 90),
            ("card", 90),
        ]
        with pytest.raises(RefundError, match="only 1 of Espresso left"):
            await service.refund(
                ANA, MANAGER, "cold", original_seq=sale.seq, lines=[LineChoice(1, 2)]
            )
        third = await service.refund(ANA, MANAGER, "cold", original_seq=sale.seq)
        refunds = [result.record.body, second.record.body, third.record.body]
        assert sum(r["total"]["minor"] for r in refunds) == sale.body["total"]["minor"]
        for group in sale.body["taxes"]:
            got = sum(t["tax"] for r in refunds for t in r["taxes"] if t["code"] == group["code"])
            assert got == group["tax"]
        by_method: dict[str, int] = {}
        for r in refunds:
            for p in r["payments"]:
                by_method[p["method"]] = by_method.get(p["method"], 0) + p["amount"]
        assert by_method == {p["method"]: p["amount"] for p in sale.body["payments"]}
        await sim.wait_receipts(4)  # the sale's and three refunds'


class FakeCard:
    """Records the card refunds asked for (the Stripe simulator test is in test_card_refunds)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Money]] = []

    async def refund(self, refund_id: str, payment_intent: str, amount: Money) -> dict[str, Any]:
        self.calls.append((refund_id, payment_intent, amount))
        return {"id": f"re_{len(self.calls)}", "status": "succeeded"}


async def test_lightning_refund_is_a_pending_payout(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        sale = await split_sale(till, ("lightning", "cash"))
        service = till.refunds
        with pytest.raises(RefundError, match="ask the customer where"):
            await service.refund(ANA, MANAGER, "changed mind", original_seq=sale.seq)
        with pytest.raises(RefundError, match="Lightning refund needs"):
            await service.refund(
                ANA, MANAGER, "changed mind", original_seq=sale.seq, destination="hello"
            )
        result = await service.refund(
            ANA, MANAGER, "changed mind", original_seq=sale.seq, destination=BOLT11
        )
        light = result.record.body["payments"][0]
        assert light["method"] == "lightning"
        assert light["payout"] == {"kind": "bolt11", "destination": BOLT11, "status": "pending"}
        pending = await payouts(till.conn, pending_only=True)
        assert [(p["refund_id"], p["amount"], p["kind"]) for p in pending] == [
            (result.record.body["refund_id"], light["amount"], "bolt11")
        ]
        receipt = (await sim.wait_receipts(2))[1]  # the sale's, then the refund's
        assert "REFUND" in receipt and "to pay" in receipt


async def test_onchain_refund_address_checked_by_embit(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await split_sale(till, ("onchain", "cash"))
        service = till.refunds
        bad = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdx"  # last character mistyped
        with pytest.raises(RefundError, match="not a valid bitcoin address"):
            await service.refund(ANA, MANAGER, "x", original_seq=sale.seq, destination=bad)
        good = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
        result = await service.refund(
            ANA, MANAGER, "x", original_seq=sale.seq, destination=f"bitcoin:{good}?amount=1"
        )
        payout = result.record.body["payments"][0]["payout"]
        assert payout == {"kind": "address", "destination": good, "status": "pending"}


async def test_lightning_refund_refuses_an_address(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await split_sale(till, ("cash", "lightning"))
        sale_body_ = dict(sale.body)
        assert sale_body_["payments"][1]["method"] == "lightning"
        with pytest.raises(RefundError, match="needs the customer's invoice"):
            await till.refunds.refund(
                ANA,
                MANAGER,
                "x",
                original_seq=sale.seq,
                destination="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            )


async def test_cashier_cannot_refund_or_void_even_without_ui(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await cash_sale(till, "espresso")
        before = len(await records(till))
        service = till.refunds
        with pytest.raises(NotAuthorized, match="a manager must approve a refund"):
            await service.refund(ANA, Approval(pin="1234"), "x", sale_id=sale.sale_id)
        with pytest.raises(NotAuthorized):
            await service.refund(ANA, Approval(badge="04A224B2C35E80"), "x", sale_id=sale.sale_id)
        with pytest.raises(NotAuthorized):
            await service.refund(ANA, Approval(), "x", sale_id=sale.sale_id)
        cart = till.sales.new_cart()
        cart.add((await till.sales.products())[0])
        with pytest.raises(NotAuthorized):
            await service.void(cart, ANA, Approval(pin="1234"), "x")
        assert len(await records(till)) == before
        # A manager's badge does approve.
        result = await service.refund(
            ANA, Approval(badge="04C1D2E3F40A81"), "x", sale_id=sale.sale_id
        )
        assert result.record.body["approved_by"]["id"] == "marco"


async def test_wrong_manager_pin_counts_towards_lockout(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await cash_sale(till, "espresso")
        service = till.refunds
        for _ in range(4):
            with pytest.raises(AuthError):
                await service.refund(ANA, Approval(pin="0000"), "x", sale_id=sale.sale_id)
        with pytest.raises(LockedOut):
            await service.refund(ANA, Approval(pin="0000"), "x", sale_id=sale.sale_id)
        with pytest.raises(LockedOut):  # now even the right PIN is refused for Ana
            await service.refund(ANA, MANAGER, "x", sale_id=sale.sale_id)
        assert not [r for r in await records(till) if r.kind == "refund"]


async def test_over_refund_refused(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await cash_sale(till, "espresso")
        service = till.refunds
        with pytest.raises(RefundError, match="only 1 of Espresso left"):
            await service.refund(ANA, MANAGER, "x", sale_id=sale.sale_id, lines=[LineChoice(0, 2)])
        with pytest.raises(RefundError, match="no line 3"):
            await service.refund(ANA, MANAGER, "x", sale_id=sale.sale_id, lines=[LineChoice(2, 1)])
        with pytest.raises(RefundError, match="no sale"):
            await service.refund(ANA, MANAGER, "x", sale_id="nope")
        with pytest.raises(RefundError, match="reason"):
            await service.refund(ANA, MANAGER, "  ", sale_id=sale.sale_id)


async def test_void_is_journaled(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        cart = till.sales.new_cart()
        products = {p.sku: p for p in await till.sales.products()}
        cart.add(products["cake"], 2)
        record = await till.refunds.void(cart, ANA, MANAGER, "customer left")
        assert record.kind == "void" and cart.is_empty
        assert record.body["total"]["minor"] == 840
        assert record.body["approved_by"] == {"id": "marco", "name": "Marco"}
        assert record.body["lines"][0]["sku"] == "cake"
        assert await sales.sale_count(till.conn) == 0


async def test_cli_lists_payouts_and_marks_one_paid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The merchant pays the refund from their own wallet, then records it from the device's
    shell: the payout shows as paid with its proof, once."""
    from appliance.cli import main

    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await split_sale(till, ("lightning", "cash"))
        result = await till.refunds.refund(
            ANA, MANAGER, "changed mind", original_seq=sale.seq, destination=BOLT11
        )
        data_dir = str(till.settings.data_dir)
    refund_id = result.record.body["refund_id"]

    def cli(*args: str) -> tuple[int, str, str]:
        code = main(["refunds", *args, "--data-dir", data_dir])
        out, err = capsys.readouterr()
        return code, out, err

    elsewhere = ["--data-dir", str(tmp_path / "elsewhere")]
    args = ["refunds", "paid", refund_id, "--method", "lightning", "--proof", "5f" * 32]
    wrong = await asyncio.to_thread(main, args + elsewhere)
    assert wrong == 1 and "no device store at" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()  # no new device made by a typo
    code, out, _ = await asyncio.to_thread(cli, "list", "--pending")
    assert code == 0 and refund_id in out and f"lightning to bolt11 {BOLT11}: pending" in out
    preimage = "5f" * 32
    code, _, err = await asyncio.to_thread(
        cli, "paid", refund_id, "--method", "lightning", "--proof", "nope"
    )
    assert code == 1 and "payment preimage or hash: 64 hexadecimal digits" in err
    code, out, _ = await asyncio.to_thread(
        cli, "paid", refund_id, "--method", "lightning", "--proof", preimage
    )
    assert code == 0 and "recorded as paid" in out
    code, out, _ = await asyncio.to_thread(cli, "list", "--pending")
    assert out.strip() == "no pending payouts"
    code, out, _ = await asyncio.to_thread(cli, "list")
    assert f": paid (proof {preimage})" in out
    code, _, err = await asyncio.to_thread(
        cli, "paid", refund_id, "--method", "lightning", "--proof", preimage
    )
    assert code == 1 and "already paid" in err


async def test_payout_marked_paid_at_the_till_needs_a_manager(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await split_sale(till, ("onchain", "cash"))
        result = await till.refunds.refund(
            ANA,
            MANAGER,
            "x",
            original_seq=sale.seq,
            destination="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
        )
        refund_id, txid = result.record.body["refund_id"], "ab" * 32
        with pytest.raises(NotAuthorized):
            await mark_payout_paid(till.conn, till.identity, refund_id, "onchain", txid, ANA)
        marco = Staff("marco", "Marco", "manager")
        record = await mark_payout_paid(till.conn, till.identity, refund_id, "onchain", txid, marco)
        assert record.kind == "payout"
        assert record.body["by"] == {"id": "marco", "name": "Marco"}
        (payout,) = await payouts(till.conn)
        assert (payout["status"], payout["proof"], payout["amount"]) == (
            "paid",
            txid,
            record.body["amount"],
        )
        assert verify_chain(await records(till), till.identity.public_key, till.identity.device_id)


async def test_refund_destination_on_another_chain_or_for_another_amount_is_refused(
    tmp_path: Path,
) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        service = till.refunds
        sale = await split_sale(till, ("onchain", "cash"))
        testnet = "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"
        with pytest.raises(RefundError, match="customer paid on mainnet"):
            await service.refund(ANA, MANAGER, "x", original_seq=sale.seq, destination=testnet)
        sale = await split_sale(till, ("lightning", "cash"))
        with pytest.raises(RefundError, match="asks 1,000,000 sats but the refund"):
            await service.refund(
                ANA,
                MANAGER,
                "x",
                original_seq=sale.seq,
                destination=customer_invoice(10**9),
            )
        assert await payouts(till.conn) == []  # nothing recorded by a refused refund


async def test_two_refunds_at_once_cannot_both_take_the_rest(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        sale = await split_sale(till)
        card = SlowCard()  # Stripe takes a while: both would plan before either is recorded
        one, two = refunds_with(till, card), refunds_with(till, card)  # two screens, say
        results = await asyncio.gather(
            one.refund(ANA, MANAGER, "x", original_seq=sale.seq),
            two.refund(ANA, MANAGER, "x", original_seq=sale.seq),
            return_exceptions=True,
        )
        assert sum(isinstance(r, RefundError) for r in results) == 1, results
        assert len([r for r in await records(till) if r.kind == "refund"]) == 1
        assert len(card.calls) == 1


class SlowCard(FakeCard):
    async def refund(self, refund_id: str, payment_intent: str, amount: Money) -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return await super().refund(refund_id, payment_intent, amount)


async def test_a_sale_is_found_as_its_receipt_names_it(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        first = await cash_sale(till, "espresso")
        second = await cash_sale(till, "mug")
        service = till.refunds
        for text in (
            first.sale_id.upper(),
            f"bitagora:{first.sale_id}:{first.record.seq}",  # the receipt's QR code
            f" {first.sale_id[:6]} ",
        ):
            assert (await service.find_sale(text)).seq == first.record.seq
        with pytest.raises(RefundError, match="at least 6 characters"):
            await service.find_sale(first.sale_id[:5])
        with pytest.raises(RefundError, match="no sale zzzzzz"):
            await service.find_sale("zzzzzz")
        today = local_time(first.record.at).date()
        listed = await service.recent_sales(today)
        assert [s.sale_id for s in listed] == [second.sale_id, first.sale_id]  # newest first
        assert listed[1].total == Money(180, "EUR") and listed[1].methods == ["cash"]
        assert await service.recent_sales(today - timedelta(days=1)) == []
