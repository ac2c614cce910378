"""The merchant's back office pages over real HTTP on a real central and PostgreSQL: products
(search, paging, form, deactivation, CSV import and export), staff, shop settings and sales, for
a merchant's owners and managers; and two merchants who cannot reach each other's rows through
any route, whatever ids or skus they send."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from central_helpers import csrf_of, log_in, post_form
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_central_sales_reports import sale
from test_downlink import HEADER, big_csv

from bitagora_protocol import config_document
from bitagora_protocol.config_document import StaffEntry
from bitagora_protocol.journal import public_key_bytes
from central import config_documents as central_documents
from central import merchant_catalog
from central.sales_reports import REPORTS
from central.users import add_user

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(120)

PASSWORD = "merchant-password"
KEY = Ed25519PrivateKey.generate()  # signs the documents built here


def catalog_of(prefix: str) -> bytes:
    return (
        HEADER + f"{prefix}-coffee,{prefix} <b>Coffee</b>,Drinks,1.80,10,yes,,0,yes\n"
        f"{prefix}-cake,{prefix} Cake,Bakery,3.20,10,yes,,1,yes\n"
    ).encode()


def badge_of(prefix: str) -> str:
    return f"04{ord(prefix):02X}241B"


@dataclass
class Shop:
    name: str
    merchant: int
    till: SimDevice
    http: httpx.AsyncClient


async def open_shop(
    server: CentralTestServer,
    db: asyncpg.Connection,
    till: SimDevice,
    name: str,
    prefix: str,
    role: str = "owner",
) -> AsyncIterator[Shop]:
    """A merchant with a till (one sale of its coffee), its catalog, one staff member, and a
    logged-in user of it."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        assert (await till.enroll(http, await server.make_code(name))).status_code == 201
        now = datetime.now(UTC).isoformat()
        till.seal(
            "sale",
            sale(f"{prefix}-sale", [(f"{prefix}-coffee", "Coffee", 1, 180)], [("cash", 180)]),
            at=now,
        )
        assert (await till.push(http)).status_code == 200
        merchant = await merchant_catalog.merchant_id(db, name)
        await merchant_catalog.import_csv(db, name, catalog_of(prefix))
        staff = StaffEntry(
            f"{prefix}-staff", f"{prefix} Staff", "cashier", True, (badge_of(prefix),)
        )
        await merchant_catalog.put_staff(db, merchant, staff)
        email = f"{role}@{prefix}.example"
        await add_user(db, email, PASSWORD, role, name)
        assert (await log_in(http, email, PASSWORD)).status_code == 303
        yield Shop(name, merchant, till, http)


@pytest.fixture
async def shops(
    central_server: CentralTestServer,
    db: asyncpg.Connection,
    make_device: Callable[[], SimDevice],
) -> AsyncIterator[tuple[Shop, Shop]]:
    a = open_shop(central_server, db, make_device(), "Shop A", "a")
    b = open_shop(central_server, db, make_device(), "Shop B", "b")
    yield await anext(a), await anext(b)
    await a.aclose()
    await b.aclose()


async def version(db: asyncpg.Connection, merchant: int) -> int:
    return int(
        await db.fetchval("SELECT version FROM merchant_config WHERE merchant_id = $1", merchant)
    )


