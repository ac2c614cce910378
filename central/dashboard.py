"""The ops dashboard: the fleet page, the bitcoin refunds to pay and Stripe's card refunds and
disputes, server-rendered, readable without JS. Ops only; queries run as the user
(``central.tenancy.as_user``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from central import i18n, payouts, stripe_webhooks
from central.context import central
from central.device_status import STATUSES, DeviceStatus, device_status, status_sql
from central.fleet import PAGE_SIZE, SORTS, FleetQuery
from central.i18n import _
from central.templating import templates
from central.tenancy import as_user
from central.web_auth import Principal, page


@dataclass(frozen=True)
class DeviceRow:
    device_id: str
    label: str
    location: str
    status: DeviceStatus
    merchant: str
    version: str
    last_seen: str
    held_seq: int
    backlog: str
    printer: str
    sales: list[tuple[str, int, str]]  # (currency, count, formatted total)
    fork: str
    refused: str  # a permanent refusal the device reports (its uplink is stuck), or ""
    revoked: bool


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def format_amount(minor: int, currency: str) -> str:
    """An amount as the page's language writes it (ops pages have no merchant's country)."""
    return i18n.money(minor, currency, i18n.language())


def _age(seconds: float) -> str:
    if seconds < 0:
        return _("in the future")
    return _("%(duration)s ago") % {"duration": _duration(seconds)}


def _device_row(row: Any, sales: list[Any], now: datetime) -> DeviceRow:
    seen = row["last_seen_at"]
    last_seen = (
        f"{seen:%Y-%m-%d %H:%M:%S} UTC ({_age((now - seen).total_seconds())})"
        if seen
        else _("never")
    )
    backlog = "—" if row["backlog"] is None else str(row["backlog"])
    if row["oldest_unsent_age_s"] is not None:
        oldest = _duration(row["oldest_unsent_age_s"])
        backlog += " " + _("(oldest %(age)s old)") % {"age": oldest}
    if row["printer_online"] is None:
        printer = "—"
    else:
        state = _("online") if row["printer_online"] else _("offline")
        printer = _("%(state)s, paper %(paper)s") % {"state": state, "paper": row["printer_paper"]}
    fork = (
        _("FORK at seq %(seq)s") % {"seq": row["fork_seq"]} if row["forked_at"] is not None else ""
    )
    return DeviceRow(
        device_id=row["device_id"],
        label=row["label"],
        location=row["location"],
        status=device_status(row, now),
        merchant=row["merchant"],
        version=row["version"] or "—",
        last_seen=last_seen,
        held_seq=row["held_seq"],
        backlog=backlog,
        printer=printer,
        sales=[
            (s["currency"], s["sales"], format_amount(s["total_minor"], s["currency"]))
            for s in sales
        ],
        fork=fork,
        refused=row["uplink_refused"] or "",
        revoked=row["revoked_at"] is not None,
    )


@page(ops_only=False)
async def index(request: Request, who: Principal) -> Response:
    """The fleet, a page at a time, filtered, searched and sorted in PostgreSQL."""
    if not who.is_ops:
        return RedirectResponse(who.home, status_code=303)
    ctx = central(request)
    query = FleetQuery.from_params(request.query_params)
    now = ctx.now()
    where, args = query.where(now)
    async with as_user(ctx.pool, who.claims) as conn:
        summary = await conn.fetchrow(
            "SELECT count(*) AS devices, count(*) FILTER (WHERE forked_at IS NOT NULL) AS forked,"
            " count(*) FILTER (WHERE uplink_refused IS NOT NULL) AS refused,"
            f" count(*) FILTER (WHERE ({status_sql('$1')}) = 'offline') AS offline,"
            f" count(*) FILTER (WHERE ({status_sql('$1')}) = 'late') AS late FROM devices d"
            " WHERE d.decommissioned_at IS NULL",
            now,
        )
        matching = await conn.fetchval(
            "SELECT count(*) FROM devices d JOIN merchants m ON m.id = d.merchant_id"
            f" WHERE {where}",
            *args,
        )
        rows = await conn.fetch(
            "SELECT d.device_id, d.label, d.location, d.version, d.last_seen_at, d.heartbeat_s,"
            " d.held_seq, d.backlog, d.oldest_unsent_age_s, d.printer_online, d.printer_paper,"
            " d.forked_at, d.fork_seq, d.uplink_refused, d.revoked_at, d.last_heartbeat,"
            " m.name AS merchant"
            " FROM devices d JOIN merchants m ON m.id = d.merchant_id"
            f" WHERE {where} ORDER BY {query.order_by()}"
            f" LIMIT {PAGE_SIZE} OFFSET {(query.page - 1) * PAGE_SIZE}",
            *args,
        )
        merchants = await conn.fetch("SELECT id, name FROM merchants ORDER BY name, id")
        versions = await conn.fetch(
            "SELECT DISTINCT version FROM devices WHERE version IS NOT NULL ORDER BY version"
        )
        owed = await payouts.pending_count(conn)
        sales = await conn.fetch(
            "SELECT device_id, currency, sales, total_minor FROM device_sales"
            " WHERE device_id = ANY($1::text[]) ORDER BY currency",
            [row["device_id"] for row in rows],
        )
    by_device: dict[str, list[Any]] = {}
    for sale in sales:
        by_device.setdefault(sale["device_id"], []).append(sale)
    devices = [_device_row(row, by_device.get(row["device_id"], []), now) for row in rows]
    return templates.TemplateResponse(
        request,
        "devices.html",
        {
            "user": who.name,
            "devices": devices,
            "summary": summary,
            "matching": matching,
            "query": query,
            "sorts": SORTS,
            "statuses": STATUSES,
            "merchants": merchants,
            "versions": [v["version"] for v in versions],
            "payouts_owed": owed,
            "pages": max(1, -(-matching // PAGE_SIZE)),
            "now": now,
        },
    )


@page(ops_only=True)
async def payouts_page(request: Request, who: Principal) -> Response:
    """Bitcoin refunds the merchants still have to pay from their own wallets, oldest first."""
    ctx = central(request)
    async with as_user(ctx.pool, who.claims) as conn:
        rows = await payouts.pending(conn)
    now = ctx.now()
    for row in rows:
        row["amount"] = format_amount(row["amount_minor"], row["currency"])
        try:
            at = datetime.fromisoformat(row["refunded_at"].replace("Z", "+00:00"))
            row["age"] = _age((now - at).total_seconds())
        except ValueError:
            row["age"] = "—"
    return templates.TemplateResponse(
        request,
        "payouts.html",
        {"user": who.name, "payouts": rows, "limit": payouts.PENDING_PAGE, "now": now},
    )


@page(ops_only=True)
async def stripe_page(request: Request, who: Principal) -> Response:
    """Stripe's disputes, and its refunds that no device reported, newest first."""
    ctx = central(request)
    async with as_user(ctx.pool, who.claims) as conn:
        disputes = await stripe_webhooks.disputes(conn)
        refunds = await stripe_webhooks.unmatched_refunds(conn)
    for row in (*disputes, *refunds):
        currency = (row["currency"] or "").upper()
        row["money"] = "—" if row["amount"] is None else format_amount(row["amount"], currency)
    return templates.TemplateResponse(
        request,
        "stripe.html",
        {
            "user": who.name,
            "disputes": disputes,
            "refunds": refunds,
            "limit": stripe_webhooks.PAGE,
            "now": ctx.now(),
        },
    )
