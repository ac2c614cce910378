"""The permission table: who may do what, and refusals that say who may."""

from __future__ import annotations

import pytest

from appliance.core.roles import (
    PERMISSIONS,
    ROLES,
    AuthError,
    NotAuthorized,
    allowed,
    require,
    roles_for,
)
from appliance.store.staff import Staff

ANA = Staff("ana", "Ana", "cashier")
MARCO = Staff("marco", "Marco", "manager")
TEO = Staff("teo", "Teo", "technician")


def test_every_action_has_someone_and_only_known_roles() -> None:
    for action, permission in PERMISSIONS.items():
        assert permission.roles, action
        assert permission.roles <= set(ROLES), action


@pytest.mark.parametrize(
    ("who", "action", "message"),
    [
        (ANA, "refund", "Ana is a cashier: a manager must approve a refund"),
        (ANA, "no_sale", "Ana is a cashier: a manager must open the drawer without a sale"),
        (ANA, "z_close", "Ana is a cashier: a manager must close the day (Z)"),
        (ANA, "x_report", "Ana is a cashier: a manager must print an X report"),
        (ANA, "settings", "Ana is a cashier: a manager or technician must change the settings"),
        (TEO, "sell", "Teo is a technician: a cashier or manager must take payment for a sale"),
        (TEO, "void", "Teo is a technician: a manager must void a sale in progress"),
    ],
)
def test_refusals_say_who_may(who: Staff, action: str, message: str) -> None:
    with pytest.raises(NotAuthorized) as refused:
        require(who, action)  # type: ignore[arg-type]
    assert str(refused.value) == message
    assert refused.value.action == action
    assert isinstance(refused.value, AuthError)  # screens that catch AuthError still catch it


def test_managers_may_do_everything_but_nothing_is_open_to_all() -> None:
    for action in PERMISSIONS:
        require(MARCO, action)
    assert allowed("cashier", "sell") and allowed("cashier", "reprint")
    assert not allowed("technician", "refund")
    assert roles_for("drawer_test") == ("manager", "technician")
    require(TEO, "drawer_test")
    require(ANA, "sell")


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown action"):
        require(MARCO, "launder")  # type: ignore[arg-type]
