"""The body of a ``drawer_open`` journal record (docs/PROTOCOL.md, section 1.4).

Every time the till commands the cash drawer to open it first appends one of these, so the
journal counts every opening and says why:

- ``sale``: change for a cash sale; ``sale_id`` names it.
- ``sale_after_restart``: change for a cash sale whose ``sale`` opening was never recorded (the
  till stopped between the sale's commit and its drawer's record), opened when staff accepted
  the till's offer after the restart; ``sale_id`` names it.
- ``no_sale``: opened outside a sale (change for a customer, a check); ``approved_by`` names the
  manager whose PIN allowed it.
- ``refund``: cash paid back; ``refund_id`` names the refund record's sale-like id (reserved).
- ``count``: counting the drawer at a shift change or closing (before a Z).
- ``float``: putting the opening float in (``shift_open``).
- ``paid_in`` / ``paid_out``: cash put in or taken out with a reason (a ``paid_in_out`` record
  comes just before).
- ``test``: a technician's test pulse (``bitagora doctor``); ``approved_by`` names who ran it.

``staff`` is who is logged in at the till (for ``test``, the technician).
"""

from __future__ import annotations

from typing import Any

DRAWER_REASONS = (
    "sale",
    "sale_after_restart",
    "no_sale",
    "refund",
    "count",
    "test",
    "float",
    "paid_in",
    "paid_out",
)
SALE_REASONS = ("sale", "sale_after_restart")  # the openings that name a sale_id
APPROVED_REASONS = ("no_sale", "test")  # an approving PIN is part of these openings


class DrawerBodyError(ValueError):
    """A drawer_open body that breaks the rules above."""


def drawer_open_body(
    reason: str,
    staff_id: str,
    staff_name: str,
    *,
    sale_id: str | None = None,
    refund_id: str | None = None,
    approved_by: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """``approved_by`` is (id, name) of whoever's PIN allowed the opening."""
    if reason not in DRAWER_REASONS:
        raise DrawerBodyError(f"unknown drawer opening reason {reason!r}")
    if (reason in SALE_REASONS) != (sale_id is not None):
        raise DrawerBodyError(
            "a sale_id goes with reason 'sale' or 'sale_after_restart', and only with them"
        )
    if (reason == "refund") != (refund_id is not None):
        raise DrawerBodyError("a refund_id goes with reason 'refund', and only with it")
    if reason in APPROVED_REASONS and approved_by is None:
        raise DrawerBodyError(f"a {reason!r} opening needs who approved it")
    body: dict[str, Any] = {"reason": reason, "staff": {"id": staff_id, "name": staff_name}}
    if sale_id is not None:
        body["sale_id"] = sale_id
    if refund_id is not None:
        body["refund_id"] = refund_id
    if approved_by is not None:
        body["approved_by"] = {"id": approved_by[0], "name": approved_by[1]}
    return body
