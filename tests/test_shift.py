"""A day at the till: open a shift, sell in every method, refund, paid-out, X, Z (issue: shifts).

The Z's totals are checked against an independent sum over the journal, not against the code
that wrote them."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from print_helpers import sell
from tui_helpers import till_with_printer

from appliance import cli
from appliance.core.report import ReportError, count_total
from appliance.core.roles import NotAuthorized
from appliance.core.sale import Payment, sale_body
from appliance.services.printing import local_time
from appliance.services.shift import ShiftError, ShiftService, UnconfirmedDifference
from appliance.services.till import Staff, Till
from appliance.store import journal, sales
from appliance.store import staff as staff_store
from appliance.store.db import transaction
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money


async def staff(till: Till, pin: str) -> Staff:
    who = await staff_store.staff_by_pin(till.conn, pin)
    assert who is not None
    return who


async def other_sale(till: Till, method: str, training: bool = False) -> Record:
    """A sale paid by ``method`` as its payment session would record it."""
    products = {p.sku: p for p in await till.sales.products()}
    cart = till.sales.new_cart()
    cart.add(products["croissant"], 2)
    cart.add(products["espresso"])
    total = cart.totals().total
    body = sale_body(str(uuid.uuid4()), cart, "ana", "Ana", [Payment(method, total)])
    if training:
        body["training"] = True
    return await sales.record_sale(till.conn, till.identity, body)


async def append(till: Till, kind: str, body: dict[str, Any]) -> Record:
    async with transaction(till.conn):
        return await journal.append(till.conn, till.identity, kind, body)


def refund_body(sale: Record) -> dict[str, Any]:
    """A cash refund of the sale's first line, in the refund record's agreed shape."""
    line = sale.body["lines"][0]
    tax = next(t for t in sale.body["taxes"] if t["code"] == line["tax_code"])
    bp = tax["bp"]
    gross = line["amount"]
    vat = (gross * bp * 2 + (10000 + bp)) // (2 * (10000 + bp))  # inclusive, half up
    return {
        "refund_id": str(uuid.uuid4()),
        "sale_id": sale.body["sale_id"],
        "original_seq": sale.seq,
        "currency": "EUR",
        "staff": {"id": "marco", "name": "Marco"},
        "approved_by": {"id": "marco", "name": "Marco"},
        "reason": "cold coffee",
        "lines": [{k: line[k] for k in ("sku", "name", "quantity", "amount", "tax_code")}],
        "taxes": [
            {
                "code": tax["code"],
                "bp": bp,
                "price_includes_tax": True,
                "net": gross - vat,
                "tax": vat,
                "gross": gross,
            }
        ],
        "total": {"minor": gross, "currency": "EUR"},
        "payments": [{"method": "cash", "amount": gross}],
    }


def independent_sums(records: list[Record]) -> dict[str, Any]:
    """Totals by a second, plain reading of the journal (not core.report)."""
    by_method: dict[str, int] = {}
    by_tax: dict[str, list[int]] = {}
    net_sales = cash = 0
    for r in records:
        if r.kind not in ("sale", "refund") or r.body.get("training"):
            continue
        sign = 1 if r.kind == "sale" else -1
        net_sales += sign * r.body["total"]["minor"]
        for p in r.body["payments"]:
            by_method[p["method"]] = by_method.get(p["method"], 0) + sign * p["amount"]
            if p["method"] == "cash":
                cash += sign * p["amount"]  # tendered - change = amount for a whole sale
        for t in r.body["taxes"]:
            row = by_tax.setdefault(t["code"], [0, 0, 0])
            for i, k in enumerate(("net", "tax", "gross")):
                row[i] += sign * t[k]
    return {"by_method": by_method, "by_tax": by_tax, "net_sales": net_sales, "cash": cash}


async def a_day(till: Till) -> tuple[ShiftService, Staff, Staff]:
    shifts = till.shifts
    ana, marco = await staff(till, "1234"), await staff(till, "9999")
    await shifts.open_shift(ana, Money(10000, "EUR"))
    with pytest.raises(ShiftError, match="already open"):
        await shifts.open_shift(ana, Money(10000, "EUR"))
    first = await sell(till, "espresso")
    await sell(till, "croissant")
    await other_sale(till, "lightning")
    await other_sale(till, "onchain")
    await other_sale(till, "card")
    await other_sale(till, "cash", training=True)  # not counted
    await append(till, "refund", refund_body(first.record))
    await append(till, "void", {"sale_id": str(uuid.uuid4()), "staff": {"id": "ana"}})
    await shifts.paid_out(marco, Money(1500, "EUR"), "window cleaner")
    await shifts.paid_in(marco, Money(500, "EUR"), "change from the bank")
    return shifts, ana, marco


async def test_a_day_z_totals_equal_the_journal(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, sim):
        shifts, ana, marco = await a_day(till)

        x1, problem = await shifts.x_report(marco)
        assert problem is None
        x2, _ = await shifts.x_report(marco)
        assert x1.totals_body() == x2.totals_body()  # an X resets nothing
        assert x1.sales_count == 5 and x1.refunds_count == 1 and x1.voids_count == 1
        assert x1.training_count == 1

        await shifts.open_drawer_for_count(marco)
        expected = x1.expected_cash
        counted = {1000: expected // 1000 - 1, 1: expected % 1000 + 999}  # a cent short
        result = await shifts.z_close(marco, counted, accept_difference=-1)
        z = result.record
        assert result.problems == ()

        records = [r async for r in journal.iterate(till.conn)]
        sums = independent_sums(records)
        totals = z.body["totals"]
        assert {m["method"]: m["amount"] for m in totals["by_method"]} == sums["by_method"]
        assert {t["code"]: [t["net"], t["tax"], t["gross"]] for t in totals["by_tax"]} == (
            sums["by_tax"]
        )
        assert totals["net_sales"] == sums["net_sales"] == z.body["grand_total"]
        assert z.body["expected_cash"] == 10000 + sums["cash"] - 1500 + 500
        assert z.body["counted"]["total"] == count_total("EUR", counted)
        assert z.body["difference"] == z.body["counted"]["total"] - z.body["expected_cash"] == -1
        assert z.body["period"]["first_seq"] == 1 and z.body["period"]["last_seq"] == z.seq - 1
        openings = [r.body["reason"] for r in records if r.kind == "drawer_open"]
        assert openings == ["float", "sale", "sale", "paid_out", "paid_in", "count"]

        # Nothing new since: a second Z (or a retry of this one) is refused.
        with pytest.raises(ShiftError, match="period is closed"):
            await shifts.z_close(marco, counted)

        # The Z prints from its record, on the receipt printer.
        texts = await sim.wait_receipts(10)  # 6 sales, the refund, 2 X, the Z
        z_text = next(t for t in texts if "Z REPORT #1" in t)
        assert "X REPORT" in "".join(texts)
        assert "Grand total" in z_text and f"Journal #{z.seq}" in z_text

        # The next day starts afresh and carries the grand total forward.
        await shifts.open_shift(ana, Money(10000, "EUR"))
        await sell(till, "espresso")
        x3, _ = await shifts.x_report(marco, print_it=False)
        assert x3.sales_count == 1
        z2 = (await shifts.z_close(marco, {5000: 2}, 10000 - x3.expected_cash)).record
        assert z2.body["z_number"] == 2
        assert z2.body["grand_total"] == z.body["grand_total"] + x3.net_sales


async def test_the_database_refuses_a_second_z_for_a_period(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        shifts, _ana, marco = await a_day(till)
        z = (await shifts.z_close(marco, {}, -(await shifts.current()).expected_cash)).record
        await sell(till)
        replay = {**z.body, "period": {**z.body["period"], "last_seq": z.seq + 1}}
        with pytest.raises(Exception, match="z_number"):
            await append(till, "z_close", replay)
        no_number = {k: v for k, v in replay.items() if k != "z_number"}
        with pytest.raises(Exception, match="z_number"):
            await append(till, "z_close", no_number)
        with pytest.raises(Exception, match="period"):
            await append(till, "z_close", {**replay, "z_number": 2})
        short = -(await shifts.current()).expected_cash
        assert (await shifts.z_close(marco, {}, short)).record.body["z_number"] == 2


async def test_roles_are_enforced_by_the_service(tmp_path: Path) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        shifts = till.shifts
        ana = await staff(till, "1234")
        await shifts.open_shift(ana, Money(5000, "EUR"))
        with pytest.raises(NotAuthorized, match="close the day"):
            await shifts.z_close(ana, {5000: 1})
        with pytest.raises(NotAuthorized):
            await shifts.x_report(ana)
        with pytest.raises(NotAuthorized):
            await shifts.paid_out(ana, Money(100, "EUR"), "coffee")
        kinds = [r.kind async for r in journal.iterate(till.conn)]
        assert "z_close" not in kinds and "paid_in_out" not in kinds


def test_counts_refuse_what_is_not_a_note_or_coin() -> None:
    assert count_total("EUR", {5000: 2, 1: 3}) == 10003
    with pytest.raises(ReportError, match="not a EUR note"):
        count_total("EUR", {300: 1})
    with pytest.raises(ReportError):
        count_total("EUR", {100: -1})


async def test_report_z_csv_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with till_with_printer(tmp_path) as (till, _sim):
        shifts, _ana, marco = await a_day(till)
        short = 5000 - (await shifts.current()).expected_cash
        z = (await shifts.z_close(marco, {5000: 1}, short)).record
    day = local_time(z.at).date().isoformat()
    for name in list(__import__("os").environ):
        if name.startswith("BITAGORA_"):
            monkeypatch.delenv(name)
    args = ["report", "z", "--date", day, "--csv", "--data-dir", str(tmp_path / "device")]
    assert cli.main(args) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and set(rows[0]) == {
        "z_number", "closed_at", "currency", "section", "name", "net", "tax", "gross", "amount",
    }  # fmt: skip
    figures = {(r["section"], r["name"]): r for r in rows}
    assert figures[("total", "grand_total")]["amount"] == f"{z.body['grand_total'] / 100:.2f}"
    assert figures[("method", "card")]["amount"] != ""
    assert figures[("total", "difference")]["amount"].startswith("-")
    assert any(r["section"] == "tax" and r["gross"] for r in rows)

    assert (
        cli.main(["report", "z", "--date", "2000-01-01", "--data-dir", str(tmp_path / "device")])
        == 1
    )
    assert cli.main(["report", "x", "--data-dir", str(tmp_path / "device")]) == 0
    assert "not reset" in capsys.readouterr().out
    assert date.fromisoformat(day)


def drawer_sums(records: list[Record]) -> dict[str, int]:
    """The drawer's cash by a plain reading of the journal since the last Z (not core.report):
    the float counted at the shift's opening already holds the cash of every record before it,
    so only what moved after it is expected on top (docs/PROTOCOL.md, ``z_close``)."""
    last_z = max((i for i, r in enumerate(records) if r.kind == "z_close"), default=-1)
    period = records[last_z + 1 :]
    opened = next((i for i, r in enumerate(period) if r.kind == "shift_open"), None)
    float_ = 0 if opened is None else period[opened].body["float"]["minor"]
    before, after = 0, 0
    for i, r in enumerate(period):
        moved = 0
        if r.kind in ("sale", "refund") and not r.body.get("training"):
            sign = 1 if r.kind == "sale" else -1
            moved = sign * sum(p["amount"] for p in r.body["payments"] if p["method"] == "cash")
        elif r.kind == "paid_in_out":
            moved = r.body["amount"]["minor"] * (1 if r.body["direction"] == "in" else -1)
        if opened is not None and i < opened:
            before += moved
        else:
            after += moved
    return {"float": float_, "before": before, "expected": float_ + after}


async def test_sales_before_the_shift_are_in_its_counted_float(tmp_path: Path) -> None:
    """Issue 15 item 5: two cash sales, then a shift opened with the drawer counted at €100:
    those sales' cash is in that count, so the X expects €100 + the shift's €15, not €5.40 more;
    every sale still counts in the period's totals, and the Z agrees with the X."""
    async with till_with_printer(tmp_path) as (till, _sim):
        shifts = till.shifts
        ana, marco = await staff(till, "1234"), await staff(till, "9999")
        early = [await sell(till, "croissant"), await sell(till, "espresso")]
        await shifts.paid_in(marco, Money(200, "EUR"), "change from the bank")
        await shifts.open_shift(ana, Money(10000, "EUR"))
        during = [await sell(till, "mug"), await sell(till, "espresso")]
        x, _ = await shifts.x_report(marco, print_it=False)
        records = [r async for r in journal.iterate(till.conn)]
        sums = drawer_sums(records)
        shift_cash = sum(s.total.minor for s in during)
        assert sums["expected"] == 10000 + shift_cash
        assert x.expected_cash == sums["expected"]
        assert x.cash_taken == shift_cash and x.paid_in == 0 and x.float == 10000
        assert x.totals_body()["cash_before_shift"] == sums["before"]
        assert sums["before"] == sum(s.total.minor for s in early) + 200
        assert x.sales_count == 4  # the period's sales, before the shift too
        assert x.net_sales == independent_sums(records)["net_sales"]
        z = (await shifts.z_close(marco, {10000: 1}, accept_difference=-shift_cash)).record
        assert z.body["expected_cash"] == x.expected_cash
        assert z.body["totals"] == x.totals_body()


