"""The central ASGI application: device API, ops dashboard, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from central import dashboard, login, merchant_page, sales_ledger, user_pages
from central.config_documents import config_document
from central.context import Central, central
from central.csrf import CsrfRefused
from central.db import apply_migrations, create_pool
from central.device_auth import prune_nonces_forever
from central.enroll import enroll
from central.errors import ApiError, api_error_handler
from central.export import device_journal
from central.heartbeat import heartbeat
from central.ingest import push_journal
from central.metrics import CONTENT_TYPE, Metrics
from central.stripe_webhooks import stripe_webhook
from central.tokens import TokenRefused, TokenVerifier
from central.users import ensure_ops_user, keep_generated_password
from central.web_auth import csrf_refused, token_refused

log = logging.getLogger(__name__)

SESSION_COOKIE = "bitagora_ops"
SESSION_MAX_AGE_S = 12 * 3600


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def metrics(request: Request) -> Response:
    ctx = central(request)
    return PlainTextResponse(await ctx.metrics.render(ctx.pool, ctx.now()), media_type=CONTENT_TYPE)


def create_app(
    database_url: str,
    session_secret: str,
    *,
    ops_password: str | None = None,
    ops_password_file: Path | None = None,
    supabase_jwt_secret: str | None = None,
    supabase_jwks_url: str | None = None,
    clock: Callable[[], float] = time.time,
    nonce_prune_interval_s: float = 60.0,
    signing_key: Ed25519PrivateKey | None = None,
    stripe_webhook_secret: str | None = None,
) -> Starlette:
    """Build central. At start it connects, applies pending migrations and creates the first
    ops user (``ops_password``, else ``$BITAGORA_OPS_PASSWORD``, else a random one written to
    ``ops_password_file``, see ``keep_generated_password``). ``signing_key`` signs configuration
    documents (``central.signing_key``); without one, a key made now lasts until central stops,
    and devices enrolled meanwhile refuse documents after a restart (tests use this). With
    ``supabase_jwt_secret`` or ``supabase_jwks_url``, pages also accept Supabase Auth access
    tokens (``central.tokens``). ``stripe_webhook_secret`` (the endpoint's ``whsec_…``) lets
    ``/v1/webhooks/stripe`` take in Stripe's events (``central.stripe_webhooks``).
    """
    key = signing_key or Ed25519PrivateKey.generate()
    tokens = None
    if supabase_jwt_secret or supabase_jwks_url:
        tokens = TokenVerifier(supabase_jwt_secret or None, supabase_jwks_url or None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool = await create_pool(database_url)
        try:
            async with pool.acquire() as conn:
                applied = await apply_migrations(conn)
            if applied:
                log.info("applied migrations: %s", ", ".join(applied))
            await sales_ledger.catch_up(pool)
            generated = await ensure_ops_user(pool, ops_password)
            if generated is not None:
                keep_generated_password(generated, ops_password_file)
            ctx = Central(
                pool=pool,
                clock=clock,
                metrics=Metrics(),
                signing_key=key,
                tokens=tokens,
                stripe_webhook_secret=stripe_webhook_secret,
            )
            app.state.central = ctx
            pruner = asyncio.create_task(
                prune_nonces_forever(ctx, nonce_prune_interval_s), name="central-nonce-pruner"
            )
            try:
                yield
            finally:
                pruner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruner
        finally:
            await pool.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/v1/enroll", enroll, methods=["POST"]),
        Route("/api/v1/journal", push_journal, methods=["POST"]),
        Route("/api/v1/heartbeat", heartbeat, methods=["POST"]),
        Route("/api/v1/config", config_document, methods=["GET"]),
        Route("/v1/webhooks/stripe", stripe_webhook, methods=["POST"]),
        Route("/", dashboard.index, methods=["GET"]),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/payouts", dashboard.payouts_page, methods=["GET"]),
        Route("/stripe", dashboard.stripe_page, methods=["GET"]),
        Route("/users", user_pages.users_page, methods=["GET"]),
        Route("/users", user_pages.add_user_form, methods=["POST"]),
        Route("/users/deactivate", user_pages.deactivate_form, methods=["POST"]),
        Route("/users/reset-password", user_pages.reset_password_form, methods=["POST"]),
        Route("/merchant", merchant_page.merchant_page, methods=["GET"]),
        Route("/devices/{device_id}/journal.jsonl", device_journal, methods=["GET"]),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=session_secret,
            session_cookie=SESSION_COOKIE,
            max_age=SESSION_MAX_AGE_S,
            same_site="lax",
        )
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={
            ApiError: api_error_handler,
            CsrfRefused: csrf_refused,
            TokenRefused: token_refused,
        },
    )
