"""The audit log: who did what, when and from where, one append-only row per ops or merchant
action (migration 0013; docs/OPERATIONS.md "Audit log").

Each action calls ``record`` on the connection that makes its change, so the row and the change
commit together or not at all (a login, which changes nothing, on the pool). A page's actor is
its user and the browser's address as central sees it (the proxy's, behind one); the command
line's is ``cli:<OS user>``.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from starlette.requests import Request

from central.context import central


@dataclass(frozen=True)
class Actor:
    name: str
    address: str | None
    at: datetime

    @classmethod
    def of(cls, request: Request, name: str) -> Actor:
        address = request.client.host if request.client else None
        return cls(name, address, central(request).now())

    @classmethod
    def command_line(cls, at: datetime) -> Actor:
        return cls(f"cli:{getpass.getuser()}", None, at)


async def record(
    conn: asyncpg.Connection | asyncpg.Pool,
    actor: Actor,
    action: str,
    target: str,
    merchant_id: int | None = None,
    *,
    device_id: str | None = None,
    detail: str = "",
    reason: str = "",
) -> None:
    """One row; an action on a device names it (``device_id``, shown on the device's page) with
    what changed (``detail``) and why, when ops had to say (``reason``)."""
    await conn.execute(
        "INSERT INTO audit_log"
        " (at, actor, address, merchant_id, action, target, device_id, detail, reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        actor.at,
        actor.name[:320],
        actor.address,
        merchant_id,
        action,
        target[:500],
        device_id,
        detail[:500],
        reason[:500],
    )
