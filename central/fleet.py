"""The fleet page's query: filters, search, sort and paging from the page's URL, turned into one
parameterised SQL condition and order. Values never reach the SQL text: sort keys and filters are
chosen from fixed lists, everything else is a parameter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from central.device_status import STATUSES, status_sql

PAGE_SIZE = 50
MAX_PAGE = 1_000_000
MAX_SEARCH = 100
BACKLOG_HIGH = 1000  # unsent records a device reports before it needs ops' attention

SORTS = {
    "last_seen": "d.last_seen_at",
    "merchant": "m.name",
    "version": "d.version",
    "backlog": "d.backlog",
}


def attention_sql(now: str) -> str:
    """Why a device needs attention: a fork, central refusing its batches, offline, a backlog
    that grows, or a printer that cannot print."""
    return (
        "(d.forked_at IS NOT NULL OR d.uplink_refused IS NOT NULL"
        f" OR ({status_sql(now)}) = 'offline' OR d.backlog > {BACKLOG_HIGH}"
        " OR d.printer_online IS FALSE OR d.printer_paper = 'out')"
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass(frozen=True)
class FleetQuery:
    sort: str = "last_seen"
    descending: bool = False
    status: str = ""
    merchant: int | None = None
    version: str = ""
    attention: bool = False
    decommissioned: bool = False  # shown only when asked for
    search: str = ""
    page: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> FleetQuery:
        """The query a URL asks for; a value out of its list is ignored rather than refused."""
        try:
            page = min(max(1, int(params.get("page", "1"))), MAX_PAGE)
        except ValueError:
            page = 1
        merchant = params.get("merchant", "")
        sort = params.get("sort", "")
        status = params.get("status", "")
        return cls(
            sort=sort if sort in SORTS else "last_seen",
            descending=params.get("dir") == "desc",
            status=status if status in STATUSES else "",
            merchant=int(merchant) if merchant.isdigit() and len(merchant) < 19 else None,
            version=params.get("version", "")[:MAX_SEARCH],
            attention=params.get("attention") == "1",
            decommissioned=params.get("decommissioned") == "1",
            search=params.get("q", "").strip()[:MAX_SEARCH],
            page=page,
        )

    def where(self, now: datetime) -> tuple[str, list[Any]]:
        """The SQL condition on ``devices d JOIN merchants m`` and its arguments."""
        conditions = [] if self.decommissioned else ["d.decommissioned_at IS NULL"]
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.status:
            conditions.append(f"({status_sql(arg(now))}) = {arg(self.status)}")
        if self.merchant is not None:
            conditions.append(f"d.merchant_id = {arg(self.merchant)}")
        if self.version:
            conditions.append(f"d.version = {arg(self.version)}")
        if self.attention:
            conditions.append(attention_sql(arg(now)))
        if self.search:
            like = arg(_like(self.search))
            conditions.append(
                f"(d.device_id ILIKE {like} OR d.label ILIKE {like} OR d.location ILIKE {like})"
            )
        return " AND ".join(conditions) or "TRUE", args

    def order_by(self) -> str:
        direction = "DESC" if self.descending else "ASC"
        return f"{SORTS[self.sort]} {direction} NULLS LAST, d.device_id {direction}"

    def url(self, **changes: Any) -> str:
        """This page's URL with ``changes`` (a new sort or filter starts again at page 1)."""
        query = replace(self, **changes)
        params = {
            "q": query.search,
            "status": query.status,
            "merchant": "" if query.merchant is None else str(query.merchant),
            "version": query.version,
            "attention": "1" if query.attention else "",
            "decommissioned": "1" if query.decommissioned else "",
            "sort": "" if query.sort == "last_seen" else query.sort,
            "dir": "desc" if query.descending else "",
            "page": "" if query.page == 1 else str(query.page),
        }
        encoded = urlencode({k: v for k, v in params.items() if v})
        return f"/?{encoded}" if encoded else "/"

    def sort_url(self, sort: str) -> str:
        """Sort by ``sort``; the column sorted already turns round."""
        descending = not self.descending if sort == self.sort else False
        return self.url(sort=sort, descending=descending, page=1)
