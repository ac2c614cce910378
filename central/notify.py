"""Alert notifications: a webhook and e-mail, fed from the ``alert_notifications`` outbox.

Every state change of an alert (raised, acknowledged, resolved) is one outbox row, made by a
trigger (migration 0013), so each is notified once per channel whatever made it. A background
task (``notify_forever``) claims due rows per channel, sends them and records the outcome in
``alert_deliveries``: failures are retried with exponential backoff up to ``MAX_ATTEMPTS`` and
keep their last error; a channel sends at most ``rate_per_hour`` notifications in any hour (the
rest wait their turn). Heartbeats and ingest only write rows; they never wait on a channel.

Settings (environment, docs/OPERATIONS.md "Device status and alerts"):
``BITAGORA_ALERT_WEBHOOK_URL``; ``BITAGORA_ALERT_SMTP_HOST``, ``…_SMTP_PORT`` (25),
``…_SMTP_STARTTLS`` (``1`` to upgrade), ``…_SMTP_USER``, ``…_SMTP_PASSWORD``,
``BITAGORA_ALERT_MAIL_FROM``, ``BITAGORA_ALERT_MAIL_TO`` (comma-separated);
``BITAGORA_ALERT_RATE_PER_HOUR`` (30).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol

import asyncpg
import httpx

if TYPE_CHECKING:  # central.context needs central.settings, which needs this module
    from central.context import Central

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # a claimed delivery another process leaves alone meanwhile
SEND_EVERY_S = 5.0
TIMEOUT_S = 10.0
RATE_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Notice:
    event: str
    alert_id: int
    kind: str
    device_id: str
    merchant: str
    detail: str
    at: datetime

    @property
    def text(self) -> str:
        return (
            f"[BitAgora] alert {self.event}: {self.kind} on {self.device_id} ({self.merchant}):"
            f" {self.detail}"
        )


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, notice: Notice) -> None: ...


@dataclass(frozen=True)
class Webhook:
    """A JSON POST with a ``text`` field, which Slack's and Teams' incoming webhooks (and
    Mattermost, Rocket.Chat, …) show as the message; ``alert`` carries the fields."""

    url: str
    name: str = "webhook"

    async def send(self, notice: Notice) -> None:
        payload = {
            "text": notice.text,
            "alert": {
                "id": notice.alert_id,
                "event": notice.event,
                "kind": notice.kind,
                "device_id": notice.device_id,
                "merchant": notice.merchant,
                "detail": notice.detail,
                "at": notice.at.isoformat(),
            },
        }
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            response = await client.post(self.url, json=payload)
        response.raise_for_status()


@dataclass(frozen=True)
class Email:
    """A plain-text mail through an SMTP server (``smtplib``, off the event loop)."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    name: str = "email"

    async def send(self, notice: Notice) -> None:
        message = EmailMessage()
        message["Subject"] = notice.text[:200]
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(f"{notice.text}\n\nAt {notice.at:%Y-%m-%d %H:%M:%S} UTC.\n")
        await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=TIMEOUT_S) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
            smtp.send_message(message)


@dataclass(frozen=True)
class NotifySettings:
    channels: tuple[Channel, ...] = ()
    rate_per_hour: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NotifySettings:
        """The settings; ``ValueError`` naming the variable for a bad value."""
        channels: list[Channel] = []
        if url := env.get("BITAGORA_ALERT_WEBHOOK_URL", "").strip():
            if not url.startswith(("https://", "http://")):
                raise ValueError("BITAGORA_ALERT_WEBHOOK_URL: not an http(s) URL")
            channels.append(Webhook(url))
        if host := env.get("BITAGORA_ALERT_SMTP_HOST", "").strip():
            recipients = tuple(
                r.strip() for r in env.get("BITAGORA_ALERT_MAIL_TO", "").split(",") if r.strip()
            )
            sender = env.get("BITAGORA_ALERT_MAIL_FROM", "").strip()
            if not recipients or not sender:
                raise ValueError(
                    "BITAGORA_ALERT_SMTP_HOST: needs BITAGORA_ALERT_MAIL_FROM and _MAIL_TO"
                )
            channels.append(
                Email(
                    host,
                    _positive(env, "BITAGORA_ALERT_SMTP_PORT", 25),
                    sender,
                    recipients,
                    starttls=env.get("BITAGORA_ALERT_SMTP_STARTTLS") == "1",
                    user=env.get("BITAGORA_ALERT_SMTP_USER") or None,
                    password=env.get("BITAGORA_ALERT_SMTP_PASSWORD") or None,
                )
            )
        return cls(tuple(channels), _positive(env, "BITAGORA_ALERT_RATE_PER_HOUR", 30))


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name}: must be a positive integer")
    return int(text)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** (attempts - 1), 3600))


