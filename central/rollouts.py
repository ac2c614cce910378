"""Staged updates: signed bundles, rollouts in cohorts, and what devices report (migration 0016;
docs/OPERATIONS.md "Rollouts").

A rollout is made for the devices that are neither revoked nor decommissioned when it is created
(the fleet's, or one merchant's). Each device's cohort comes from its rank in the order of
``md5(rollout id ‖ device id)``: deterministic, different for each rollout (so the same devices
are not always first), and exact in size (67 % of 3 devices is 2 of them). Cohorts are cumulative
percentages; devices of cohorts up to the rollout's ``cohort`` are offered the bundle.

After each report ``progress`` moves the rollout on, under its row lock (reports of many devices
at once take turns): more than ``error_pct`` of the devices offered failed or rolled back → the
rollout stops by itself; at least ``success_pct`` of the devices of the cohorts offered run the
bundle's version → the next cohort is offered (after the last, the rollout is completed).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bitagora_protocol.update_bundle import BundleError, verify

MAX_BUNDLE_BYTES = 256 * 2**20
SLICE_BYTES = 2**20
OUTCOMES = ("installed", "rolled_back", "failed")
ACTIVE = ("running", "paused")
# Which state an ops action leads to, from which states.
ACTIONS = {
    "pause": ("paused", ("running",)),
    "resume": ("running", ("paused",)),
    "stop": ("stopped", ("running", "paused")),
}


class RolloutError(ValueError):
    """An upload or a rollout that cannot be made as asked; the message says why, for ops."""


@dataclass(frozen=True)
class Offer:
    rollout_id: int
    version: str
    sha256: str
    size_bytes: int
    window: tuple[time, time] | None
    after_z: bool

    @property
    def etag(self) -> str:
        return f'"r{self.rollout_id}-{self.sha256[:16]}"'

    def to_dict(self) -> dict[str, Any]:
        window = None
        if self.window is not None:
            window = {
                "start": self.window[0].strftime("%H:%M"),
                "end": self.window[1].strftime("%H:%M"),
            }
        return {
            "rollout": self.rollout_id,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size_bytes,
            "window": window,
            "after_z": self.after_z,
        }


@dataclass(frozen=True)
class Report:
    """What a device says became of an update: ``version`` is the release it runs now,
    ``failed`` the one that failed or was rolled back."""

    outcome: str
    version: str
    failed: str | None
    reason: str
    at: str

    @property
    def target(self) -> str:
        """The release the report is about."""
        return self.version if self.outcome == "installed" else (self.failed or self.version)


async def store_bundle(
    conn: asyncpg.Connection, data: bytes, key: Ed25519PublicKey | None, by: str, now: datetime
) -> tuple[int, str]:
    """Check an uploaded bundle against the release key and keep it; (id, version)."""
    if key is None:
        raise RolloutError(
            "central has no release key configured (BITAGORA_CENTRAL_UPDATE_KEY): no bundle can "
            "be checked, so none is accepted"
        )
    if len(data) > MAX_BUNDLE_BYTES:
        raise RolloutError(f"the bundle is over {MAX_BUNDLE_BYTES // 2**20} MB")
    try:
        manifest = await asyncio.to_thread(verify, io.BytesIO(data), key)
    except BundleError as err:
        raise RolloutError(f"bundle refused: {err}") from None
    bundle_id = await conn.fetchval(
        "INSERT INTO update_bundles (version, package, sha256, size_bytes, body, uploaded_by,"
        " uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (version) DO NOTHING RETURNING id",
        manifest.version,
        manifest.package,
        hashlib.sha256(data).hexdigest(),
        len(data),
        data,
        by,
        now,
    )
    if bundle_id is None:
        raise RolloutError(f"a bundle of version {manifest.version} was uploaded already")
    return int(bundle_id), manifest.version


def parse_cohorts(text: str) -> list[int]:
    """``"5, 25, 100"`` → [5, 25, 100]: ascending percentages that end at 100."""
    try:
        cohorts = [int(part) for part in text.replace("→", ",").split(",") if part.strip()]
    except ValueError:
        raise RolloutError(
            "cohorts: whole percentages separated by commas, e.g. 5, 25, 100"
        ) from None
    if (
        not 1 <= len(cohorts) <= 10
        or cohorts[-1] != 100
        or cohorts[0] < 1
        or any(a >= b for a, b in zip(cohorts, cohorts[1:], strict=False))
    ):
        raise RolloutError("cohorts: 1 to 10 rising percentages, the last 100, e.g. 5, 25, 100")
    return cohorts


# Rank each eligible device by the rollout's hash; cohort i holds ranks up to cohorts[i] % of
# them (rounded, at least one device).
_ASSIGN = """
INSERT INTO rollout_devices (rollout_id, device_id, merchant_id, cohort)
SELECT $1::bigint, ranked.device_id, ranked.merchant_id,
    (SELECT min(i) - 1 FROM generate_subscripts($2::smallint[], 1) AS i
        WHERE ranked.rank <= greatest(1, round($2[i] * ranked.total / 100.0)))
