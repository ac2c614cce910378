"""Whether a sale is under way at the till (an open cart, which a payment in progress always
has), written to the store at each change between idle and busy: the update installer, another
process, installs a staged update only on an idle till (docs/TECHNICIAN.md, "Updates from
central")."""

from __future__ import annotations

import aiosqlite

from appliance.store import outbox


class TillActivity:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._busy: bool | None = None  # not yet written by this kiosk

    async def set_busy(self, busy: bool) -> None:
        """The till is busy (a cart is open) or idle; written only when it changes."""
        if busy == self._busy:
            return
        self._busy = busy
        await outbox.set_state(
            self._conn, outbox.TILL_STATE, outbox.TILL_BUSY if busy else outbox.TILL_IDLE
        )
