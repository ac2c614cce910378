"""Central's periodic pruning, so that no table fed by devices or ops grows without bound.

Every central process runs it (``--workers`` and instances alike): each round is a plain
``DELETE … WHERE <expired>``, so two processes pruning at once only find less to delete.
- ``request_nonces``: a nonce is kept until its signature leaves the time window (device_auth).
- ``enrollment_codes``: a code, used or not, is deleted ``CODE_KEPT_AFTER_EXPIRY`` after it
  expires (the device it enrolled keeps its own row; an expired code can no longer be used).
- ``remote_actions``: not pruned (each is a line of the device's history), but one not
  delivered or answered in time is expired (central/remote_actions.py).
Login attempts are forgotten by the throttle itself; quarantined batches are capped per device
(central/quarantine.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import asyncpg

from central.context import Central
from central.device_auth import prune_nonces
from central.remote_actions import expire_overdue

log = logging.getLogger(__name__)

CODE_KEPT_AFTER_EXPIRY = timedelta(days=7)  # long enough to tell a technician why a code failed


async def prune_enrollment_codes(pool: asyncpg.Pool, now: datetime) -> int:
    """Delete codes that expired more than ``CODE_KEPT_AFTER_EXPIRY`` ago; return how many."""
    status = await pool.execute(
        "DELETE FROM enrollment_codes WHERE expires_at < $1", now - CODE_KEPT_AFTER_EXPIRY
    )
    return int(status.split()[-1])


async def prune_forever(ctx: Central, interval_s: float) -> None:
    """The lifespan's pruning task; it runs until cancelled."""
    while True:
        for name, prune in (
            ("nonces", prune_nonces),
            ("enrollment codes", prune_enrollment_codes),
            ("remote actions", expire_overdue),
        ):
            try:
                removed = await prune(ctx.pool, ctx.now())
                if removed:
                    log.debug("pruned %d %s", removed, name)
            except Exception as err:  # a failed round is retried at the next interval
                log.warning("pruning %s failed: %s", name, err)
        await asyncio.sleep(interval_s)