FROM (
    SELECT device_id, merchant_id,
        row_number() OVER (ORDER BY md5($1::bigint::text || ':' || device_id), device_id) AS rank,
        count(*) OVER () AS total
    FROM devices
    WHERE revoked_at IS NULL AND decommissioned_at IS NULL
        AND ($3::bigint IS NULL OR merchant_id = $3)
) AS ranked
"""


async def create(
    conn: asyncpg.Connection,
    *,
    bundle_id: int,
    merchant_id: int | None,
    cohorts: list[int],
    success_pct: int,
    error_pct: int,
    window: tuple[time, time] | None,
    after_z: bool,
    by: str,
    now: datetime,
) -> tuple[int, int]:
    """Start a rollout and place its devices in cohorts; (rollout id, devices)."""
    if not 1 <= success_pct <= 100 or not 0 <= error_pct <= 100:
        raise RolloutError("thresholds: success 1 to 100 %, errors 0 to 100 %")
    try:
        async with conn.transaction():
            rollout_id = await conn.fetchval(
                "INSERT INTO rollouts (bundle_id, merchant_id, cohorts, success_pct, error_pct,"
                " window_start, window_end, after_z, state, created_by, created_at, changed_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9, $10, $10) RETURNING id",
                bundle_id,
                merchant_id,
                cohorts,
                success_pct,
                error_pct,
                window[0] if window else None,
                window[1] if window else None,
                after_z,
                by,
                now,
            )
            status = await conn.execute(_ASSIGN, rollout_id, cohorts, merchant_id)
    except asyncpg.UniqueViolationError:
        raise RolloutError("another rollout is running or paused: stop it first") from None
    except asyncpg.ForeignKeyViolationError:
        raise RolloutError("no such bundle or merchant") from None
    return int(rollout_id), int(status.split()[-1])


async def change_state(
    conn: asyncpg.Connection, rollout_id: int, action: str, reason: str, now: datetime
) -> str:
    """Pause, resume or stop a rollout by ops; the new state, or RolloutError."""
    if action not in ACTIONS:
        raise RolloutError(f"no such action: {action}")
    state, from_states = ACTIONS[action]
    changed = await conn.fetchval(
        "UPDATE rollouts SET state = $2, state_reason = $3, changed_at = $4"
        " WHERE id = $1 AND state = ANY($5::text[]) RETURNING id",
        rollout_id,
        state,
        reason,
        now,
        list(from_states),
    )
    if changed is None:
        raise RolloutError(f"the rollout cannot {action} from its present state")
    if state == "running":  # reports that came while it was paused count now
        return await progress(conn, rollout_id, now)
    return state


# The device's place in a rollout that offers it the bundle now: running (or completed, for
# devices that were offline meanwhile), its cohort reached, no outcome yet.
_OFFER = """
SELECT r.id, b.version, b.sha256, b.size_bytes, r.window_start, r.window_end, r.after_z,
    d.version AS running
FROM rollout_devices rd
JOIN devices d ON d.device_id = rd.device_id
JOIN rollouts r ON r.id = rd.rollout_id
JOIN update_bundles b ON b.id = r.bundle_id
WHERE rd.device_id = $1 AND rd.outcome IS NULL AND rd.cohort <= r.cohort
    AND r.state IN ('running', 'completed')
