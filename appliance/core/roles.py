"""Who may do what at the till: one table of actions and the roles allowed each, and ``require``.

The services call ``require`` before they act, so a rule holds whichever UI (or none) drives them;
screens may also use ``allowed`` to hide a button, never instead of it.

| action        | cashier | manager | technician |
| ------------- | ------- | ------- | ---------- |
| sell          | yes     | yes     |            |
| reprint       | yes     | yes     |            |
| no_sale       |         | yes     |            |
| refund        |         | yes     |            |
| void          |         | yes     |            |
| paid_in_out   |         | yes     |            |
| x_report      |         | yes     |            |
| z_close       |         | yes     |            |
| unlock_staff  |         | yes     |            |
| manage_staff  |         | yes     |            |
| settings      |         | yes     | yes        |
| drawer_test   |         | yes     | yes        |

Technicians install and mend the till; they do not take money (a test sale would be a real sale
in the fiscal journal). Cashiers do not see the X report: its expected cash in the drawer would
let a short drawer be topped up to match before anyone counts it (a "blind" cash-up).
Technicians do not manage staff either: whoever adds people chooses who approves refunds and
no-sales, which is the money side; a technician has the device's shell (``bitagora staff``)
for the first manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, get_args

from appliance.core.words import N_

Role = Literal["cashier", "manager", "technician"]
ROLES: tuple[Role, ...] = get_args(Role)
# How screens name each role (marked for the catalog; translated where shown).
ROLE_NAMES: dict[str, str] = {
    "cashier": N_("cashier"),
    "manager": N_("manager"),
    "technician": N_("technician"),
}

Action = Literal[
    "sell",
    "reprint",
    "no_sale",
    "refund",
    "void",
    "paid_in_out",
    "x_report",
    "z_close",
    "unlock_staff",
    "manage_staff",
    "settings",
    "drawer_test",
]


@dataclass(frozen=True)
class Permission:
    roles: frozenset[str]
    words: str  # what the action is, after "a manager must …"


PERMISSIONS: Mapping[Action, Permission] = {
    "sell": Permission(frozenset({"cashier", "manager"}), N_("take payment for a sale")),
    "reprint": Permission(frozenset({"cashier", "manager"}), N_("reprint a receipt")),
    "no_sale": Permission(frozenset({"manager"}), N_("open the drawer without a sale")),
    "refund": Permission(frozenset({"manager"}), N_("approve a refund")),
    "void": Permission(frozenset({"manager"}), N_("void a sale in progress")),
    "paid_in_out": Permission(frozenset({"manager"}), N_("pay cash into or out of the drawer")),
    "x_report": Permission(frozenset({"manager"}), N_("print an X report")),
    "z_close": Permission(frozenset({"manager"}), N_("close the day (Z)")),
    "unlock_staff": Permission(frozenset({"manager"}), N_("lift a PIN lockout")),
    "manage_staff": Permission(
        frozenset({"manager"}), N_("add staff, reset a PIN or deactivate someone")
    ),
    "settings": Permission(frozenset({"manager", "technician"}), N_("change the settings")),
    "drawer_test": Permission(frozenset({"manager", "technician"}), N_("test the drawer")),
}


class AuthError(PermissionError):
    """A PIN or a badge that matches nobody."""


class NoStaff(AuthError):
    """The till has nobody on it yet: no PIN or badge can be right, so none is counted as
    wrong (a fresh till would otherwise lock its own PIN pad). The message says how to add
    the first manager."""


NO_STAFF = (
    "No staff yet: add the first manager in bitagora-setup.toml ([manager] name and pin) "
    "or at the device's shell with bitagora staff add ID --name NAME --role manager "
    "(docs/TECHNICIAN.md)"
)


class Deactivated(AuthError):
    """A right PIN or a known badge of someone who was deactivated: they unlock nothing. Not
    counted as a wrong PIN (docs/ARCHITECTURE.md, "Staff, roles and PIN lockout")."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} has been deactivated: a manager can reactivate them")


class NotAuthorized(AuthError):
    """Somebody whose role may not do (or approve) what was asked; the message says who may."""

    def __init__(self, message: str, action: Action | None = None) -> None:
        super().__init__(message)
        self.action = action


class Person(Protocol):
    """Anyone with a name and a role (``store.staff.Staff``)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...


def allowed(role: str, action: Action) -> bool:
    return role in PERMISSIONS[action].roles


def roles_for(action: Action) -> tuple[str, ...]:
    """The roles allowed ``action``, in ``ROLES`` order."""
    return tuple(r for r in ROLES if r in PERMISSIONS[action].roles)


def require(who: Person, action: Action) -> None:
    """Raise ``NotAuthorized`` unless ``who``'s role may do ``action``, saying who may:
    "Ana is a cashier: a manager must approve a refund"."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}")
    if allowed(who.role, action):
        return
    needed = " or ".join(roles_for(action))
    raise NotAuthorized(
        f"{who.name} is a {who.role}: a {needed} must {PERMISSIONS[action].words}", action
    )
