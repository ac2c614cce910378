"""The kiosk's garbage collection policy (tui/quiet_gc.py) with Python's real collector: a sale's
garbage is collected once its done screen is drawn and nobody touches the till for a moment,
never in the middle of a sale; everything only when the till is idle. How long collections take
is bench/bitcoin_pay.py's job."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tui_helpers import kiosk, till_with_printer
from uplink_helpers import wait_until

from appliance.tui.quiet_gc import THRESHOLDS, QuietGc
from appliance.tui.screens.pay_cash import PayCashScreen
from appliance.tui.screens.sale_done import SaleDoneScreen
from bitagora_devtools.script import tap, tap_product
from bitagora_devtools.script import wait_until as wait_in_app


@pytest.fixture
def full_collections() -> Iterator[list[int]]:
    """The full collections from now on (one entry each); the process's collector as it was
    afterwards (the policy changes it process-wide)."""
    thresholds = gc.get_threshold()
    seen: list[int] = []

    def heard(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            seen.append(info["collected"])

    gc.callbacks.append(heard)
    try:
        yield seen
    finally:
        gc.callbacks.remove(heard)
        gc.unfreeze()
        gc.set_threshold(*thresholds)
        gc.enable()


async def test_each_customer_collects_what_the_sale_left_and_freezes_the_rest(
    full_collections: list[int],
) -> None:
    policy = QuietGc(lambda: True, idle_s=3600, quiet_s=0.01)
    policy.start()
    try:
        assert gc.get_threshold() == THRESHOLDS and gc.get_freeze_count() > 0
        garbage: list[object] = []
        garbage.append(garbage)  # a reference cycle nobody holds once the name goes
        del garbage
        policy.sale_over()
        await wait_until(lambda: _is(len(full_collections) == 1), what="the sale's collection")
        assert full_collections[0] >= 1
        assert gc.get_count()[2] == 0 and len(gc.get_objects(2)) == 0  # the rest is frozen
        policy.sale_over()
        await wait_until(lambda: _is(policy.sales == 2), what="the next sale's collection")
        assert len(full_collections) == 2
    finally:
        policy.stop()


class Node:
    """Something in a reference cycle that a weak reference can watch."""

    def __init__(self) -> None:
        self.itself = self


@pytest.mark.parametrize("max_frozen_growth, freed", [(10**9, False), (0, True)])
async def test_a_till_never_idle_collects_everything_once_enough_is_frozen(
    full_collections: list[int], max_frozen_growth: int, freed: bool
) -> None:
    # A cycle alive at start-up is frozen; once it is garbage, only a collection of everything
    # frees it. With the bound passed (0 here), the sale's collection is that collection.
    node = Node()
    watch = weakref.ref(node)
    policy = QuietGc(lambda: True, idle_s=3600, quiet_s=0.01, max_frozen_growth=max_frozen_growth)
    policy.start()
    try:
        del node
        policy.sale_over()
        await wait_until(lambda: _is(policy.sales == 1), what="the sale's collection")
        assert (watch() is None) == freed
    finally:
        policy.stop()


async def test_no_collection_in_the_middle_of_a_sale_but_at_the_next_quiet_moment(
    full_collections: list[int],
) -> None:
    selling = [True]  # the next customer's first product went in before the till was quiet
    asked: list[bool] = []

    def may_pause() -> bool:
        asked.append(not selling[0])
        return asked[-1]

    policy = QuietGc(may_pause, idle_s=3600, quiet_s=0.01)
    policy.start()
    try:
        policy.sale_over()
        await wait_until(lambda: _is(bool(asked)), what="the quiet moment")
        assert full_collections == [] and policy.sales == 0  # still owed
        selling[0] = False  # that sale is cancelled: the cart is empty
        policy.activity()  # the tap that emptied it; the till is quiet after it
        await wait_until(lambda: _is(policy.sales == 1), what="the owed collection")
        assert len(full_collections) == 1 and asked == [False, True]
    finally:
        policy.stop()


async def _is(value: bool) -> bool:
    return value


async def test_an_idle_till_collects_once_nobody_needs_the_screen(
    full_collections: list[int],
) -> None:
    asked: list[bool] = []

    def may_pause() -> bool:  # someone is selling at first, then the till is idle
        asked.append(len(asked) > 0)
        return asked[-1]

    policy = QuietGc(may_pause, idle_s=0.05, quiet_s=3600)
    policy.start()
    try:
        policy.sale_over()  # owed, but never quiet for an hour: only the idle till collects

        async def collected() -> bool:
            return len(full_collections) == 1

        await wait_until(collected, what="the idle till's full collection")
        assert asked[:2] == [False, True] and policy.sales == 1  # the owed sale went with it
    finally:
        policy.stop()


async def test_the_kiosk_collects_after_a_sale_once_its_done_screen_is_drawn(
    tmp_path: Path, full_collections: list[int]
) -> None:
    async with (
        till_with_printer(tmp_path) as (till, _sim),
        kiosk(till, quiet_gc=True) as (app, pilot),
    ):
        policy = app.quiet_gc
        assert policy is not None
        product = next(p for p in await till.sales.products() if p.sku == "croissant")
        await tap_product(pilot, app.sell, product)
        await tap(pilot, "#pay")
        await wait_in_app(
            pilot,
            lambda: isinstance(app.screen, PayCashScreen) and app.screen.is_mounted,
            "the payment",
        )
        await tap(pilot, "#tender-0")
        await tap(pilot, "#confirm")
        await wait_in_app(
            pilot,
            lambda: isinstance(app.screen, SaleDoneScreen) and app.screen.is_mounted,
            "the sale",
        )
        await wait_in_app(pilot, lambda: policy.sales == 1, "the sale's collection")
        assert isinstance(app.screen, SaleDoneScreen)
