"""Every sale names the catalog version it was priced from (docs/PROTOCOL.md 1.4): the version is
taken when the cart starts, so a sale in progress while an import lands keeps its prices and
names the old version, also for products it takes after the import (kept by
store/catalog_history.py), and the next sale is priced from the new one. Imports are real ones
(appliance/catalog_io.py) on the till's own store, as `bitagora catalog import` makes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from bitcoin_helpers import STAFF
from card_helpers import card_shop
from print_helpers import cashier, till_and_printer

from appliance.catalog_io import import_catalog
from appliance.services.sales import NotInSaleCatalog
from appliance.services.till import Till
from appliance.store import journal
from appliance.store.catalog_history import KEEP_VERSIONS
from bitagora_protocol.catalog_csv import parse_catalog
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


ESPRESSO, MUG, NEW_MUG = "4006381333931", "4012345678901", "4012345678918"
TEA, TOWEL = "5449000000996", "0036000291452"


def catalog_file(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


async def test_products_first_taken_after_an_import_are_priced_from_the_sales_version(
    tmp_path: Path,
) -> None:
    before = catalog_file(
        tmp_path,
        "v1.csv",
        [
            f"espresso,Espresso,Drinks,1.80,10,yes,{ESPRESSO}",
            f"mug,BitAgora mug,Merch,12.00,21,yes,{MUG}",
            f"towel,Tea towel,Merch,6.00,21,yes,{TOWEL}",
        ],
    )
    after = catalog_file(
        tmp_path,
        "v2.csv",
        [
            # Every kind of change an import makes: a price; a name, tax rate and barcode; a
            # product gone, its barcode now another's; a product new.
            f"espresso,Espresso,Drinks,2.10,10,yes,{ESPRESSO}",
            f"mug,BitAgora mug (new logo),Merch,12.00,10,yes,{NEW_MUG}",
            f"cloth,Kitchen cloth,Merch,3.00,21,yes,{TOWEL}",
            f"tea,Green tea,Drinks,2.50,10,yes,{TEA}",
        ],
    )
    async with till_and_printer(tmp_path) as (till, _printer):
        v1 = await load(till, before)
        staff = await cashier(till)
        cart = await till.sales.start_cart()
        espresso = await till.sales.product_for_barcode(ESPRESSO, cart)
        assert espresso is not None
        cart.add(espresso)

        v2 = await load(till, after)  # lands mid-sale
        assert v2[0] == v1[0] + 1
        # Scanned for the first time after the import: as version 1 sold them.
        mug = await till.sales.product_for_barcode(MUG, cart)
        assert mug is not None
        assert (mug.name, mug.price, mug.tax.basis_points) == (
            "BitAgora mug",
            Money(1200, "EUR"),
            2100,
        )
        cart.add(mug)
        towel = await till.sales.product_for_barcode(TOWEL, cart)  # its code is the cloth's now
        assert towel is not None and (towel.sku, towel.price) == ("towel", Money(600, "EUR"))
        cart.add(towel)
        # Tapped on a grid page read after the import (the new catalog's product): version 1's.
        shown = {p.sku: p for p in await till.sales.products()}
        assert shown["espresso"].price == Money(210, "EUR")
        tapped = await till.sales.priced_for(shown["espresso"], cart)
        assert tapped.price == Money(180, "EUR")
        cart.add(tapped)
        # What version 1 did not sell waits for the next sale.
        with pytest.raises(NotInSaleCatalog, match="Green tea is new in the catalog: finish"):
            await till.sales.product_for_barcode(TEA, cart)
        with pytest.raises(NotInSaleCatalog, match="Green tea is new in the catalog"):
            await till.sales.priced_for(shown["tea"], cart)
        with pytest.raises(NotInSaleCatalog, match="Kitchen cloth is new in the catalog"):
            await till.sales.priced_for(shown["cloth"], cart)

        total = cart.totals().total
        assert total == Money(2 * 180 + 1200 + 600, "EUR")
        first = await till.sales.pay_cash(cart, staff, total)
        assert first.record.body["catalog"] == {"version": v1[0], "sha256": v1[1]}
        # The auditor: every line's name, price and tax is version 1's, as its file says.
        sold = {i.sku: i for i in parse_catalog(before.read_bytes(), "EUR").items}
        for line in first.record.body["lines"]:
            item = sold[line["sku"]]
            assert (line["name"], line["unit_price"], line["tax_bp"]) == (
                item.name,
                item.price,
                item.tax_bp,
            )

        cart = await till.sales.start_cart(cart)  # the next sale: version 2
        for code in (NEW_MUG, TEA, ESPRESSO):
            product = await till.sales.product_for_barcode(code, cart)
            assert product is not None
            cart.add(product)
        assert await till.sales.product_for_barcode(MUG, cart) is None  # no product's code now
        next_sale = await till.sales.pay_cash(cart, staff, cart.totals().total)
        assert next_sale.record.body["catalog"] == {"version": v2[0], "sha256": v2[1]}
        assert [ln["unit_price"] for ln in next_sale.record.body["lines"]] == [1200, 250, 210]
        assert next_sale.record.body["lines"][0]["tax_bp"] == 1000


async def test_a_sale_open_across_more_imports_than_are_kept_finishes_with_its_cart(
    tmp_path: Path,
) -> None:
    async with till_and_printer(tmp_path) as (till, _printer):
        await load(till, price_list(tmp_path, "1.00", "v1.csv"))
        cart = await till.sales.start_cart()
        espresso = await till.sales.product_for_barcode(ESPRESSO, cart)
        assert espresso is not None
        cart.add(espresso)
        for n in range(KEEP_VERSIONS):  # as many imports as are kept: still priced from v1
            await load(till, price_list(tmp_path, f"2.{n:02d}", f"v{n + 2}.csv"))
        mug = await till.sales.product_for_barcode(MUG, cart)
        assert mug is not None and mug.price == Money(1200, "EUR")
        again = await till.sales.priced_for(espresso, cart)
        assert again.price == Money(100, "EUR")

        await load(till, price_list(tmp_path, "3.00", "last.csv"))  # one more: v1 forgotten
        with pytest.raises(NotInSaleCatalog, match="changed several times during this sale"):
            await till.sales.product_for_barcode(MUG, cart)
        with pytest.raises(NotInSaleCatalog, match="changed several times"):
            await till.sales.priced_for(espresso, cart)
        # What the cart holds still sells, at its prices and naming its version.
        result = await till.sales.pay_cash(cart, await cashier(till), Money(100, "EUR"))
        assert result.record.body["catalog"]["version"] == 1
        assert result.record.body["lines"][0]["unit_price"] == 100
        # Only the versions kept are held: the history never grows past them.
        rows = await till.conn.execute_fetchall(
            "SELECT DISTINCT version FROM catalog_history ORDER BY version"
        )
        kept = await till.conn.execute_fetchall(
            "SELECT version FROM catalog_history_versions ORDER BY version"
        )
        latest = KEEP_VERSIONS + 2
        expected = list(range(latest - KEEP_VERSIONS, latest))
        assert [r[0] for r in rows] == [r[0] for r in kept] == expected