async def test_without_a_shift_every_cash_movement_is_expected(tmp_path: Path) -> None:
    """No float was counted: the drawer is expected to hold what the period took in."""
    async with till_with_printer(tmp_path) as (till, _sim):
        marco = await staff(till, "9999")
        sold = await sell(till, "croissant")
        x, _ = await till.shifts.x_report(marco, print_it=False)
        records = [r async for r in journal.iterate(till.conn)]
        assert x.expected_cash == drawer_sums(records)["expected"] == sold.total.minor
        assert x.totals_body()["cash_before_shift"] == 0


async def test_a_z_with_a_difference_is_closed_only_once_it_is_confirmed(tmp_path: Path) -> None:
    """Issue 15 item 4: nothing counted against €100.00 expected is not sealed by one tap: the
    service refuses a Z whose difference nobody confirmed, in the words to ask with, and writes
    nothing; the confirmed difference must be the one found."""
    async with till_with_printer(tmp_path) as (till, _sim):
        shifts = till.shifts
        marco = await staff(till, "9999")
        await shifts.open_shift(marco, Money(10000, "EUR"))
        with pytest.raises(UnconfirmedDifference) as refused:
            await shifts.z_close(marco, {})
        assert str(refused.value) == ("Counted €0.00, expected €100.00: close with €100.00 short?")
        assert refused.value.difference == -10000
        with pytest.raises(UnconfirmedDifference, match="close with €0.50 over"):
            await shifts.z_close(marco, {10000: 1, 50: 1}, accept_difference=-10000)
        assert not [r async for r in journal.iterate(till.conn) if r.kind == "z_close"]
        z = (await shifts.z_close(marco, {}, accept_difference=-10000)).record
        assert z.body["difference"] == -10000
        await shifts.open_shift(marco, Money(5000, "EUR"))
        even = await shifts.z_close(marco, {5000: 1})  # no difference: nothing to confirm
        assert even.record.body["difference"] == 0


