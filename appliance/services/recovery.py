"""After a restart: payments the till left unsettled, settled at start (in the background;
``Recovery.recovered`` waits for it and returns what it found, in words for staff).

- Card attempts left open (``CardPayments.open_attempts``): Stripe is asked what became of each.
  Paid (an authorisation is captured) → its sale is recorded from the cart kept with the attempt,
  or, for a split sale's part, the part (and the sale when it covers it); still on the reader →
  cancelled there; declined or failed → closed. Stripe out of reach → left open for next time.
- Succeeded attempts whose sale or part a crash kept from being recorded: recorded now.
- A split sale whose parts cover it but whose ``sale`` was not written: finished now.

Each is recorded once: a sale id is recorded at most once (``sales``), and a part's
PaymentIntent is compared with the parts already journalled.

And the last sale, when staff never saw its outcome (the till stopped between the sale's commit
and its done screen): ``untold_sale`` says what became of it (number, total, how it was paid,
whether its receipt printed, whether a cash sale still owes its drawer opening) until staff
``told`` it was seen. docs/TECHNICIAN.md, "After a crash or a power cut".
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiosqlite

from appliance.core.sale import SaleError
from appliance.core.split import SplitSale
from appliance.payments.card_types import CardAttempt, CardError, CardOutcome
from appliance.services.sales import SalesService
from appliance.services.split import PartRefunded, SplitTender
from appliance.store import card as card_store
from appliance.store import print_queue, sales
from appliance.store import split as split_store
from bitagora_protocol.journal import Record
from bitagora_protocol.money import Money

if TYPE_CHECKING:
    from appliance.payments.card import CardPayments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UntoldSale:
    """The last sale, whose outcome staff never saw: what to tell them after a restart."""

    record: Record
    total: Money
    receipt: str  # "printed", "waiting" (queued, not printed yet) or "interrupted" (mid-print)
    drawer_owed: bool  # a cash sale whose drawer opening was never recorded

    @property
    def sale_id(self) -> str:
        return str(self.record.body["sale_id"])

    @property
    def payments(self) -> list[dict[str, object]]:
        return list(self.record.body["payments"])


class Recovery:
    """The look at payments a restart left unsettled, run in the background from ``start``."""

    def __init__(
        self,
        conn: aiosqlite.Connection,
        sales: SalesService,
        split: SplitTender,
        card: CardPayments | None,
    ) -> None:
        self.conn, self.sales, self.split, self.card = conn, sales, split, card
        self._task: asyncio.Task[list[str]] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(settle_after_restart(self), name="recovery")

    async def recovered(self) -> list[str]:
        """What the look found, in words for staff (waits for it to end: it asks Stripe about
        card attempts left open)."""
        if self._task is None:
            return []
        return await asyncio.shield(self._task)

    async def untold_sale(self) -> UntoldSale | None:
        """The newest sale, if staff were never shown its outcome (None otherwise). Asked after
        the look at unsettled payments, which may record a sale."""
        if self._task is not None:
            await asyncio.shield(self._task)
        record = await sales.newest_sale(self.conn)
        if record is None:
            return None
        told = await sales.outcome_told_seq(self.conn)
        if told is not None and told >= record.seq:
            return None
        job = await print_queue.get(self.conn, record.seq)
        if await print_queue.printed_at(self.conn, record.seq) is not None:
            receipt = "printed"
        elif job is not None and job.last_error == print_queue.INTERRUPTED:
            receipt = "interrupted"
        else:
            receipt = "waiting"
        body = record.body
        return UntoldSale(
            record,
            Money(body["total"]["minor"], body["currency"]),
            receipt,
            await self.sales.drawer.owed_to_sale(record),
        )

    async def told(self, sale: UntoldSale) -> None:
        """Staff have seen (and dismissed) what became of ``sale``: not told again."""
        await sales.mark_outcome_told(self.conn, sale.record.seq)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def settle_after_restart(till: Recovery) -> list[str]:
    """What a restart left unsettled, settled, in words for staff (``Recovery.recovered``)."""
    notes: list[str] = []
    if till.card is not None:
        notes += await _resolve_card_attempts(till, till.card)
    for split in await till.split.unfinished():
        if split.remaining.minor == 0:  # its last part was journalled, its sale not yet
            try:
                result = await till.split.finish(split)
            except (SaleError, aiosqlite.Error, OSError) as err:
                notes.append(f"Sale {split.sale_id[:8]} is paid but not recorded: {err}")
            else:
                seq = result.record.seq
                notes.append(f"Sale {split.sale_id[:8]} paid in parts: recorded (#{seq})")
    return notes


async def _resolve_card_attempts(till: Recovery, card: CardPayments) -> list[str]:
    """Ask Stripe what became of each card attempt a restart left open, and of each success
    whose sale or part was never recorded: paid → the sale (or the split sale's part) is
    recorded once; otherwise the PaymentIntent is cancelled and the attempt closed."""
    notes: list[str] = []
    try:
        attempts = await card.open_attempts()
    except CardError as err:
        log.warning("card attempts not resolved at start: %s", err)
        return [f"Card payments left open could not be checked: {err}"]
    attempts += await _unrecorded_card_successes(till, card)
    for attempt in attempts:
        try:
            outcome = await card.poll(attempt)  # an authorisation is captured: it was paid
            if not outcome.done:  # still on the reader, with nobody at the screen
                outcome = await card.cancel(attempt, reason="abandoned")
            if outcome.paid:
                notes.append(await _record_found_card(till, attempt, outcome))
            else:
                log.info(
                    "card attempt closed at start",
                    extra={"sale_id": attempt.sale_id, "status": outcome.status.value},
                )
        except (CardError, SaleError, ValueError, aiosqlite.Error) as err:
            log.warning(
                "card attempt not resolved at start",
                extra={"sale_id": attempt.sale_id, "error": str(err)},
            )
            notes.append(f"Card payment of sale {attempt.sale_id[:8]} not settled: {err}")
    return notes


async def _unrecorded_card_successes(till: Recovery, card: CardPayments) -> list[CardAttempt]:
    """Succeeded attempts whose sale (or split part) a crash kept from being recorded."""
    found = []
    for row in await card_store.succeeded_unrecorded(till.conn):
        split = await split_store.get(till.conn, row.sale_id)
        if split is not None and (
            any(p.payment.get("payment_intent") == row.payment_intent for p in split.parts)
            or row.payment_intent in await split_store.refunded_intents(till.conn, row.sale_id)
        ):
            continue
        found.append(card.attempt_of(row))
    return found


async def _record_found_card(till: Recovery, attempt: CardAttempt, outcome: CardOutcome) -> str:
    sale = attempt.sale_id[:8]
    split = await split_store.get(till.conn, attempt.sale_id)
    if split is not None:
        staff = split.cart["staff"]
        try:
            done = await till.split.record_card_part(split, outcome, (staff["id"], staff["name"]))
        except PartRefunded as err:
            return f"Card part of sale {sale} was paid while the till was off: {err}"
        what = "part recorded" if isinstance(done, SplitSale) else "the sale is recorded"
        return f"Card part of sale {sale} was paid while the till was off: {what}"
    row = await card_store.get_attempt(till.conn, attempt.sale_id, attempt.number)
    if row is None or row.cart_json is None:
        raise SaleError("the card was paid but its cart is not known: refund it at Stripe")
    result = await till.sales.record_card_sale(json.loads(row.cart_json), outcome)
    return (
        f"Card payment for sale {sale} was paid while the till was off: sale recorded "
        f"(journal #{result.record.seq})"
    )
