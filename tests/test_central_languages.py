"""Central's pages in the user's language, over real HTTP on a real central and PostgreSQL: the
browser's Accept-Language first, the user's own setting (Account page, ops' Users page, the
command line) over it; amounts and dates as the page's language writes them in the merchant's
country; the sales CSV's header row in the user's language. And once in a real Chromium set to
Spanish (tests/browser_helpers.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from babel.dates import format_datetime
from browser_helpers import chromium_page
from central_helpers import bitagora_central, log_in, post_form
from playwright.async_api import expect
from test_central_sales_reports import sale
from test_downlink import HEADER

from central import i18n, merchant_catalog
from central.users import add_user

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(120)

OWNER, PASSWORD = "dueña@tienda.example", "tienda-password"
NBSP = "\xa0"  # CLDR puts a no-break space between the amount and its sign


@dataclass
class Tienda:
    server: CentralTestServer
    merchant: int
    sold_at: datetime  # when its till signed its one sale


async def a_shop(
    db: asyncpg.Connection,
    name: str,
    *,
    currency: str,
    country: str,
    language: str | None = None,
) -> int:
    """A merchant selling in ``currency`` in ``country``, with one product at 1234.56, and its
    owner (``OWNER``, whose own language is ``language``)."""
    merchant = await db.fetchval(
        "INSERT INTO merchants (name, country) VALUES ($1, $2) RETURNING id", name, country
    )
    shop = replace(merchant_catalog.DEFAULT_SETTINGS, currency=currency)
    await merchant_catalog.set_settings(db, merchant, shop)
    row = "ñandu,Ñandú de peluche,Juguetes,1234.56,21,yes,,0,yes\n"
    await merchant_catalog.import_csv(db, name, (HEADER + row).encode())
    await add_user(db, OWNER, PASSWORD, "owner", name, language)
    return int(merchant)


@pytest.fixture
async def tienda(
    central_server: CentralTestServer,
    db: asyncpg.Connection,
    make_device: Callable[[], SimDevice],
) -> AsyncIterator[Tienda]:
    """A Spanish shop (EUR, ES) whose till sold 1234.56 € today; its owner chose no language."""
    merchant = await a_shop(db, "Tienda Ñandú", currency="EUR", country="ES")
    till = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=30) as http:
        code = await central_server.make_code("Tienda Ñandú")
        assert (await till.enroll(http, code)).status_code == 201
        body = sale("s-1", [("ñandu", "Ñandú de peluche", 1, 123456)], [("cash", 123456)])
        sold_at = datetime.now(UTC).replace(microsecond=0)
        till.seal("sale", body, at=sold_at.isoformat())
        assert (await till.push(http)).status_code == 200
    yield Tienda(central_server, merchant, sold_at)


@asynccontextmanager
async def browser(
    server: CentralTestServer, accept_language: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    """The owner logged in from a browser that asks for ``accept_language``."""
    headers = {"Accept-Language": accept_language} if accept_language else {}
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, headers=headers) as http:
        assert (await log_in(http, OWNER, PASSWORD)).status_code == 303
        yield http


@pytest.mark.parametrize(
    ("accept_language", "lang", "heading", "amount"),
    [
        (None, "en", "<h1>Products</h1>", f"1.234,56{NBSP}€"),  # English as Spain writes it
        ("es-ES,es;q=0.9,en;q=0.5", "es", "<h1>Productos</h1>", f"1.234,56{NBSP}€"),
        ("pt-BR,pt;q=0.8", "pt-BR", "<h1>Produtos</h1>", f"€{NBSP}1.234,56"),
        ("pt", "pt-PT", "<h1>Produtos</h1>", f"1{NBSP}234,56{NBSP}€"),
        ("fr-FR, de;q=0.7", "en", "<h1>Products</h1>", f"1.234,56{NBSP}€"),  # none central has
    ],
)
async def test_pages_follow_the_browsers_language(
    tienda: Tienda, accept_language: str | None, lang: str, heading: str, amount: str
) -> None:
    async with browser(tienda.server, accept_language) as http:
        page = await http.get("/merchant/products")
    assert page.status_code == 200
    assert f'<html lang="{lang}">' in page.text
    assert heading in page.text and amount in page.text


async def test_a_spanish_browser_gets_spanish_pages_and_euros_as_spain_writes_them(
    tienda: Tienda,
) -> None:
    async with chromium_page(tienda.server.base_url, locale="es-ES") as page:
        await page.goto("/login")
        await page.get_by_label("Correo electrónico (o nombre de usuario)").fill(OWNER)
        await page.get_by_label("Contraseña").fill(PASSWORD)
        await page.get_by_role("button", name="Iniciar sesión").click()
        await expect(page.get_by_role("heading", name="Tienda Ñandú")).to_be_visible()
        await expect(page.locator("tbody td").last).to_have_text(f"1 venta, 1.234,56{NBSP}€")

        await page.get_by_role("link", name="Productos").click()
        row = page.get_by_role("row").filter(has_text="Ñandú de peluche")
        await expect(row).to_contain_text(f"1.234,56{NBSP}€")
        await expect(row.get_by_role("button", name="Desactivar ñandu")).to_be_visible()

        await page.get_by_role("link", name="Ventas").click()
        days = page.locator("section#days")
        await expect(days.get_by_role("heading", name="Ventas por día")).to_be_visible()
        await expect(days.get_by_role("columnheader", name="Devoluciones")).to_be_visible()
        await expect(days.get_by_role("row").nth(1)).to_contain_text(f"1.234,56{NBSP}€")

        # Her own choice, on the Account page, wins over the browser's Spanish.
        await page.get_by_role("link", name=OWNER).click()
        await page.get_by_label("Idioma de estas páginas").select_option("pt_PT")
        await page.get_by_role("button", name="Guardar").click()
        await expect(page.get_by_role("status")).to_have_text("Guardado.")
        await page.get_by_role("link", name="Vendas").click()
        await expect(page.get_by_role("heading", name="Vendas por dia")).to_be_visible()
        assert await page.get_attribute("html", "lang") == "pt-PT"


async def test_the_merchants_page_writes_times_on_the_shops_clock_in_its_language(
    tienda: Tienda, db: asyncpg.Connection
) -> None:
    await db.execute(
        "UPDATE merchants SET timezone = 'America/Mexico_City' WHERE id = $1", tienda.merchant
    )
    async with browser(tienda.server, "es") as http:
        page = await http.get("/merchant")
    shop_time = format_datetime(
        tienda.sold_at, "medium", tzinfo=ZoneInfo("America/Mexico_City"), locale="es_ES"
    )
    assert f"<td>{shop_time}</td>" in page.text  # the last sale, as Spain writes dates
    assert tienda.sold_at.isoformat() not in page.text
    assert f"1 venta, 1.234,56{NBSP}€" in page.text and "<td>sin conexión</td>" in page.text


async def test_the_users_own_language_wins_over_the_browsers(
    tienda: Tienda, db: asyncpg.Connection
) -> None:
    async with browser(tienda.server, "es-ES,es;q=0.9") as http:
        assert "<h1>Ventas</h1>" in (await http.get("/merchant/sales")).text
        saved = await post_form(http, "/account", "/account", language="pt_PT")
        assert saved.status_code == 303
        account = await http.get(saved.headers["location"])
        assert 'lang="pt-PT"' in account.text and "Guardado." in account.text

        sales = await http.get("/merchant/sales")
        assert "<h1>Vendas</h1>" in sales.text and "Vendas por dia" in sales.text
        assert f"1{NBSP}234,56{NBSP}€" in sales.text  # Portugal's grouping, the shop's euros
        assert "<td>numerário</td>" in sales.text  # a payment method by its name
        products = await http.get("/merchant/products")
        assert "1 produto." in products.text and "Exportar CSV" in products.text

        # Back to the browser's language: the setting is emptied, not set to English.
        assert (await post_form(http, "/account", "/account", language="")).status_code == 303
        assert "<h1>Ventas</h1>" in (await http.get("/merchant/sales")).text
    rows = await db.fetch(
        "SELECT actor, target, merchant_id FROM audit_log"
        " WHERE action = 'user.language' ORDER BY id"
    )
    assert [(r["actor"], r["target"], r["merchant_id"]) for r in rows] == [
        (OWNER, f"{OWNER}: pt_PT", tienda.merchant),
        (OWNER, f"{OWNER}: browser", tienda.merchant),
    ]
    assert await db.fetchval("SELECT language FROM web_users WHERE email = $1", OWNER) is None


async def test_an_unknown_language_is_refused_in_the_users_language(tienda: Tienda) -> None:
    async with browser(tienda.server, "es") as http:
        refused = await post_form(http, "/account", "/account", language="fr")
    assert refused.status_code == 400
    assert "el idioma debe ser uno de en, es, pt_BR, pt_PT" in refused.text


async def test_the_sales_csv_speaks_the_users_language(tienda: Tienda) -> None:
    async with browser(tienda.server, "es") as http:
        spanish = await http.get("/merchant/sales/days.csv")
    async with browser(tienda.server, "pt-BR") as http:
        brazilian = await http.get("/merchant/sales/hours.csv")
    assert spanish.text.splitlines()[0] == "Día,Moneda,Ventas,Vendido,Devoluciones,Devuelto,Neto"
    # Amounts stay plain decimals, so that a spreadsheet in any language sums them.
    assert spanish.text.splitlines()[1].endswith(",EUR,1,1234.56,0,0.00,1234.56")
    assert brazilian.text.splitlines()[0] == "Hora,Moeda,Vendas,Líquido"


async def test_a_mexican_shop_in_spanish_writes_pesos_as_mexico_does(
    central_server: CentralTestServer, db: asyncpg.Connection
) -> None:
    await a_shop(db, "Tacos", currency="MXN", country="MX", language="es")
    async with browser(central_server, "en-US") as http:  # the user's setting wins
        page = await http.get("/merchant/products")
        first = await http.get("/merchant")
    assert "<h1>Productos</h1>" in page.text and "$1,234.56" in page.text
    assert "Aún no hay ningún dispositivo registrado." in first.text


async def test_ops_give_a_new_user_a_language(
    central_server: CentralTestServer, central_client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    await db.execute("INSERT INTO merchants (name, country) VALUES ('Loja', 'BR')")
    assert (await log_in(central_client, "admin", central_server.ops_password)).status_code == 303
    fields = {"email": "gerente@loja.example", "role": "manager", "merchant": "Loja"}
    added = await post_form(
        central_client, "/users", "/users", **fields, password="loja-password", language="pt_BR"
    )
    assert added.status_code == 200 and "Added gerente@loja.example (manager)." in added.text
    assert "<td>Português (Brasil)</td>" in added.text  # each user's language, named in itself
    assert (
        await db.fetchval("SELECT language FROM web_users WHERE email = 'gerente@loja.example'")
        == "pt_BR"
    )
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=30) as http:
        assert (await log_in(http, "gerente@loja.example", "loja-password")).status_code == 303
        page = await http.get("/merchant/staff")
    assert "<h1>Equipe</h1>" in page.text and "Ninguém ainda." in page.text


async def test_the_command_line_adds_a_user_with_a_language(central_db_url: str) -> None:
    code, out, err = await bitagora_central(
        central_db_url, "merchant", "add", "Quiosque", "--currency", "EUR", "--country", "PT"
    )
    assert code == 0, err
    args = ["user", "add", "dono@quiosque.example", "--role", "owner", "--merchant", "Quiosque"]
    code, out, err = await bitagora_central(
        central_db_url, *args, "--language", "pt_PT", "--password-stdin", stdin="quiosque-pw\n"
    )
    assert code == 0, err
    refused = await bitagora_central(
        central_db_url, *args, "--language", "fr", "--password-stdin", stdin="quiosque-pw\n"
    )
    assert refused[0] == 2 and "invalid choice: 'fr'" in refused[2]
    conn = await asyncpg.connect(central_db_url)
    try:
        language = await conn.fetchval(
            "SELECT language FROM web_users WHERE email = 'dono@quiosque.example'"
        )
    finally:
        await conn.close()
    assert language == "pt_PT"


@pytest.mark.parametrize(
    ("setting", "header", "chosen"),
    [
        (None, "pt-BR,pt;q=0.9", "pt_BR"),
        (None, "pt", "pt_PT"),  # Portuguese without a country: Portugal's
        (None, "es-MX,es;q=0.9", "es"),
        (None, "fr;q=1, de;q=0.9, pt;q=0.1", "pt_PT"),
        (None, "es;q=0, en;q=0.5", "en"),  # q=0: not wanted at all
        (None, "", "en"),
        ("es", "pt-BR", "es"),
    ],
)
def test_the_language_is_the_users_then_the_browsers_then_english(
    setting: str | None, header: str, chosen: str
) -> None:
    assert i18n.negotiate(setting, header) == chosen


async def test_ops_pages_speak_the_browsers_language(central_server: CentralTestServer) -> None:
    headers = {"Accept-Language": "es-ES,es;q=0.9"}
    async with httpx.AsyncClient(
        base_url=central_server.base_url, timeout=30, headers=headers
    ) as http:
        assert (await log_in(http, "admin", central_server.ops_password)).status_code == 303
        fleet = await http.get("/")
        alerts = await http.get("/alerts")
        audit = await http.get("/audit")
        thresholds = await http.get("/alerts/thresholds")
        rollouts = await http.get("/rollouts")
    assert "<h1>Dispositivos</h1>" in fleet.text
    assert "Aún no hay ningún dispositivo registrado." in fleet.text
    assert "<h1>Alertas</h1>" in alerts.text and "0 alertas, las abiertas primero." in alerts.text
    assert "<h1>Registro de auditoría</h1>" in audit.text
    assert "Iniciar sesión" not in audit.text and "Cerrar sesión" in audit.text
    assert "<h1>Umbrales de alerta</h1>" in thresholds.text and "Fijar un umbral" in thresholds.text
    assert "<h1>Despliegues</h1>" in rollouts.text and "Todavía no hay paquetes." in rollouts.text


async def test_the_owner_sets_the_shops_country_and_its_pages_write_money_as_it_does(
    central_server: CentralTestServer, db: asyncpg.Connection
) -> None:
    merchant = await a_shop(db, "Tacos", currency="MXN", country="ES", language="es")
    async with browser(central_server, None) as http:
        assert f"1.234,56{NBSP}MXN" in (await http.get("/merchant/products")).text
        settings = {"currency": "MXN", "methods": "cash", "timezone": "America/Mexico_City"}
        refused = await post_form(
            http, "/merchant/settings", "/merchant/settings", **settings, country="México"
        )
        assert refused.status_code == 400
        assert "país: &#39;MÉXICO&#39; no es un código de país de dos letras (ES)" in refused.text
        saved = await post_form(
            http, "/merchant/settings", "/merchant/settings", **settings, country="mx"
        )
        assert saved.status_code == 303
        assert "$1,234.56" in (await http.get("/merchant/products")).text
    assert await db.fetchval("SELECT country FROM merchants WHERE id = $1", merchant) == "MX"
    target = await db.fetchval("SELECT target FROM audit_log WHERE action = 'settings.save'")
    assert target.endswith(": MXN, MX, America/Mexico_City")
