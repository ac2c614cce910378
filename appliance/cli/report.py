"""``bitagora report x|z``: shift reports read from the device database, read-only.

Like ``bitagora journal verify``, this opens the database with ``mode=ro`` and never writes, so it
is safe beside a running kiosk. ``report z --date YYYY-MM-DD`` shows every Z closed that day (the
local date of its ``z_close`` record); ``--csv`` writes them as CSV to stdout, one row per figure:

    z_number,closed_at,currency,section,name,net,tax,gross,amount

- ``closed_at``: the z_close record's ``at`` (UTC, as the device believed).
- amounts are decimal text in the currency's major unit ("12.50"), negative for money out.
- ``section`` ``total`` rows (``amount``): sales, refunds, net_sales, float, cash_taken,
  cash_refunds, paid_in, paid_out, cash_before_shift (docs/PROTOCOL.md, ``z_close``),
  expected_cash, counted_cash, difference, grand_total; and the
  counts sales_count, refunds_count, voids_count (``amount`` a plain integer).
- ``section`` ``method`` rows: ``name`` the payment method, ``amount`` net of refunds.
- ``section`` ``tax`` rows: ``name`` code, rate and "incl" for tax-inclusive prices
  ("B 10% incl"), with ``net``, ``tax`` and ``gross`` net of refunds.

``report x`` prints the running totals since the last Z (nothing is written or reset).
"""

from __future__ import annotations

import argparse
import csv
import io
import sqlite3
import sys
from datetime import date
from pathlib import Path
from typing import Any

from appliance.cli.common import Subparsers, add_device_options, settings
from appliance.core.report import period_report, report_lines, tax_label
from appliance.store.readonly import journal_records, open_read_only
from bitagora_protocol.journal import Record
from bitagora_protocol.money import exponent

CSV_COLUMNS = (
    "z_number",
    "closed_at",
    "currency",
    "section",
    "name",
    "net",
    "tax",
    "gross",
    "amount",
)
COUNTS = ("sales_count", "refunds_count", "voids_count")


def decimal_text(minor: int, currency: str) -> str:
    exp = exponent(currency)
    if not exp:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def z_closes_on(path: Path, day: date) -> list[Record]:
    from appliance.services.printing import local_time

    with open_read_only(path) as conn:
        return [r for r in journal_records(conn, "z_close") if local_time(r.at).date() == day]


def z_csv(records: list[Record]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        writer.writerows(_z_rows(record))
    return out.getvalue()


def _z_rows(record: Record) -> list[list[Any]]:
    b = record.body
    cur = b["currency"]
    t = b["totals"]
    rows: list[list[Any]] = []

    def row(section: str, name: str, *money: str) -> None:
        rows.append([b["z_number"], record.at, cur, section, name, *money])

    for name in COUNTS:
        row("total", name, "", "", "", str(t[name]))
    negative = {"refunds", "cash_refunds", "paid_out"}
    figures = {
        **{k: t[k] for k in ("sales", "refunds", "net_sales", "float", "cash_taken")},
        **{k: t[k] for k in ("cash_refunds", "paid_in", "paid_out")},
        "cash_before_shift": t.get("cash_before_shift", 0),  # absent from older Zs: 0
        "expected_cash": b["expected_cash"],
        "counted_cash": b["counted"]["total"],
        "difference": b["difference"],
        "grand_total": b["grand_total"],
    }
    for name, minor in figures.items():
        value = -int(minor) if name in negative else int(minor)
        row("total", name, "", "", "", decimal_text(value, cur))
    for m in t["by_method"]:
        row("method", m["method"], "", "", "", decimal_text(m["amount"], cur))
    for x in t["by_tax"]:
        row(
            "tax",
            tax_label(x["code"], x["bp"], x["price_includes_tax"]),
            *(decimal_text(x[k], cur) for k in ("net", "tax", "gross")),
            "",
        )
    return rows


def z_text(record: Record) -> str:
    b = record.body
    cur = b["currency"]
    lines = report_lines(f"Z REPORT #{b['z_number']}  {record.at}", b["totals"], cur)
    lines += [
        f"Period: journal #{b['period']['first_seq']}-#{b['period']['last_seq']}",
        f"Counted cash: {decimal_text(b['counted']['total'], cur)}",
        f"Expected cash: {decimal_text(b['expected_cash'], cur)}",
        f"Difference: {decimal_text(b['difference'], cur)}",
        f"Grand total: {decimal_text(b['grand_total'], cur)}",
    ]
    return "\n".join(lines)


def x_text(path: Path, currency: str) -> str:
    with open_read_only(path) as conn:
        report = period_report(journal_records(conn), currency)
    lines = report_lines("X REPORT (running totals, not reset)", report.totals_body(), currency)
    lines.append(f"Expected cash: {decimal_text(report.expected_cash, currency)}")
    return "\n".join(lines)


def cmd_report(args: argparse.Namespace) -> int:
    device = settings(args)
    return run(args, device.database_path, device.device.currency)


def run(args: argparse.Namespace, database: Path, currency: str) -> int:
    try:
        if args.report_kind == "x":
            print(x_text(database, currency))
            return 0
        records = z_closes_on(database, args.date)
    except (OSError, sqlite3.Error) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.csv:
        sys.stdout.write(z_csv(records))
        return 0
    if not records:
        print(f"no Z closing on {args.date.isoformat()}", file=sys.stderr)
        return 1
    print("\n\n".join(z_text(r) for r in records))
    return 0


def register(sub: Subparsers) -> None:
    report = sub.add_parser("report", help="shift reports: X (running) and Z (closings)")
    report.set_defaults(func=cmd_report)
    rsub = report.add_subparsers(dest="report_kind", required=True, metavar="KIND")
    x = rsub.add_parser("x", help="running totals since the last Z (nothing reset)")
    add_device_options(x)
    z = rsub.add_parser("z", help="the Z closings of a day")
    add_device_options(z)
    z.add_argument("--date", type=date.fromisoformat, required=True, help="YYYY-MM-DD (local)")
    z.add_argument("--csv", action="store_true", help="CSV to stdout (columns: see the docs)")
