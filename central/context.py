"""What every central handler needs, set up by the lifespan: the pool, the clock, the metrics,
the signing key, the key of the forms' CSRF tokens, the bearer token verifier (None when
central accepts no Supabase Auth tokens), readiness's limits, Stripe's webhook secret and the
release key update bundles are checked against."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.requests import Request

from central.metrics import Metrics
from central.settings import HealthLimits
from central.tokens import TokenVerifier


@dataclass
class Central:
    pool: asyncpg.Pool
    # Seconds since the epoch; injectable so tests can move central's clock.
    clock: Callable[[], float]
    metrics: Metrics
    # Signs the configuration documents devices apply (central/signing_key.py).
    signing_key: Ed25519PrivateKey
    # Makes each browser session's CSRF token (central/csrf.py).
    csrf_key: bytes
    tokens: TokenVerifier | None = None
    # What readiness checks beyond the database (central/health.py).
    health: HealthLimits = HealthLimits()
    # Verifies Stripe's webhook deliveries (central/stripe_webhooks.py); None refuses them.
    stripe_webhook_secret: str | None = None
    # Uploaded update bundles must verify with it (central/rollouts.py); None refuses them.
    update_key: Ed25519PublicKey | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def central(request: Request) -> Central:
    state: Central = request.app.state.central
    return state