async def test_an_owner_edits_products_staff_and_settings_through_the_pages(
    shops: tuple[Shop, Shop], db: asyncpg.Connection
) -> None:
    a, _ = shops
    page = await a.http.get("/merchant/products", params={"q": "coffee"})
    assert page.status_code == 200
    assert "a &lt;b&gt;Coffee&lt;/b&gt;" in page.text and "<b>Coffee" not in page.text
    assert "a-cake" not in page.text and "1 product." in page.text

    before = await version(db, a.merchant)
    fields = {"sku": "a-coffee", "name": "Coffee", "category": "Drinks", "price": "2.40"}
    fields |= {"tax_percent": "10", "price_includes_tax": "yes", "barcodes": "4006381333931"}
    saved = await post_form(a.http, "/merchant/product?sku=a-coffee", "/merchant/product", **fields)
    assert saved.status_code == 303
    assert await version(db, a.merchant) == before + 1
    row = await db.fetchrow("SELECT * FROM merchant_products WHERE sku = 'a-coffee'")
    assert (row["price_minor"], row["barcodes"], row["active"]) == (240, ["4006381333931"], False)

    bad = await post_form(
        a.http, "/merchant/product", "/merchant/product", **(fields | {"price": "2,405"})
    )
    assert bad.status_code == 400 and "price:" in bad.text
    taken = await post_form(
        a.http,
        "/merchant/product",
        "/merchant/product",
        **(fields | {"sku": "a-tea", "new": "yes"}),
    )
    assert taken.status_code == 400 and "4006381333931 is the code of a-coffee" in taken.text

    off = await post_form(
        a.http, "/merchant/products", "/merchant/product/deactivate", sku="a-cake"
    )
    assert off.status_code == 303
    assert not await db.fetchval("SELECT active FROM merchant_products WHERE sku = 'a-cake'")

    refused = (HEADER + "x,X,Drinks,abc,10,yes,,0,yes\ny,,Drinks,1.00,10,yes,,0,yes\n").encode()
    token = csrf_of((await a.http.get("/merchant/products")).text)
    upload = await a.http.post(
        "/merchant/products/import",
        data={"csrf": token},
        files={"file": ("bad.csv", refused, "text/csv")},
    )
    assert upload.status_code == 400
    assert "line 2, price" in upload.text and "line 3, name" in upload.text
    assert (
        await db.fetchval(
            "SELECT count(*) FROM merchant_products WHERE merchant_id = $1", a.merchant
        )
        == 2
    )

    staff_page = await a.http.get("/merchant/staff")
    assert "PIN at the till" in staff_page.text and "a-staff" in staff_page.text
    person = {"staff_id": "a-joana", "name": "Joana", "role": "manager"}
    person |= {"badges": "04:a2:24:1c", "active": "yes"}
    assert (
        await post_form(a.http, "/merchant/staff", "/merchant/staff", **person)
    ).status_code == 303
    joana = await db.fetchrow("SELECT * FROM merchant_staff WHERE staff_id = 'a-joana'")
    assert (joana["role"], joana["badges"], joana["active"]) == ("manager", ["04A2241C"], True)

    settings = {"header": "Shop A\nRua 1", "footer": "Obrigado!", "currency": "EUR"}
    settings |= {"timezone": "Europe/Lisbon"}
    token = csrf_of((await a.http.get("/merchant/settings")).text)
    changed = await a.http.post(
        "/merchant/settings", data={**settings, "methods": ["cash", "card"], "csrf": token}
    )
    assert changed.status_code == 303
    assert await merchant_catalog.settings(db, a.merchant) == merchant_catalog.Settings(
        "EUR", ("Shop A", "Rua 1"), ("Obrigado!",), ("card", "cash")
    )
    assert await db.fetchval("SELECT timezone FROM merchants WHERE id = $1", a.merchant) == (
        "Europe/Lisbon"
    )
    rounded = {**settings, "methods": "cash", "csrf": token, "cash_rounding": "5"}
    assert (await a.http.post("/merchant/settings", data=rounded)).status_code == 303
    assert (await merchant_catalog.settings(db, a.merchant)).cash_rounding == 5
    wrong = await a.http.post("/merchant/settings", data={**rounded, "cash_rounding": "0"})
    assert wrong.status_code == 400 and "cash rounding: &#39;0&#39; is not a whole number" in (
        wrong.text
    )
    usd = await a.http.post(
        "/merchant/settings", data={**settings, "currency": "USD", "methods": "cash", "csrf": token}
    )
    assert usd.status_code == 400 and "cannot change once a device is enrolled" in usd.text


async def test_a_manager_edits_the_catalog_but_not_the_shop_settings(
    central_server: CentralTestServer, db: asyncpg.Connection, make_device: Callable[[], SimDevice]
) -> None:
    shop = open_shop(central_server, db, make_device(), "Shop M", "m", role="manager")
    manager = await anext(shop)
    try:
        assert (await manager.http.get("/merchant/products")).status_code == 200
        assert (await manager.http.get("/merchant/settings")).status_code == 403
        token = csrf_of((await manager.http.get("/merchant/products")).text)
        refused = await manager.http.post(
            "/merchant/settings",
            data={"currency": "EUR", "methods": "cash", "timezone": "UTC", "csrf": token},
        )
        assert refused.status_code == 403
    finally:
        await shop.aclose()
    ops = httpx.AsyncClient(base_url=central_server.base_url, timeout=10)
    async with ops:
        await log_in(ops, central_server.ops_user, central_server.ops_password)
        assert (await ops.get("/merchant/products")).status_code == 403


