"""A sale paid in parts at the kiosk, by taps through the real app, the real Till and the Stripe
simulator over HTTP, to the printer simulator and the journal; and an unfinished one that comes
back after a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import STAFF, bitcoin_shop, cart_of, records
from card_helpers import DECLINED, VISA, CardShop, card_shop
from tui_helpers import kiosk, send_keys, terminal_attempt, text

from appliance.services.refunds import payouts
from appliance.store import journal
from appliance.tui.app import KioskApp
from appliance.tui.screens.approval import ApprovalScreen
from appliance.tui.screens.pay_bitcoin import PayBitcoinScreen
from appliance.tui.screens.pay_card import PayCardScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.split import SplitScreen
from appliance.wallet.lightning import sale_label
from bitagora_devtools.script import tap, tap_product, wait_for_screen, wait_until
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

pytestmark = pytest.mark.timeout(90)


async def sales(shop: CardShop) -> list[Record]:
    return [r async for r in journal.iterate(shop.till.conn) if r.kind == "sale"]


async def type_amount(pilot, keys: str) -> None:  # noqa: ANN001
    for key in keys:
        await tap(pilot, f"#key-{key}")


async def open_split(pilot, app: KioskApp, *skus: str) -> SplitScreen:  # noqa: ANN001
    sell = app.sell
    for sku in skus:
        await tap_product(
            pilot, sell, next(p for p in await sell.till.sales.products() if p.sku == sku)
        )
    await tap(pilot, "#pay-split")
    await wait_for_screen(pilot, SplitScreen, "the split screen")
    screen = app.screen
    assert isinstance(screen, SplitScreen)
    return screen


async def card_part(pilot, app: KioskApp, shop: CardShop, split: SplitScreen, number: str) -> None:  # noqa: ANN001
    """Tap Card for the amount typed, present ``number``; back on the split screen after."""
    await tap(pilot, "#split-card")
    card = await terminal_attempt(pilot, PayCardScreen)
    await shop.present(number)
    if number == DECLINED:
        await wait_until(pilot, lambda: card.ended, "the decline")
        assert "declined" in text(card, "#card-message")
        await tap(pilot, "#card-back")
    await wait_until(pilot, lambda: app.screen is split, "the split screen again")


def split_back(app: KioskApp) -> bool:
    """The split screen is up with its sale (the screen comes first; its sale is read after)."""
    return isinstance(app.screen, SplitScreen) and app.screen.split is not None


async def test_split_by_taps_card_declined_card_then_cash(tmp_path: Path) -> None:
    async with card_shop(tmp_path) as shop, kiosk(shop.till) as (app, pilot):
        split = await open_split(pilot, app, "mug", "cake")  # 16.20
        assert split.amount is not None and split.amount.minor == 1620  # default: all due
        assert text(split, "#split-parts") == "No part paid yet"

        await type_amount(pilot, "10")
        await card_part(pilot, app, shop, split, DECLINED)
        assert "not paid" in text(split, "#split-message")
        assert text(split, "#split-parts") == "No part paid yet"
        assert split.entry == "10"  # kept: the same part, another card or another way

        await card_part(pilot, app, shop, split, VISA)
        await wait_until(pilot, lambda: split.split is not None and split.split.parts, "part 1")
        parts = text(split, "#split-parts")
        assert "1. Card VISA •••• 4242" in parts and "€10.00" in parts and "paid" in parts
        assert split.amount is not None and split.amount.minor == 620  # what is still due
        assert str(split.query_one("#split-cancel").label) == "Give back"

        await type_amount(pilot, "20")  # the customer hands over 20 for the rest
        await tap(pilot, "#split-cash")
        done = await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        assert done.result.method == "split" and done.result.change.minor == 1380
        assert "CHANGE DUE" in text(done, "#done-change-label")
        assert "Card VISA •••• 4242 + Cash €20.00" in text(done, "#done-summary")
        assert app.sell.cart.is_empty

        (sale,) = await sales(shop)
        assert [(p["method"], p["amount"]) for p in sale.body["payments"]] == [
            ("card", 1000),
            ("cash", 620),
        ]
        assert len(shop.sim.succeeded_charges()) == 1
        receipt = (await shop.printer.wait_receipts(1))[0]
        assert "4242" in receipt and "Cash" in receipt


async def test_unfinished_split_comes_back_after_a_restart_and_is_given_back(
    tmp_path: Path,
) -> None:
    async with card_shop(tmp_path) as shop:
        async with kiosk(shop.till) as (app, pilot):
            split = await open_split(pilot, app, "mug")
            await type_amount(pilot, "5")
            await card_part(pilot, app, shop, split, VISA)
            await wait_until(pilot, lambda: split.split is not None and split.split.parts, "part")
            sale_id = split.split.sale_id  # type: ignore[union-attr]
        # The power goes: the paid part is journalled, the sale is not finished.
        assert await shop.restart() == []
        async with kiosk(shop.till, pin=None) as (app, pilot):
            send_keys(pilot, [*"1234", "enter"])  # whoever unlocks gets the sale back
            await wait_until(pilot, lambda: split_back(app), "the split back, read from the store")
            back = app.screen
            assert isinstance(back, SplitScreen) and back.split is not None
            assert back.split.sale_id == sale_id
            assert "1. Card VISA •••• 4242" in text(back, "#split-parts")
            assert back.amount is not None and back.amount.minor == 700

            await tap(pilot, "#split-cancel")  # Give back: on a manager's approval
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, ApprovalScreen) and app.screen.is_mounted,
                "approval",
            )
            modal = app.screen
            assert isinstance(modal, ApprovalScreen)
            await type_amount(pilot, "1234")  # a cashier's PIN does not do
            assert text(modal, "#pin-display") == "● ● ● ●"  # never shown
            await tap(pilot, "#key-ok")
            await wait_until(pilot, lambda: "Ana is a cashier" in modal.pad.message, "refusal")
            assert shop.sim.refunds == {}
            await type_amount(pilot, "9999")
            await tap(pilot, "#key-ok")
            await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        (refund,) = shop.sim.refunds.values()
        assert refund["amount"] == 500
        assert await shop.till.split.unfinished() == []
        assert await sales(shop) == []


async def test_a_bitcoin_part_left_open_by_a_restart_arrives_on_the_split_screen(
    tmp_path: Path,
) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        split = await shop.till.split.begin(await cart_of(shop, "cake", 2), STAFF)  # 8.40
        offer = await shop.payments.offer_part(split.sale_id, Money(500, "EUR"), STAFF)
        await shop.close_till()
        await shop.open_till(listen=False)
        async with kiosk(shop.till, pin=None) as (app, pilot):
            send_keys(pilot, [*"1234", "enter"])
            await wait_until(pilot, lambda: split_back(app), "the split back, read from the store")
            screen = app.screen
            assert isinstance(screen, SplitScreen)
            await shop.lightning.pay(sale_label(offer.sale_id))  # the customer pays now
            await wait_until(
                pilot, lambda: screen.split is not None and screen.split.parts, "the part"
            )
            assert "1. Lightning" in text(screen, "#split-parts")
            assert screen.amount == Money(340, "EUR")
            await tap(pilot, "#split-cash")  # the rest, exactly
            await wait_for_screen(pilot, SaleDoneScreen, "the sale")


async def test_a_lightning_part_by_taps(tmp_path: Path) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        async with kiosk(shop.till) as (app, pilot):
            split = await open_split(pilot, app, "cake", "cake")  # 8.40
            await type_amount(pilot, "5")
            await tap(pilot, "#split-bitcoin")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, PayBitcoinScreen) and app.screen.is_mounted,
                "the QR",
            )
            pay = app.screen
            assert isinstance(pay, PayBitcoinScreen)
            await wait_until(pilot, lambda: pay.offer is not None, "the offer")
            assert pay.offer is not None and pay.offer.total == Money(500, "EUR")
            await shop.lightning.pay(sale_label(pay.offer.sale_id))
            await wait_until(pilot, lambda: app.screen is split, "the split screen again")
            assert "1. Lightning" in text(split, "#split-parts")
            await tap(pilot, "#split-cash")  # the 3.40 still due, exactly
            await wait_for_screen(pilot, SaleDoneScreen, "the sale")
        (sale,) = await records(shop, "sale")
        assert [(p["method"], p["amount"]) for p in sale.body["payments"]] == [
            ("lightning", 500),
            ("cash", 340),
        ]


async def test_a_lightning_part_given_back_by_taps_goes_to_the_customers_destination(
    tmp_path: Path,
) -> None:
    async with bitcoin_shop(tmp_path, onchain=False) as shop:
        async with kiosk(shop.till) as (app, pilot):
            split = await open_split(pilot, app, "cake", "cake")  # 8.40
            assert not split.destination.display  # no bitcoin part: nothing to ask
            await type_amount(pilot, "5")
            await tap(pilot, "#split-bitcoin")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, PayBitcoinScreen) and app.screen.is_mounted,
                "the QR",
            )
            pay = app.screen
            assert isinstance(pay, PayBitcoinScreen)
            await wait_until(pilot, lambda: pay.offer is not None, "the offer")
            assert pay.offer is not None
            await shop.lightning.pay(sale_label(pay.offer.sale_id))
            await wait_until(pilot, lambda: app.screen is split, "the split screen again")
            assert split.destination.display

            await tap(pilot, "#split-cancel")  # Give back, with no destination yet
            await wait_until(pilot, lambda: "where to send it" in split.message, "the ask")
            assert app.screen is split and split.destination.active
            send_keys(pilot, [*"bc1qnotanaddress"])
            await wait_until(pilot, lambda: split.destination.text == "bc1qnotanaddress", "typed")
            await tap(pilot, "#split-cancel")
            await wait_until(pilot, lambda: "Not given back" in split.message, "the refusal")
            assert app.screen is split

            split.destination.text = ""
            send_keys(pilot, [*"alice@example.com"])
            await wait_until(pilot, lambda: split.destination.text == "alice@example.com", "typed")
            await tap(pilot, "#split-cancel")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, ApprovalScreen) and app.screen.is_mounted,
                "approval",
            )
            await type_amount(pilot, "9999")
            await tap(pilot, "#key-ok")
            await wait_until(pilot, lambda: app.screen is app.sell, "the sell screen")
        (payout,) = await payouts(shop.till.conn, pending_only=True)
        assert (payout["method"], payout["amount"], payout["destination"]) == (
            "lightning",
            500,
            "alice@example.com",
        )
        assert await shop.till.split.unfinished() == []