async def _claim(
    conn: asyncpg.Connection, channel: str, now: datetime, budget: int
) -> list[asyncpg.Record]:
    """Due notifications of ``channel`` (oldest first, at most ``budget``), each claimed for
    ``LEASE`` so that another central process does not send it too."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "WITH due AS (SELECT n.id FROM alert_notifications n"
        "  LEFT JOIN alert_deliveries d ON d.notification_id = n.id AND d.channel = $1"
        "  WHERE d.notification_id IS NULL OR (d.delivered_at IS NULL"
        "   AND d.next_attempt_at <= $2 AND d.attempts < $4)"
        "  ORDER BY n.id LIMIT $3),"
        " claimed AS (INSERT INTO alert_deliveries"
        "  (notification_id, channel, attempts, next_attempt_at)"
        "  SELECT id, $1, 1, $2::timestamptz + $5::interval FROM due"
        "  ON CONFLICT (notification_id, channel) DO UPDATE"
        "  SET attempts = alert_deliveries.attempts + 1, next_attempt_at = EXCLUDED.next_attempt_at"
        "  WHERE alert_deliveries.delivered_at IS NULL AND alert_deliveries.next_attempt_at <= $2"
        "  RETURNING notification_id, attempts)"
        " SELECT c.notification_id, c.attempts, n.event, n.at, a.id AS alert_id, a.kind,"
        " a.device_id, a.detail, m.name AS merchant"
        " FROM claimed c JOIN alert_notifications n ON n.id = c.notification_id"
        " JOIN alerts a ON a.id = n.alert_id JOIN merchants m ON m.id = a.merchant_id"
        " ORDER BY c.notification_id",
        channel,
        now,
        budget,
        MAX_ATTEMPTS,
        LEASE,
    )
    return rows


async def deliver(
    pool: asyncpg.Pool, channels: Sequence[Channel], rate_per_hour: int, now: datetime
) -> int:
    """One pass: send what is due on every channel within its rate; returns how many were
    delivered."""
    delivered = 0
    for channel in channels:
        async with pool.acquire() as conn:
            recent = await conn.fetchval(
                "SELECT count(*) FROM alert_deliveries WHERE channel = $1 AND delivered_at > $2",
                channel.name,
                now - RATE_WINDOW,
            )
            budget = rate_per_hour - recent
            rows = await _claim(conn, channel.name, now, budget) if budget > 0 else []
        for row in rows:
            notice = Notice(
                row["event"],
                row["alert_id"],
                row["kind"],
                row["device_id"],
                row["merchant"],
                row["detail"],
                row["at"],
            )
            try:
                await channel.send(notice)
            except (httpx.HTTPError, OSError, smtplib.SMTPException) as err:
                error: str | None = f"{type(err).__name__}: {err}"[:500]
                log.warning(
                    "alert notification %s by %s failed: %s", notice.text, channel.name, err
                )
            else:
                error = None
                delivered += 1
            await pool.execute(
                "UPDATE alert_deliveries SET delivered_at = $3, last_error = $4,"
                " next_attempt_at = $5 WHERE notification_id = $1 AND channel = $2",
                row["notification_id"],
                channel.name,
                now if error is None else None,
                error,
                now + _backoff(row["attempts"]),
            )
    return delivered


async def notify_forever(ctx: Central, settings: NotifySettings) -> None:
    """The lifespan's notifier task; it runs until cancelled."""
    while True:
        try:
            await deliver(ctx.pool, settings.channels, settings.rate_per_hour, ctx.now())
        except (asyncpg.PostgresError, OSError) as err:  # retried at the next round
            log.warning("alert notifications failed: %s", err)
        await asyncio.sleep(SEND_EVERY_S)
