"""The kiosk's catalog queries at a few thousand products (correctness, not time: times live in
bench/catalog.py): category pages, counts, search by trigram index and by prefix, and barcode
lookup, each checked against a plain Python scan of the same catalog."""

from __future__ import annotations

import random
from pathlib import Path

import aiosqlite
import pytest
from store_helpers import open_device

from appliance.core.catalog import fold
from appliance.store import catalog, catalog_history, catalog_versions
from appliance.store.identity import DeviceIdentity
from bitagora_protocol.barcode import with_check_digit
from bitagora_protocol.catalog import CatalogItem

WORDS = [
    "Água",
    "agua",
    "Pão",
    "queijo",
    "Café",
    "CAFÉ",
    "leche",
    "Müsli",
    "crème",
    "brûlée",
    "Straße",
    "jamón",
    "té",
    "zumo",
    "naranja",
    'say "cheese"',
    "50%",
    "ﬁlete",
]
CATEGORIES = ["Bebidas", "Bakery", "Álcool", "Deli", "Frutas", "Merch"]


def make_items(count: int, seed: int = 13) -> list[CatalogItem]:
    rng = random.Random(seed)
    items = []
    for i in range(count):
        name = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3))) + f" {i % 97}"
        items.append(
            CatalogItem(
                sku=f"sku-{i:05d}",
                name=name,
                category=rng.choice(CATEGORIES),
                price=rng.randint(0, 10_000),
                tax_code="B",
                tax_bp=1000,
                barcodes=(with_check_digit(f"{400000000000 + i:012d}"),),
                position=rng.randint(0, 20),
                active=rng.random() > 0.1,
            )
        )
    return items


def display_key(item: CatalogItem) -> tuple[str, int, str, str]:
    return (item.category, item.position, fold(item.name), item.sku)


@pytest.fixture(scope="module")
def items() -> list[CatalogItem]:
    return make_items(3000)


@pytest.fixture
async def store(
    tmp_path: Path, items: list[CatalogItem]
) -> tuple[aiosqlite.Connection, DeviceIdentity]:
    conn, identity = await open_device(tmp_path / "device")
    await catalog_versions.apply(conn, identity, "EUR", items, {"kind": "test"})
    yield conn, identity
    await conn.close()


async def all_pages(fetch, size: int = 37) -> list[str]:  # type: ignore[no-untyped-def]
    found: list[str] = []
    while True:
        page = await fetch(len(found), size)
        found += [p.sku for p in page]
        if len(page) < size:
            return found


async def test_categories_and_their_counts(
    store: tuple[aiosqlite.Connection, DeviceIdentity], items: list[CatalogItem]
) -> None:
    conn, _ = store
    expected: dict[str, int] = {}
    for item in items:
        if item.active:
            expected[item.category] = expected.get(item.category, 0) + 1
    categories = await catalog.categories(conn)
    assert categories == expected
    assert list(categories) == ["Álcool", "Bakery", "Bebidas", "Deli", "Frutas", "Merch"]
    for name, count in expected.items():
        assert await catalog.category_count(conn, name) == count
    assert await catalog.category_count(conn, "Nothing") == 0


async def test_pages_of_a_category_are_its_products_by_position_then_name(
    store: tuple[aiosqlite.Connection, DeviceIdentity], items: list[CatalogItem]
) -> None:
    conn, _ = store
    for category in CATEGORIES:
        expected = sorted(
            (i for i in items if i.active and i.category == category), key=display_key
        )
        found = await all_pages(
            lambda offset, size, c=category: catalog.page(conn, c, offset, size)
        )
        assert found == [i.sku for i in expected]
    first = (await catalog.page(conn, "Deli", 0, 1))[0]
    source = next(i for i in items if i.sku == first.sku)
    assert (first.name, first.price.minor, first.price.currency, first.barcode) == (
        source.name,
        source.price,
        "EUR",
        source.barcodes[0],
    )