TAKEN_PRODUCT = {
    "new": "yes",
    "sku": "{sku}",
    "name": "Taken",
    "category": "X",
    "price": "9.99",
    "tax_percent": "10",
    "price_includes_tax": "yes",
    "barcodes": "",
}
TAKEN_STAFF = {"staff_id": "{staff}", "name": "Taken", "role": "cashier", "active": "yes"}
TAKEN_SETTINGS = {"header": "Taken", "currency": "EUR", "methods": "cash", "timezone": "UTC"}
# Every merchant route, with the other merchant's ids ("{sku}", "{staff}", "{device}"), and the
# answer expected: the other's rows are not found, and a write with their ids makes the
# poster's own row. A "file" field is uploaded as the CSV file.
ROUTES: list[tuple[str, str, dict[str, str], int]] = [
    ("GET", "/merchant", {}, 200),
    ("GET", "/merchant/products?q={sku}", {}, 200),
    ("GET", "/merchant/products?category=Drinks", {}, 200),
    ("GET", "/merchant/product?sku={sku}", {}, 404),
    ("GET", "/merchant/products.csv", {}, 200),
    ("POST", "/merchant/product/deactivate", {"sku": "{sku}"}, 404),
    ("POST", "/merchant/product", TAKEN_PRODUCT, 303),
    (
        "POST",
        "/merchant/products/import",
        {"file": HEADER + "{sku},Taken,X,1,10,yes,,0,yes\n"},
        200,
    ),
    ("GET", "/merchant/staff?edit={staff}", {}, 200),
    ("POST", "/merchant/staff/deactivate", {"staff_id": "{staff}"}, 404),
    ("POST", "/merchant/staff", TAKEN_STAFF, 303),
    ("GET", "/merchant/sales", {}, 200),
    *(("GET", f"/merchant/sales/{name}.csv", {}, 200) for name in REPORTS),
    ("GET", "/merchant/settings", {}, 200),
    ("POST", "/merchant/settings", TAKEN_SETTINGS, 303),
    ("GET", "/devices/{device}/journal.jsonl", {}, 403),
]


async def rows_of(db: asyncpg.Connection, merchant: int) -> list[list[asyncpg.Record]]:
    """Everything of a merchant the pages could change."""
    return [
        await db.fetch(f"SELECT * FROM {table} WHERE merchant_id = $1 ORDER BY 2", merchant)
        for table in ("merchant_products", "merchant_staff", "merchant_settings")
    ] + [await db.fetch("SELECT * FROM merchants WHERE id = $1", merchant)]


async def test_neither_merchant_reaches_the_others_rows_through_any_route(
    shops: tuple[Shop, Shop], db: asyncpg.Connection
) -> None:
    # The marks the test looks for are there for one's own rows (so their absence means something).
    a = shops[0]
    own = [
        ("/merchant", a.till.device_id),
        ("/merchant", a.name),
        ("/merchant/sales", "<td>a-coffee</td><td>Coffee</td>"),
        ("/merchant/sales/products.csv", "a-coffee,Coffee"),
        ("/merchant/products.csv", "a-coffee,a <b>Coffee"),
        ("/merchant/products", "a &lt;b&gt;Coffee"),
        ("/merchant/products", "a Cake"),
        ("/merchant/staff", "a Staff"),
        ("/merchant/staff", badge_of("a")),
    ]
    for path, mark in own:
        assert mark in (await a.http.get(path)).text, (path, mark)
    for me, other in (shops, shops[::-1]):
        prefix = other.name[-1].lower()
        ids = {
            "sku": f"{prefix}-coffee",
            "staff": f"{prefix}-staff",
            "device": other.till.device_id,
        }
        # What the pages, reports and files would show of the other's rows. Their skus and
        # staff ids are echoed (a search box) or become the poster's own (a write), so the
        # rows are known by what only the other's have: names, badge, sale, device.
        sku = ids["sku"]
        theirs = (
            f"<td>{sku}</td><td>Coffee</td>",
            f"{sku},Coffee",
            f"{sku},{prefix} <b>Coffee",
            f"{prefix} Cake",
            f"{prefix} &lt;b&gt;Coffee",
            f"{prefix} Staff",
            badge_of(prefix),
            other.till.device_id,
            other.name,
        )
        before = await rows_of(db, other.merchant)
        for method, path, fields, expected in ROUTES:
            url = path.format(**ids)
            if method == "GET":
                answer = await me.http.get(url)
            else:
                token = csrf_of((await me.http.get("/merchant/staff")).text)
                data = {k: v.format(**ids) for k, v in fields.items() if k != "file"}
                upload = fields.get("file")
                files = (
                    {"file": ("x.csv", upload.format(**ids).encode(), "text/csv")}
                    if upload
                    else None
                )
                answer = await me.http.post(url, data={**data, "csrf": token}, files=files)
            assert answer.status_code == expected, (url, answer.status_code, answer.text[:500])
            for secret in theirs:
                assert secret not in answer.text, (url, secret)
        assert await rows_of(db, other.merchant) == before
    # What was posted with the other's ids became the poster's own.
    for table in ("merchant_products", "merchant_staff"):
        taken = await db.fetch(f"SELECT merchant_id FROM {table} WHERE name = 'Taken'")
        assert sorted(r["merchant_id"] for r in taken) == sorted(s.merchant for s in shops)