ORDER BY r.id DESC LIMIT 1
"""


async def offer(conn: asyncpg.Connection, device_id: str, now: datetime) -> Offer | None:
    """The bundle offered to ``device_id`` now (recording when it was first offered), or None.
    A device whose heartbeat names the bundle's release already (installed from a USB stick,
    say) is counted installed instead."""
    row = await conn.fetchrow(_OFFER, device_id)
    if row is None:
        return None
    if row["running"] == row["version"]:
        async with conn.transaction():
            await conn.execute(
                "UPDATE rollout_devices SET outcome = 'installed', version = $3,"
                " reason = 'running it already', reported_at = $4"
                " WHERE rollout_id = $1 AND device_id = $2 AND outcome IS NULL",
                row["id"],
                device_id,
                row["version"],
                now,
            )
            await progress(conn, row["id"], now)
        return None
    await conn.execute(
        "UPDATE rollout_devices SET offered_at = $3 WHERE rollout_id = $1 AND device_id = $2"
        " AND offered_at IS NULL",
        row["id"],
        device_id,
        now,
    )
    window = None
    if row["window_start"] is not None:
        window = (row["window_start"], row["window_end"])
    return Offer(
        row["id"], row["version"], row["sha256"], row["size_bytes"], window, row["after_z"]
    )


async def bundle_slices(pool: asyncpg.Pool, offer: Offer) -> AsyncIterator[bytes]:
    """The offered bundle's bytes, ``SLICE_BYTES`` at a time: hundreds of devices of a cohort
    download at once, and none of them holds a whole bundle in central's memory."""
    for start in range(0, offer.size_bytes, SLICE_BYTES):
        piece: bytes = await pool.fetchval(
            "SELECT substring(b.body FROM $2 FOR $3) FROM rollouts r"
            " JOIN update_bundles b ON b.id = r.bundle_id WHERE r.id = $1",
            offer.rollout_id,
            start + 1,
            SLICE_BYTES,
        )
        yield piece


async def record_report(
    conn: asyncpg.Connection, device_id: str, report: Report, now: datetime
) -> int | None:
    """Keep a device's report (once: a device may send it again) and apply it to the rollout
    that offered that release, if one did; the rollout's id, or None."""
    async with conn.transaction():
        # The last rollout of that release that names this device.
        rollout_id: int | None = await conn.fetchval(
            "SELECT rd.rollout_id FROM rollout_devices rd"
            " JOIN rollouts r ON r.id = rd.rollout_id"
            " JOIN update_bundles b ON b.id = r.bundle_id"
            " WHERE rd.device_id = $1 AND b.version = $2 ORDER BY rd.rollout_id DESC LIMIT 1",
            device_id,
            report.target,
        )
        fresh = await conn.fetchval(
            "INSERT INTO update_reports (device_id, merchant_id, rollout_id, outcome, version,"
            " failed, reason, at, received_at)"
            " SELECT $1, merchant_id, $2, $3, $4, $5, $6, $7, $8 FROM devices WHERE device_id = $1"
            " ON CONFLICT DO NOTHING RETURNING true",
            device_id,
            rollout_id,
            report.outcome,
            report.version,
            report.failed,
            report.reason,
            report.at,
            now,
        )
        if not fresh:
            return rollout_id
        problem = None
        if report.outcome != "installed":
            verb = "rolled back" if report.outcome == "rolled_back" else "failed"
            problem = f"update to {report.target} {verb}: {report.reason}"[:500]
        await conn.execute(
            "UPDATE devices SET update_problem = $2 WHERE device_id = $1", device_id, problem
        )
        if rollout_id is None:
            return None
        await conn.execute(
            "UPDATE rollout_devices SET outcome = $3, version = $4, reason = $5, reported_at = $6"
            " WHERE rollout_id = $1 AND device_id = $2",
            rollout_id,
            device_id,
            report.outcome,
            report.version,
            report.reason[:500],
            now,
        )
        await progress(conn, rollout_id, now)
    return rollout_id