@pytest.mark.parametrize("size", [1, 37, 60])
async def test_pages_after_a_key_walk_a_category_like_offsets_do(
    store: tuple[aiosqlite.Connection, DeviceIdentity], items: list[CatalogItem], size: int
) -> None:
    conn, _ = store
    for category in CATEGORIES[:2] if size == 1 else CATEGORIES:
        expected = sorted(
            (i for i in items if i.active and i.category == category), key=display_key
        )
        found: list[str] = []
        key = None
        while True:
            page, key = await catalog.page_after(conn, category, key, size)
            found += [p.sku for p in page]
            if key is None:
                break
        assert found == [i.sku for i in expected]


@pytest.mark.parametrize(
    "query",
    [
        "agua",
        "ÁGUA",
        "pao ",
        "cafe",
        "CAFÉ 1",
        "strasse",
        "musli",
        "fil",
        "brulee",
        "jamon 4",
        '"cheese"',
        "50%",
        "crème brûlée",
        "e 1",
        "xyz",
        "té 9",
    ],
)
async def test_search_finds_what_a_scan_of_the_names_finds_in_display_order(
    store: tuple[aiosqlite.Connection, DeviceIdentity], items: list[CatalogItem], query: str
) -> None:
    conn, _ = store
    needle = fold(query.strip())
    expected = sorted((i for i in items if i.active and needle in fold(i.name)), key=display_key)
    found = await all_pages(lambda offset, size: catalog.search(conn, query, offset, size), 50)
    assert found == [i.sku for i in expected]
    assert await catalog.search_count(conn, query) == len(expected)


@pytest.mark.parametrize("query", ["a", "Á", "pa", "PÃ", "z", "té", "5", "q"])
async def test_one_or_two_characters_find_names_starting_with_them(
    store: tuple[aiosqlite.Connection, DeviceIdentity], items: list[CatalogItem], query: str
) -> None:
    conn, _ = store
    needle = fold(query)
    expected = sorted(
        (i for i in items if i.active and fold(i.name).startswith(needle)),
        key=lambda i: (fold(i.name), i.sku),
    )
    found = await all_pages(lambda offset, size: catalog.search(conn, query, offset, size), 100)
    assert found == [i.sku for i in expected]
    assert await catalog.search_count(conn, query) == len(expected)


@pytest.mark.parametrize("query", ["", "   ", '"', "AND", "a OR b", "x*", "(", "-te", "NEAR("])
async def test_search_text_is_never_read_as_a_query_language(
    store: tuple[aiosqlite.Connection, DeviceIdentity], query: str
) -> None:
    conn, _ = store
    await catalog.search(conn, query)  # no error, whatever the cashier types
    await catalog.search_count(conn, query)


async def test_barcode_lookup_finds_active_products_only(
    store: tuple[aiosqlite.Connection, DeviceIdentity], items: list[CatalogItem]
) -> None:
    conn, _ = store
    for item in items[::97]:
        found = await catalog_history.product_by_barcode(conn, item.barcodes, None)
        assert (found.sku if found else None) == (item.sku if item.active else None)


async def test_a_new_catalog_replaces_the_search_index(
    store: tuple[aiosqlite.Connection, DeviceIdentity], items: list[CatalogItem]
) -> None:
    conn, identity = store
    renamed = [
        CatalogItem(i.sku, f"Tortilla {n}", "Deli", i.price, "B", 1000, position=n)
        for n, i in enumerate(items[:10])
    ]
    applied = await catalog_versions.apply(conn, identity, "EUR", renamed, {"kind": "test"})
    assert applied.change.removed == len(items) - 10
    assert await catalog.search(conn, "agua") == []
    assert [p.sku for p in await catalog.search(conn, "tortilla")] == [i.sku for i in renamed]
    assert await catalog.categories(conn) == {"Deli": 10}


async def test_the_rebuilt_search_index_is_the_one_the_migration_makes(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path / "fresh")
    try:

        async def definition() -> str:
            rows = await conn.execute_fetchall(
                "SELECT sql FROM sqlite_master WHERE name = 'product_search'"
            )
            return "".join(str(next(iter(rows))[0]).split())

        migrated = await definition()
        await catalog_versions.apply(conn, identity, "EUR", make_items(10), {"kind": "test"})
        assert await definition() == "".join(catalog.SEARCH_TABLE.split()) == migrated
    finally:
        await conn.close()