async def timed(http: httpx.AsyncClient, params: dict[str, str]) -> httpx.Response:
    """The products page, its time printed for docs/PERFORMANCE.md (not asserted)."""
    started = time.monotonic()
    page = await http.get("/merchant/products", params=params)
    print(f"products page {params}: {(time.monotonic() - started) * 1000:.0f} ms")
    return page


async def test_fifty_thousand_products_imported_through_the_page_then_searched_and_paged(
    shops: tuple[Shop, Shop], db: asyncpg.Connection
) -> None:
    a, b = shops
    data = big_csv(50_000)
    token = csrf_of((await a.http.get("/merchant/products")).text)
    started = time.monotonic()
    upload = await a.http.post(
        "/merchant/products/import",
        data={"csrf": token},
        files={"file": ("big.csv", data, "text/csv")},
    )
    took = time.monotonic() - started
    assert upload.status_code == 200, upload.text[:2000]
    assert "50,000 products imported" in upload.text
    print(f"\n50,000-row CSV uploaded and imported through the page in {took:.1f} s")
    assert (
        await db.fetchval(
            "SELECT count(*) FROM merchant_products WHERE merchant_id = $1", b.merchant
        )
        == 2
    )

    page = await timed(a.http, {"page": "401"})
    assert "50,000 products, page 401 of 1000." in page.text
    assert "sku0020000" in page.text and "sku0020049" in page.text
    assert "sku0019999" not in page.text and "sku0020050" not in page.text

    found = await timed(a.http, {"q": "Produto 31337 "})
    assert "sku0031337" in found.text and "1 product." in found.text
    code = big_csv(31_338).decode().splitlines()[-1].split(",")[6]
    by_code = await timed(a.http, {"q": code})
    assert "sku0031337" in by_code.text and "1 product." in by_code.text

    category = await timed(a.http, {"category": "Sección 07", "page": "2"})
    assert "1,250 products, page 2 of 25" in category.text
    # Products of that category in sku order: i = 7, 47, 87, ...; page 2 starts at the 51st.
    assert f"sku{7 + 40 * 50:07d}" in category.text and "sku0000007" not in category.text


async def test_the_shops_and_each_persons_language_are_set_on_the_pages_and_sent_down(
    shops: tuple[Shop, Shop], db: asyncpg.Connection
) -> None:
    """The Settings page's language (the tills' own when unset) and the Staff page's (the
    shop's when unset) are saved, refused when no till speaks them, and carried by the signed
    configuration document only when set (docs/PROTOCOL.md 2.6)."""
    a, _ = shops
    form = await a.http.get("/merchant/settings")
    assert '<option value="pt_BR">Português (Brasil)</option>' in form.text
    settings = {"header": "", "footer": "Gracias", "currency": "EUR", "methods": "cash"}
    settings |= {"timezone": "Europe/Madrid"}
    french = await post_form(
        a.http, "/merchant/settings", "/merchant/settings", **settings, language="fr"
    )
    assert french.status_code == 400
    assert "language: &#39;fr&#39; is not a language the tills speak" in french.text
    saved = await post_form(
        a.http, "/merchant/settings", "/merchant/settings", **settings, language="es"
    )
    assert saved.status_code == 303
    assert (await merchant_catalog.settings(db, a.merchant)).language == "es"
    assert (
        '<option value="es" selected>Español</option>'
        in (await a.http.get("/merchant/settings")).text
    )

    person = {"staff_id": "a-joana", "name": "Joana", "role": "cashier", "active": "yes"}
    refused = await post_form(
        a.http, "/merchant/staff", "/merchant/staff", **person, language="klingon"
    )
    assert refused.status_code == 400 and "is not a language the tills speak" in refused.text
    assert (
        await post_form(a.http, "/merchant/staff", "/merchant/staff", **person, language="pt_BR")
    ).status_code == 303
    page = (await a.http.get("/merchant/staff")).text
    assert "<td>Português (Brasil)</td>" in page and "<td>the shop's</td>" in page  # a-staff

    served = await central_documents.build(db, a.merchant, KEY)
    assert served is not None
    signed = gzip.decompress(served.body_gzip)
    document = config_document.verify(signed, public_key_bytes(KEY.public_key()))
    assert document.settings.language == "es"
    assert {p.id: p.language for p in document.staff} == {"a-joana": "pt_BR", "a-staff": None}
    staff = json.loads(signed)["document"]["staff"]
    assert [sorted(p) for p in staff][1] == ["active", "badges", "id", "name", "role"]
