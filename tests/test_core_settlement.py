"""Settlement rules for on-chain payments: examples for each state, properties for all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.settlement import Policy, Seen, State, Tier, judge

EXPIRES = 1_000.0
POLICY = Policy(zero_conf_max_sats=50_000, tiers=(Tier(0, 1), Tier(1_000_000, 3)))


def tx(sats: int, confs: int = 0, rbf: bool = False, at: float = 500.0, txid: str = "a") -> Seen:
    return Seen(txid, sats, confs, rbf, at)


def state(amount: int, seen: list[Seen], now: float = 600.0) -> State:
    return judge(amount, EXPIRES, seen, now, POLICY).state


def test_nothing_yet_then_expired() -> None:
    assert state(10_000, []) is State.WAITING
    assert state(10_000, [], now=EXPIRES + 1) is State.EXPIRED


def test_small_payment_settles_unconfirmed_unless_it_signals_rbf() -> None:
    assert state(10_000, [tx(10_000)]) is State.PAID
    verdict = judge(10_000, EXPIRES, [tx(10_000, rbf=True)], 600.0, POLICY)
    assert verdict.state is State.CONFIRMING and verdict.needed_confirmations == 1
    assert state(10_000, [tx(10_000, confs=1, rbf=True)]) is State.PAID


def test_large_payments_need_their_tier_of_confirmations() -> None:
    assert state(200_000, [tx(200_000)]) is State.CONFIRMING
    assert state(200_000, [tx(200_000, confs=1)]) is State.PAID
    assert state(2_000_000, [tx(2_000_000, confs=2)]) is State.CONFIRMING
    assert state(2_000_000, [tx(2_000_000, confs=3)]) is State.PAID


def test_confirmations_may_come_after_expiry_for_a_payment_made_in_time() -> None:
    assert state(200_000, [tx(200_000, confs=1)], now=EXPIRES + 3_600) is State.PAID


def test_underpaid_can_be_topped_up_before_expiry() -> None:
    assert state(10_000, [tx(6_000)]) is State.UNDERPAID
    assert state(10_000, [tx(6_000), tx(4_000, txid="b")]) is State.PAID
    expired = judge(10_000, EXPIRES, [tx(6_000)], EXPIRES + 1, POLICY)
    assert expired.state is State.EXPIRED_UNDERPAID and expired.refund_sats == 6_000


def test_overpaid_completes_the_sale_and_records_the_excess() -> None:
    verdict = judge(10_000, EXPIRES, [tx(12_500)], 600.0, POLICY)
    assert verdict.state is State.OVERPAID and verdict.refund_sats == 2_500
    assert verdict.state.completes_sale


def test_payment_after_expiry_is_late_for_the_manager() -> None:
    verdict = judge(10_000, EXPIRES, [tx(10_000, at=EXPIRES + 5)], EXPIRES + 6, POLICY)
    assert verdict.state is State.LATE and verdict.refund_sats == 10_000
    assert not verdict.state.completes_sale
    # a top-up that comes too late turns an underpayment into a late one, all of it to refund
    late_top_up = [tx(6_000), tx(4_000, at=EXPIRES + 5, txid="b")]
    assert judge(10_000, EXPIRES, late_top_up, EXPIRES + 6, POLICY).refund_sats == 10_000
    # paid in time: an extra transaction after expiry is only overpayment
    extra = [tx(10_000), tx(1_000, at=EXPIRES + 5, txid="b")]
    verdict = judge(10_000, EXPIRES, extra, EXPIRES + 6, POLICY)
    assert verdict.state is State.OVERPAID and verdict.refund_sats == 1_000


@pytest.mark.parametrize(
    "tiers",
    [(), (Tier(5, 1),), (Tier(0, 0),), (Tier(0, 2), Tier(0, 3)), (Tier(0, 3), Tier(10, 1))],
)
def test_inconsistent_policies_are_refused(tiers: tuple[Tier, ...]) -> None:
    with pytest.raises(ValueError):
        Policy(zero_conf_max_sats=0, tiers=tiers)


def test_an_invoice_needs_an_amount() -> None:
    with pytest.raises(ValueError):
        judge(0, EXPIRES, [], 0.0, POLICY)


seen_lists = st.lists(
    st.builds(
        Seen,
        txid=st.text("0123456789abcdef", min_size=1, max_size=4),
        sats=st.integers(1, 3_000_000),
        confirmations=st.integers(0, 6),
        rbf=st.booleans(),
        first_seen=st.floats(0, 2 * EXPIRES),
    ),
    max_size=4,
)


@given(
    amount=st.integers(1, 3_000_000),
    seen=seen_lists,
    now=st.floats(0, 3 * EXPIRES),
)
def test_properties(amount: int, seen: list[Seen], now: float) -> None:
    verdict = judge(amount, EXPIRES, seen, now, POLICY)
    assert verdict.received_sats == sum(t.sats for t in seen)
    if verdict.state.completes_sale:
        # complete only when covered, settled enough, and the refund is exactly the excess
        assert verdict.received_sats >= amount
        assert verdict.refund_sats == verdict.received_sats - amount
        assert all(t.confirmations >= verdict.needed_confirmations for t in seen)
        if any(t.rbf for t in seen):
            assert verdict.needed_confirmations >= 1
    else:
        assert verdict.refund_sats in (0, verdict.received_sats)
    # more confirmations never undo a settled payment
    deeper = [Seen(t.txid, t.sats, t.confirmations + 1, t.rbf, t.first_seen) for t in seen]
    if verdict.state.completes_sale:
        assert judge(amount, EXPIRES, deeper, now, POLICY).state is verdict.state
