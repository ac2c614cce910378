"""The merchant's sales reports: records pushed by devices over real HTTP into the ledger, then
each report (day, hour, method, product, staff, Z closings) and its CSV, on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest

from central import sales_ledger, sales_reports
from central.charts import bar_chart
from central.sales_reports import Period
from central.tenancy import as_user

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)

ANA = {"id": "ana", "name": "Ana"}
MARCO = {"id": "marco", "name": "=Marco"}  # a name a spreadsheet would run as a formula
DAY = Period(date(2026, 12, 1), date(2026, 12, 2))


def sale(
    sale_id: str,
    lines: list[tuple[str, str, int, int]],
    payments: list[tuple[str, int]],
    staff: dict[str, str] = ANA,
    **extra: Any,
) -> dict[str, Any]:
    total = sum(q * p for _, _, q, p in lines)
    return {
        "sale_id": sale_id,
        "currency": "EUR",
        "staff": staff,
        "lines": [
            {
                "sku": sku,
                "name": name,
                "quantity": q,
                "unit_price": p,
                "amount": q * p,
                "tax_code": "B",
                "tax_bp": 1000,
                "price_includes_tax": True,
            }
            for sku, name, q, p in lines
        ],
        "total": {"minor": total, "currency": "EUR"},
        "payments": [{"method": m, "amount": a} for m, a in payments],
        **extra,
    }


def z_close(number: int, net: int) -> dict[str, Any]:
    return {
        "z_number": number,
        "currency": "EUR",
        "period": {"first_seq": 1, "last_seq": 5, "from": "x", "to": "y"},
        "totals": {
            "sales_count": 3,
            "sales": net + 180,
            "refunds_count": 1,
            "refunds": 180,
            "net_sales": net,
        },
        "counted": {"denominations": {}, "total": 1000},
        "expected_cash": 1001,
        "difference": -1,
        "grand_total": net,
        "staff": MARCO,
    }


async def push_at(
    client: httpx.AsyncClient, device: SimDevice, records: list[tuple[str, str, dict[str, Any]]]
) -> None:
    """Seal ``(kind, at, body)`` records and push them."""
    for kind, at, body in records:
        device.seal(kind, body, at)
    response = await device.push(client)
    assert response.status_code == 200, response.text


async def shop_with_a_day_of_sales(
    central_server: CentralTestServer, make_device: Callable[[], SimDevice], db: asyncpg.Connection
) -> tuple[int, SimDevice]:
    till = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        assert (
            await till.enroll(client, await central_server.make_code("Shop A"))
        ).status_code == 201
        await push_at(
            client,
            till,
            [
                (
                    "sale",
                    "2026-12-01T09:15:00.000000Z",
                    sale(
                        "s1",
                        [("espresso", "Espresso", 2, 180), ("mug", "Mug", 1, 1200)],
                        [("cash", 1560)],
                    ),
                ),
                (
                    "sale",
                    "2026-12-01T09:40:00.000000Z",
                    sale("s2", [("espresso", "Espresso", 1, 180)], [("card", 180)], MARCO),
                ),
                (
                    "sale",
                    "2026-12-01T10:05:00.000000Z",
                    sale(
                        "s3", [("espresso", "Espresso", 1, 180)], [("cash", 100), ("lightning", 80)]
                    ),
                ),
                (
                    "sale",
                    "2026-12-01T10:10:00.000000Z",  # practice: in no report
                    sale("t1", [("mug", "Mug", 5, 1200)], [("cash", 6000)], training=True),
                ),
                (
                    "refund",
                    "2026-12-01T11:00:00.000000Z",
                    {
                        "refund_id": "r1",
                        "sale_id": "s1",
                        "original_seq": 1,
                        "currency": "EUR",
                        "staff": ANA,
                        "approved_by": MARCO,
                        "reason": "chipped",
                        "lines": [
                            {
                                "sku": "mug",
                                "name": "Mug",
                                "quantity": 1,
                                "amount": 1200,
                                "tax_code": "B",
                                "tax_bp": 1000,
                                "price_includes_tax": True,
                            }
                        ],
                        "taxes": [],
                        "total": {"minor": 1200, "currency": "EUR"},
                        "payments": [{"method": "cash", "amount": 1200}],
                    },
                ),
                (
                    "sale",
                    "2026-12-02T08:00:00.000000Z",
                    sale("s4", [("mug", "Mug", 1, 1200)], [("card", 1200)]),
                ),
                (
                    "sale",
                    "2026-12-02T08:30:00.000000Z",  # not the report shape: left out
                    {"sale_id": "bad", "currency": "EUR", "total": {"minor": "lots"}},
                ),
                ("z_close", "2026-12-02T20:00:00.000000Z", z_close(1, 1920)),
                (
                    "sale",
                    "2026-12-03T08:00:00.000000Z",  # after the period
                    sale("s5", [("mug", "Mug", 1, 1200)], [("card", 1200)]),
                ),
            ],
        )
    merchant = await db.fetchval("SELECT id FROM merchants WHERE name = 'Shop A'")
    return merchant, till


async def test_reports_sum_sales_refunds_and_closings_of_the_period(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    merchant, till = await shop_with_a_day_of_sales(central_server, make_device, db)

    days = await sales_reports.by_day(db, merchant, DAY)
    assert days.rows == [
        ("2026-12-01", "EUR", 3, 1920, 1, 1200, 720),
        ("2026-12-02", "EUR", 1, 1200, 0, 0, 1200),
    ]
    assert days.cells("en")[0] == ["Dec 1, 2026", "EUR", "3", "€19.20", "1", "€12.00", "€7.20"]
    assert days.cells("es_ES")[0][0] == "1 dic 2026"  # on the page; the CSV keeps ISO days
    assert days.csv().splitlines()[1].startswith("2026-12-01,EUR,3,19.20")

    hours = await sales_reports.by_hour(db, merchant, DAY)
    assert hours.rows == [
        ("08:00", "EUR", 1, 1200),
        ("09:00", "EUR", 2, 1740),
        ("10:00", "EUR", 1, 180),
        ("11:00", "EUR", 0, -1200),
    ]
    methods = await sales_reports.by_method(db, merchant, DAY)
    assert methods.rows == [
        ("card", "EUR", 1380, 0, 1380),
        ("cash", "EUR", 1660, 1200, 460),
        ("lightning", "EUR", 80, 0, 80),
    ]
    products = await sales_reports.by_product(db, merchant, DAY)
    assert products.rows == [
        ("mug", "Mug", "EUR", 1, 1200),
        ("espresso", "Espresso", "EUR", 4, 720),
    ]
    staff = await sales_reports.by_staff(db, merchant, DAY)
    assert staff.rows == [("ana", "Ana", "EUR", 3, 1740), ("marco", "=Marco", "EUR", 1, 180)]

    closings = await sales_reports.closings(db, merchant, DAY)
    assert closings.rows == [
        (
            till.device_id,
            1,
            "2026-12-02 20:00",
            "EUR",
            3,
            2100,
            180,
            1920,
            1001,
            1000,
            -1,
            1920,
            "=Marco",
        )
    ]
    assert closings.cells("pt_BR")[0][2] == "2 de dez. de 2026 20:00:00"
    text = staff.csv()
    assert text.splitlines() == [
        "Staff ID,Name,Currency,Sales,Net",
        "ana,Ana,EUR,3,17.40",
        "marco,'=Marco,EUR,1,1.80",  # kept as text by a spreadsheet
    ]
    assert "-12.00" in hours.csv()


async def test_days_are_the_shops_days(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    merchant, _till = await shop_with_a_day_of_sales(central_server, make_device, db)
    await db.execute(
        "UPDATE merchants SET timezone = 'America/Mexico_City' WHERE id = $1", merchant
    )
    days = await sales_reports.by_day(db, merchant, Period(date(2026, 12, 1), date(2026, 12, 1)))
    # 08:00Z on the 2nd is 02:00 on the 2nd in Mexico City; 09:15Z on the 1st is 03:15 there.
    assert [row[0] for row in days.rows] == ["2026-12-01"]
    assert days.rows[0][2] == 3
    hours = await sales_reports.by_hour(db, merchant, Period(date(2026, 12, 1), date(2026, 12, 1)))
    assert [row[0] for row in hours.rows] == ["03:00", "04:00", "05:00"]


async def test_another_merchants_sales_are_not_in_its_report_nor_its_rows(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    merchant, _till = await shop_with_a_day_of_sales(central_server, make_device, db)
    other = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        code = await central_server.make_code("Shop B")
        assert (await other.enroll(client, code)).status_code == 201
        await push_at(
            client,
            other,
            [
                (
                    "sale",
                    "2026-12-01T09:00:00.000000Z",
                    sale("b1", [("bread", "Bread", 1, 300)], [("cash", 300)]),
                )
            ],
        )
    products = await sales_reports.by_product(db, merchant, DAY)
    assert "bread" not in [row[0] for row in products.rows]

    # A query that forgets the merchant, run as merchant A's page runs: only A's rows.
    claims = {"app_metadata": {"bitagora_role": "owner", "merchant_id": merchant}}
    pool = await asyncpg.create_pool(central_server.database_url, min_size=1, max_size=1)
    try:
        async with as_user(pool, claims) as conn:
            skus = {r["sku"] for r in await conn.fetch("SELECT sku FROM ledger_lines")}
            methods = await conn.fetchval("SELECT count(*) FROM ledger_payments")
            sold = await conn.fetch("SELECT DISTINCT merchant_id FROM ledger_entries")
        async with as_user(pool, {}) as conn:
            nobody = await conn.fetchval("SELECT count(*) FROM z_closings")
    finally:
        await pool.close()
    assert skus == {"espresso", "mug"} and methods == 7  # s1-s5 and the refund
    assert [r["merchant_id"] for r in sold] == [merchant] and nobody == 0


async def test_journals_held_before_the_ledger_are_taken_in_once(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    merchant, till = await shop_with_a_day_of_sales(central_server, make_device, db)
    before = (await sales_reports.by_day(db, merchant, DAY)).rows
    # As a central upgraded from before the ledger finds it: records held, ledger empty.
    for table in ("ledger_lines", "ledger_payments", "ledger_entries", "z_closings"):
        await db.execute(f"DELETE FROM {table}")
    await db.execute("INSERT INTO ledger_catch_up VALUES ($1)", till.device_id)
    pool = await asyncpg.create_pool(central_server.database_url, min_size=1, max_size=1)
    try:
        assert await sales_ledger.catch_up(pool) == 1
        assert await sales_ledger.catch_up(pool) == 0
    finally:
        await pool.close()
    assert (await sales_reports.by_day(db, merchant, DAY)).rows == before
    assert len((await sales_reports.closings(db, merchant, DAY)).rows) == 1


def test_bar_chart_escapes_labels_and_hangs_negatives_below_the_axis() -> None:
    svg = bar_chart([("<b>", 100), ("11:00", -50)], "Net <by> hour", lambda v: f"{v} €")
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert 'aria-label="Net &lt;by&gt; hour"' in svg
    assert 'class="bar negative"' in svg and "-50 €" in svg
    assert bar_chart([], "nothing") == ""


async def test_cash_rounding_keeps_the_methods_equal_to_the_sales(
    central_server: CentralTestServer,
    make_device: Callable[[], SimDevice],
    db: asyncpg.Connection,
) -> None:
    till = make_device()
    rounded = sale("r1", [("sweet", "Sweet", 1, 102)], [], rounding=-2)
    rounded["payments"] = [
        {"method": "cash", "amount": 100, "tendered": 200, "change": 100, "rounding": -2}
    ]
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        code = await central_server.make_code("Shop R")
        assert (await till.enroll(client, code)).status_code == 201
        await push_at(
            client,
            till,
            [
                ("sale", "2026-12-01T09:00:00.000000Z", rounded),
                (
                    "sale",
                    "2026-12-01T09:05:00.000000Z",
                    sale("r2", [("x", "X", 1, 103)], [("card", 103)]),
                ),
            ],
        )
    merchant = await db.fetchval("SELECT id FROM merchants WHERE name = 'Shop R'")
    days = await sales_reports.by_day(db, merchant, DAY)
    assert days.rows == [("2026-12-01", "EUR", 2, 205, 0, 0, 205)]
    methods = await sales_reports.by_method(db, merchant, DAY)
    assert methods.rows == [
        ("card", "EUR", 103, 0, 103),
        ("cash", "EUR", 100, 0, 100),
        ("rounding", "EUR", 2, 0, 2),
    ]
    assert sum(row[4] for row in methods.rows) == days.rows[0][-1]  # the books balance


def test_every_payment_method_has_a_name_on_the_pages() -> None:
    from bitagora_protocol.config_document import PAYMENT_METHODS

    assert set(sales_reports.METHOD_NAMES) == PAYMENT_METHODS
    assert sales_reports.METHOD_NAMES["usdt_tron"] == "USDT (TRON)"
