"""Issuing sale invoices and watching them settle, without missing a payment across a restart.

``InvoiceWatcher.run`` first *catches up*: it asks the node about every invoice the store still
has as pending (``listinvoices`` by label), records those paid and closes those expired. Then it
waits with ``waitanyinvoice`` from the stored ``pay_index`` and records each settlement together
with the new ``pay_index`` in one transaction. A payment made while the till was off is found by
either path; the store takes it once (``record_payment`` only moves a pending row), so
``on_paid`` runs once per paid invoice. When a wait ends with no payment, the watcher catches up
again, which is also how it learns that invoices expired.

``on_paid`` runs after the payment is committed; the committed row is the truth, so a crash
between the two leaves a paid row that the sale code finds with ``store.lightning.get``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiosqlite

from appliance.store import lightning as store
from appliance.wallet.lightning import (
    Invoice,
    InvoiceNotUnpaid,
    InvoiceState,
    LabelExists,
    LightningError,
    LightningNode,
    PaidInvoice,
    sale_label,
)

log = logging.getLogger(__name__)

OnPaid = Callable[[store.LnInvoice], Awaitable[None]]


class InvoiceWatcher:
    def __init__(
        self,
        node: LightningNode,
        conn: aiosqlite.Connection,
        on_paid: OnPaid,
        *,
        wait_s: float = 30.0,
        retry_min_s: float = 1.0,
        retry_max_s: float = 30.0,
        on_status: Callable[[str | None], None] | None = None,
    ) -> None:
        self.node, self.conn, self.on_paid = node, conn, on_paid
        self.wait_s = wait_s
        self.retry_min_s, self.retry_max_s = retry_min_s, retry_max_s
        self.last_error: str | None = None  # for the status line: why the node is not watched
        self.on_status = on_status  # called with last_error whenever it changes
        self.caught_up = asyncio.Event()  # set after each completed catch-up

    async def issue(
        self, sale_id: str, amount_msat: int, description: str, expiry_s: int
    ) -> Invoice:
        """Ask the node for the sale's invoice and record it as pending."""
        invoice = await self.ask(sale_id, amount_msat, description, expiry_s)
        await self.record(sale_id, invoice, amount_msat)
        return invoice

    async def ask(self, sale_id: str, amount_msat: int, description: str, expiry_s: int) -> Invoice:
        """The node's invoice for the sale, not yet recorded: ``record`` it before anyone sees
        it (inside the caller's transaction, so that an offer is one commit)."""
        label = sale_label(sale_id)
        try:
            return await self.node.invoice(amount_msat, label, description, expiry_s)
        except LabelExists:
            # We asked before and stopped before recording it: take the node's invoice if it is
            # still for this amount and open, else the caller has to cancel it first.
            state = await self.node.list_invoice(label)
            if (
                state is None
                or state.status != "unpaid"
                or state.amount_msat != amount_msat
                or await store.get(self.conn, label) is not None
            ):
                raise
            return Invoice(state.bolt11, state.payment_hash, state.expires_at, label)

    async def record(self, sale_id: str, invoice: Invoice, amount_msat: int) -> None:
        """Record ``invoice`` (from ``ask``) as pending: from then on it is watched."""
        await store.add_invoice(
            self.conn,
            sale_id=sale_id,
            label=invoice.label,
            payment_hash=invoice.payment_hash,
            bolt11=invoice.bolt11,
            amount_msat=amount_msat,
            expires_at=invoice.expires_at,
        )

    async def cancel(self, sale_id: str) -> bool:
        """Delete the sale's unpaid invoice (the customer chose another way to pay). False when
        it turned out to be paid already: that payment is then recorded (``on_paid`` runs)."""
        label = sale_label(sale_id)
        try:
            await self.node.delete_unpaid(label)
        except InvoiceNotUnpaid as err:
            state = await self.node.list_invoice(label)
            if state is not None:
                await self._settle_state(state)
            if err.status == "paid":
                return False
        await store.close_unpaid(self.conn, label, "cancelled")
        return True

    async def catch_up(self) -> None:
        """Ask the node about every pending invoice; record what was paid or expired."""
        for inv in await store.pending(self.conn):
            state = await self.node.list_invoice(inv.label)
            if state is None:
                log.warning("lightning invoice missing on the node label=%s", inv.label)
                continue
            await self._settle_state(state)
        self.caught_up.set()

    async def _settle_state(self, state: InvoiceState) -> None:
        if state.status == "paid" and state.pay_index is not None:
            # Not advancing the cursor: lower pay_index values may still be unseen.
            await self._settle(
                state.label,
                state.pay_index,
                state.amount_received_msat or 0,
                state.paid_at or 0,
                advance=False,
            )
        elif state.status == "expired" and await store.close_unpaid(
            self.conn, state.label, "expired"
        ):
            log.info("lightning invoice expired label=%s", state.label)

    async def _settle(
        self, label: str, pay_index: int, received: int, paid_at: int, *, advance: bool
    ) -> None:
        taken = await store.record_payment(
            self.conn,
            label=label,
            pay_index=pay_index,
            amount_received_msat=received,
            paid_at=paid_at,
            advance=advance,
        )
        if not taken:
            return
        log.info("lightning payment label=%s pay_index=%d msat=%d", label, pay_index, received)
        row = await store.get(self.conn, label)
        assert row is not None
        try:
            await self.on_paid(row)
        except Exception:  # the payment is committed; a failing listener must not stop watching
            log.exception("lightning on_paid failed label=%s", label)

    async def _wait_once(self) -> PaidInvoice | None:
        cursor = await store.last_pay_index(self.conn)
        paid = await self.node.wait_any_invoice(cursor, self.wait_s)
        if paid is not None:
            await self._settle(
                paid.label,
                paid.pay_index,
                paid.amount_received_msat,
                paid.paid_at,
                advance=True,
            )
        return paid

    async def run(self) -> None:
        """Watch until cancelled; node and store errors are retried with backoff, never
        raised (a watcher that ended would silently stop the till taking Lightning)."""
        delay = self.retry_min_s
        while True:
            try:
                await self.catch_up()
                while True:
                    self._status(None)
                    delay = self.retry_min_s
                    if await self._wait_once() is None:
                        await self.catch_up()
            except LightningError as err:
                self._status(str(err))
                log.warning("lightning watcher: %s; retrying in %.0f s", err, delay)
            except Exception as err:  # a store error: keep watching, or no payment is ever taken
                self._status(f"cannot record Lightning payments: {err}")
                log.exception("lightning watcher failed; retrying in %.0f s", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.retry_max_s)

    def _status(self, error: str | None) -> None:
        if error != self.last_error:
            self.last_error = error
            if self.on_status is not None:
                self.on_status(error)
