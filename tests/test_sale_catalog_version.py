"""Every sale names the catalog version it was priced from (docs/PROTOCOL.md 1.4): the version is
taken when the cart starts, so a sale in progress while an import lands keeps its prices and
names the old version, and the next sale is priced from the new one. Imports are real ones
(appliance/catalog_io.py) on the till's own store, as `bitagora catalog import` makes them."""

from __future__ import annotations

from pathlib import Path

from bitcoin_helpers import STAFF
from card_helpers import card_shop
from print_helpers import cashier, till_and_printer

from appliance.catalog_io import import_catalog
from appliance.services.till import Till
from appliance.store import journal
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes\n"


def price_list(tmp_path: Path, espresso: str, name: str) -> Path:
    path = tmp_path / name
    path.write_text(
        HEADER
        + f"espresso,Espresso,Drinks,{espresso},10,yes,4006381333931\n"
        + "mug,BitAgora mug,Merch,12.00,21,yes,4012345678901\n",
        encoding="utf-8",
    )
    return path


async def load(till: Till, path: Path) -> tuple[int, str]:
    imported = await import_catalog(till.conn, till.identity, till.currency, path)
    return imported.applied.version, imported.applied.sha256


async def sales_of(till: Till) -> list[Record]:
    return [r async for r in journal.iterate(till.conn) if r.kind == "sale"]


async def test_a_sale_in_progress_keeps_its_version_and_the_next_takes_the_new(
    tmp_path: Path,
) -> None:
    async with till_and_printer(tmp_path) as (till, _printer):
        v1 = await load(till, price_list(tmp_path, "1.80", "v1.csv"))
        staff = await cashier(till)

        cart = await till.sales.start_cart()
        espresso = await till.sales.product_for_barcode("4006381333931", cart)
        assert espresso is not None and espresso.price == Money(180, "EUR")
        cart.add(espresso)

        v2 = await load(till, price_list(tmp_path, "2.10", "v2.csv"))  # lands mid-sale
        assert v2[0] == v1[0] + 1
        # Scanned again in the same sale: the price it started with.
        again = await till.sales.product_for_barcode("4006381333931", cart)
        assert again is not None
        cart.add(again)
        first = await till.sales.pay_cash(cart, staff, Money(360, "EUR"))
        assert first.total == Money(360, "EUR")
        assert first.record.body["catalog"] == {"version": v1[0], "sha256": v1[1]}
        assert [line["unit_price"] for line in first.record.body["lines"]] == [180]

        cart = await till.sales.start_cart(cart)  # emptied by the sale: started afresh
        espresso = await till.sales.product_for_barcode("4006381333931", cart)
        assert espresso is not None
        cart.add(espresso)
        second = await till.sales.pay_cash(cart, staff, Money(210, "EUR"))
        assert second.record.body["catalog"] == {"version": v2[0], "sha256": v2[1]}
        assert second.record.body["lines"][0]["unit_price"] == 210

        # The auditor's view: each sale's version is a `catalog` record earlier in the chain.
        records = [r async for r in journal.iterate(till.conn)]
        versions = {
            r.body["version"]: (r.seq, r.body["sha256"]) for r in records if r.kind == "catalog"
        }
        for sale in await sales_of(till):
            seq, sha256 = versions[sale.body["catalog"]["version"]]
            assert seq < sale.seq and sha256 == sale.body["catalog"]["sha256"]


async def test_no_recorded_catalog_no_catalog_field(tmp_path: Path) -> None:
    # The demo seed writes the tables after the till opened: nothing recorded yet.
    async with till_and_printer(tmp_path) as (till, _printer):
        assert await till.sales.catalog_version() is None
        products = {p.sku: p for p in await till.sales.products()}
        cart = await till.sales.start_cart()
        cart.add(products["espresso"])
        total = cart.totals().total
        result = await till.sales.pay_cash(cart, await cashier(till), total)
        assert "catalog" not in result.record.body
        # Recorded (as the kiosk does at start after seeding): the next sale names it.
        ref = await till.sales.record_catalog()
        assert ref is not None and ref.version == 1
        cart = await till.sales.start_cart(cart)
        cart.add(products["espresso"])
        result = await till.sales.pay_cash(cart, await cashier(till), total)
        assert result.record.body["catalog"] == ref.body()


async def test_split_and_card_sales_name_the_version_their_cart_started_at(
    tmp_path: Path,
) -> None:
    async with card_shop(tmp_path) as shop:
        till = shop.till
        v1 = await load(till, price_list(tmp_path, "1.80", "v1.csv"))
        products = {p.sku: p for p in await till.sales.products()}

        # A split sale begun at v1, an import landing before its parts are paid.
        cart = await till.sales.start_cart()
        cart.add(products["mug"])
        split = await till.split.begin(cart, STAFF)
        v2 = await load(till, price_list(tmp_path, "2.10", "v2.csv"))
        done = await till.split.pay_cash(split.sale_id, STAFF, Money(1200, "EUR"))
        assert done.record.body["catalog"] == {"version": v1[0], "sha256": v1[1]}

        # A card sale whose cart started at v2; an import lands while the customer pays.
        products = {p.sku: p for p in await till.sales.products()}
        cart = await till.sales.start_cart()
        cart.add(products["espresso"])
        sale_id = "c0ffee00-0000-4000-8000-000000000001"
        attempt = await till.sales.start_card(cart, STAFF, sale_id)
        await load(till, price_list(tmp_path, "2.50", "v3.csv"))
        await shop.present()
        card = till.card
        assert card is not None
        outcome = await card.wait(attempt)
        assert outcome.paid
        result = await till.sales.pay_card(cart, STAFF, sale_id, outcome)
        assert result.record.body["catalog"] == {"version": v2[0], "sha256": v2[1]}
        assert result.record.body["lines"][0]["unit_price"] == 210