async def progress(conn: asyncpg.Connection, rollout_id: int, now: datetime) -> str:
    """Stop, advance or complete a running rollout from its devices' outcomes; its state."""
    rollout = await conn.fetchrow(
        "SELECT state, cohort, cohorts, success_pct, error_pct FROM rollouts WHERE id = $1"
        " FOR UPDATE",
        rollout_id,
    )
    if rollout["state"] != "running":
        return str(rollout["state"])
    counts = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE offered_at IS NOT NULL OR outcome IS NOT NULL) AS offered,"
        " count(*) FILTER (WHERE outcome IN ('rolled_back', 'failed')) AS bad,"
        " count(*) FILTER (WHERE cohort <= $2) AS due,"
        " count(*) FILTER (WHERE cohort <= $2 AND outcome = 'installed') AS good"
        " FROM rollout_devices WHERE rollout_id = $1",
        rollout_id,
        rollout["cohort"],
    )
    offered, bad = counts["offered"], counts["bad"]
    if bad and bad * 100 > rollout["error_pct"] * offered:
        reason = (
            f"stopped by itself: {bad} of {offered} devices offered the update failed or rolled"
            f" back (more than {rollout['error_pct']} %)"
        )
        await _set(conn, rollout_id, "stopped", reason, now)
        return "stopped"
    if counts["good"] * 100 < rollout["success_pct"] * counts["due"]:
        return "running"
    if rollout["cohort"] + 1 >= len(rollout["cohorts"]):
        reason = f"{counts['good']} of {counts['due']} devices run the update"
        await _set(conn, rollout_id, "completed", reason, now)
        return "completed"
    await conn.execute(
        "UPDATE rollouts SET cohort = cohort + 1, changed_at = $2 WHERE id = $1", rollout_id, now
    )
    # An empty next cohort (or one already done) moves on at once.
    return await progress(conn, rollout_id, now)


async def _set(
    conn: asyncpg.Connection, rollout_id: int, state: str, reason: str, now: datetime
) -> None:
    await conn.execute(
        "UPDATE rollouts SET state = $2, state_reason = $3, changed_at = $4 WHERE id = $1",
        rollout_id,
        state,
        reason,
        now,
    )


async def listed(conn: asyncpg.Connection, rollout_id: int | None = None) -> list[dict[str, Any]]:
    """The newest rollouts (or the one named) with their bundles and counts."""
    rows = await conn.fetch(
        "SELECT r.id, b.version, m.name AS merchant, r.cohorts, r.cohort, r.success_pct,"
        " r.error_pct, r.window_start, r.window_end, r.after_z, r.state, r.state_reason,"
        " r.created_by, r.created_at,"
        " (SELECT count(*) FROM rollout_devices rd WHERE rd.rollout_id = r.id) AS devices,"
        " (SELECT count(*) FROM rollout_devices rd WHERE rd.rollout_id = r.id"
        "   AND rd.offered_at IS NOT NULL) AS offered,"
        " (SELECT count(*) FROM rollout_devices rd WHERE rd.rollout_id = r.id"
        "   AND rd.outcome = 'installed') AS installed,"
        " (SELECT count(*) FROM rollout_devices rd WHERE rd.rollout_id = r.id"
        "   AND rd.outcome IN ('rolled_back', 'failed')) AS failed"
        " FROM rollouts r JOIN update_bundles b ON b.id = r.bundle_id"
        " LEFT JOIN merchants m ON m.id = r.merchant_id"
        " WHERE $1::bigint IS NULL OR r.id = $1 ORDER BY r.id DESC LIMIT 100",
        rollout_id,
    )
    return [dict(r) for r in rows]


async def devices_of(conn: asyncpg.Connection, rollout_id: int) -> list[dict[str, Any]]:
    """Each device of a rollout: its cohort, whether it was offered, what it reported, and the
    version its last heartbeat named (a USB install shows there too)."""
    rows = await conn.fetch(
        "SELECT rd.device_id, d.label, rd.cohort, rd.offered_at, rd.outcome, rd.version AS"
        " reported_version, rd.reason, rd.reported_at, d.version AS running_version"
        " FROM rollout_devices rd JOIN devices d ON d.device_id = rd.device_id"
        " WHERE rd.rollout_id = $1 ORDER BY rd.cohort, rd.device_id",
        rollout_id,
    )
    return [dict(r) for r in rows]