async def test_x_and_z_print_in_a_report_layout(tmp_path: Path) -> None:
    """Issue 15 item 7: X and Z printouts read "Sale X REPORT", "B 10% incl VAT 10%…",
    "Journal #0 sig" with no signature and a QR of "bitagora:X REPORT:0". A report has its own
    layout: its figures by section, no sale line, no tax row of a sale; an X (not journalled)
    names no journal record and has no QR; a Z names its signed record."""
    async with till_with_printer(tmp_path) as (till, sim):
        shifts, _ana, marco = await a_day(till)
        x, problem = await shifts.x_report(marco)
        assert problem is None
        expected = x.expected_cash
        z = (await shifts.z_close(marco, {5000: 1}, 5000 - expected)).record
        await sim.wait_receipts(9)
        printed = sim.printed()
        [x_paper] = [p for p in printed if "X REPORT" in p.render()]
        [z_paper] = [p for p in printed if "Z REPORT #1" in p.render()]
        x_text, z_text = x_paper.render(), z_paper.render()
        for text in (x_text, z_text):
            assert "Sale " not in text and " VAT " not in text and "Subtotal" not in text
            assert "Journal #0" not in text and "TOTAL" not in text
            assert "B 10% incl" in text and "Net sales" in text and "Card" in text
        assert x_paper.qr_payloads == [] and z_paper.qr_payloads == []
        assert "Journal #" not in x_text and "sig" not in x_text
        assert "Not a closing: totals are not reset" in x_text
        assert any(r.startswith("  Net ") for r in x_text.splitlines())  # under its tax rate
        assert f"Journal #{z.seq} sig {z.sig[:16]}" in z_text
        assert f"journal #{z.body['period']['first_seq']}-#{z.seq - 1}" in z_text
        rows = {line.strip() for line in z_text.splitlines()}
        money = Money(expected, "EUR")
        assert any(r.startswith("Expected cash") and r.endswith(str(money)) for r in rows)
        assert any(
            r.startswith("Difference") and r.endswith(str(Money(5000 - expected, "EUR")))
            for r in rows
        )
