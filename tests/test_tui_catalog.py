"""The sell screen over a real shop's catalog: 50,000 products read a page at a time by index
(search, category pages, more as the cashier scrolls), never a widget per product; and a catalog
imported while the kiosk runs shown between sales, the sale in progress keeping its version and
prices. Behaviour only: how fast is bench/catalog_kiosk.py's job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tui_helpers import cart_summary, kiosk, till_with_printer, type_slowly

from appliance.catalog_io import import_catalog
from appliance.services.till import Till
from appliance.store import catalog_versions, journal
from appliance.tui.scan import StepClock
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from appliance.tui.screens.sell import PAGE, SellScreen
from appliance.tui.widgets.product_grid import ProductButton, ProductGrid
from bitagora_devtools.script import tap, wait_until
from bitagora_protocol.catalog import CatalogItem

LARGE = 50_000
AISLES = 40
WORDS = ("Água mineral", "Leche entera", "Pão de forma", "Café molido", "Crème fraîche")


def large_catalog(count: int = LARGE) -> list[CatalogItem]:
    return [
        CatalogItem(
            sku=f"p{i:06d}",
            name=f"{WORDS[i % len(WORDS)]} #{i}",
            category=f"Aisle {i % AISLES:02d}",
            price=100 + i % 900,
            tax_code="B",
            tax_bp=1000,
            position=i // AISLES,
        )
        for i in range(count)
    ]


@pytest.fixture
async def large_till(tmp_path: Path) -> AsyncIterator[Till]:
    async with till_with_printer(tmp_path) as (till, _sim):  # the demo's staff (PIN 1234)
        source = {"kind": "file", "name": "large.csv", "sha256": "0" * 64}
        await catalog_versions.apply(till.conn, till.identity, "EUR", large_catalog(), source)
        yield till


def grid_skus(sell: SellScreen) -> list[str]:
    return [b.product.sku for b in sell.query_one(ProductGrid).buttons]


async def settled(pilot, sell: SellScreen) -> list[str]:  # noqa: ANN001
    await wait_until(pilot, lambda: sell.view_settled, "the grid")
    return grid_skus(sell)


async def test_search_and_categories_at_50000_products(large_till: Till) -> None:
    clock = StepClock()
    async with kiosk(large_till, clock) as (app, pilot):
        sell = app.sell
        tabs = [b.name for b in sell.query(".category")]
        assert tabs == [f"Aisle {a:02d}" for a in range(AISLES)]
        # The first tab's first page, in position order.
        first = await settled(pilot, sell)
        # a page, in order; a second one may already be read if the grid scrolled near its end
        assert first[:PAGE] == [f"p{i * AISLES:06d}" for i in range(PAGE)]
        assert len(first) <= 2 * PAGE

        await type_slowly(pilot, clock, "#4999")
        found = await settled(pilot, sell)
        assert sorted(found) == ["p004999", *[f"p{49990 + k:06d}" for k in range(10)]]

        await type_slowly(pilot, clock, "1")  # "#49991": one product
        assert await settled(pilot, sell) == ["p049991"]
        clock.now += 1.0
        await pilot.press("enter")  # the only match: Enter adds it
        await wait_until(pilot, lambda: bool(sell.cart.lines), "the product in the cart")
        assert cart_summary(sell) == [(1, "p049991")]

        for aisle in (7, 39, 0):
            tab = next(b for b in sell.query(".category") if b.name == f"Aisle {aisle:02d}")
            await tap(pilot, tab)
            skus = await settled(pilot, sell)
            assert skus[:3] == [f"p{aisle + k * AISLES:06d}" for k in range(3)]
            assert PAGE <= len(skus) <= 2 * PAGE

        # Accent- and case-insensitive, across every aisle.
        await type_slowly(pilot, clock, "CREME FRAICHE #4999")
        assert sorted(await settled(pilot, sell)) == ["p004999", "p049994", "p049999"]
        # Never a widget per product: only the pages shown exist.
        assert len(list(app.screen.query(ProductButton))) <= 3 * PAGE


async def test_scrolling_reads_the_next_pages(large_till: Till) -> None:
    async with kiosk(large_till, StepClock()) as (app, pilot):
        sell = app.sell
        grid = sell.query_one(ProductGrid)
        first = await settled(pilot, sell)
        assert PAGE <= len(first) <= 2 * PAGE and grid.more
        for pages in (2, 3):
            grid.scroll_end(animate=False)
            wanted = PAGE * pages
            await wait_until(pilot, lambda n=wanted: len(grid.buttons) >= n, f"page {pages}")
        skus = grid_skus(sell)
        # Aisle 00 in position order, no product twice, none skipped.
        assert skus == [f"p{i * AISLES:06d}" for i in range(len(skus))]
        assert len(skus) == len(set(skus)) >= 3 * PAGE
        # A product from past the first page sells like any other.
        await tap(pilot, grid.button_for(f"p{(3 * PAGE - 5) * AISLES:06d}"))
        await wait_until(pilot, lambda: bool(sell.cart.lines), "the product priced")
        assert cart_summary(sell) == [(1, f"p{(3 * PAGE - 5) * AISLES:06d}")]


HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes\n"


def price_list(tmp_path: Path, espresso: str, name: str, croissant: str = "2.10") -> Path:
    path = tmp_path / name
    path.write_text(
        HEADER
        + f"espresso,Espresso,Drinks,{espresso},10,yes,4006381333931\n"
        + f"croissant,Croissant,Bakery,{croissant},10,yes,\n",
        encoding="utf-8",
    )
    return path


def with_muffin(path: Path) -> Path:
    """The same price list with a product more."""
    with path.open("a", encoding="utf-8") as out:
        out.write("muffin,Muffin,Bakery,2.90,10,yes,\n")
    return path


async def test_an_import_while_the_kiosk_runs_lands_between_sales(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        first = await import_catalog(
            till.conn, till.identity, "EUR", price_list(tmp_path, "1.80", "v1.csv")
        )
        async with kiosk(till, StepClock()) as (app, pilot):
            sell = app.sell
            drinks = next(b for b in sell.query(".category") if b.name == "Drinks")
            await tap(pilot, drinks)
            await settled(pilot, sell)
            await tap(pilot, sell.query_one(ProductGrid).button_for("espresso"))
            await wait_until(pilot, lambda: bool(sell.cart.lines), "the espresso")
            assert sell.cart.catalog is not None and sell.cart.catalog.version == 1

            changed = price_list(tmp_path, "2.40", "v2.csv", croissant="2.60")
            second = await import_catalog(till.conn, till.identity, "EUR", with_muffin(changed))
            sell.check_catalog()  # as the screen's timer does: not while a sale is in progress
            await pilot.pause()
            assert sell.catalog_version is not None and sell.catalog_version.version == 1
            await pilot.press(*"4006381333931", "enter")  # scanned again: the same price
            await wait_until(pilot, lambda: sell.pending_lookups == 0, "the scan")
            assert sell.cart.totals().total.minor == 360
            # The Bakery page is read now, from the new catalog (2.60, and a muffin): a tap on
            # the croissant is priced from the sale's version, the muffin waits for the next sale.
            bakery = next(b for b in sell.query(".category") if b.name == "Bakery")
            await tap(pilot, bakery)
            await settled(pilot, sell)
            grid = sell.query_one(ProductGrid)
            croissant, muffin = grid.button_for("croissant"), grid.button_for("muffin")
            assert croissant is not None and muffin is not None
            assert "2.60" in str(croissant.label)
            await tap(pilot, croissant)
            await wait_until(pilot, lambda: len(sell.cart.lines) == 2, "the croissant")
            await tap(pilot, muffin)
            await wait_until(pilot, lambda: "new in the catalog" in sell.notice, "the refusal")
            assert sell.notice.startswith("Muffin is new in the catalog: finish this sale first")
            assert cart_summary(sell) == [(2, "espresso"), (1, "croissant")]
            assert sell.cart.totals().total.minor == 360 + 210

            await tap(pilot, "#pay")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
                "payment",
            )
            await tap(pilot, "#tender-0")
            await tap(pilot, "#confirm")
            await wait_until(
                pilot,
                lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
                "the sale",
            )
            await tap(pilot, "#next-customer")
            # Between sales: the new version is shown without a restart.
            await wait_until(
                pilot,
                lambda: sell.catalog_version is not None and sell.catalog_version.version == 2,
                "the new catalog",
            )
            await tap(pilot, next(b for b in sell.query(".category") if b.name == "Drinks"))
            await settled(pilot, sell)
            await tap(pilot, sell.query_one(ProductGrid).button_for("espresso"))
            await wait_until(pilot, lambda: bool(sell.cart.lines), "the espresso")
            assert sell.cart.totals().total.minor == 240

        sales = [r async for r in journal.iterate(till.conn) if r.kind == "sale"]
        assert len(sales) == 1
        assert sales[0].body["catalog"] == {"version": 1, "sha256": first.applied.sha256}
        assert [ln["unit_price"] for ln in sales[0].body["lines"]] == [180, 210]
        assert second.applied.version == 2
