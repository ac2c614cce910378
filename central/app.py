"""The central ASGI application: device API, ops dashboard, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from central import (
    account_page,
    alert_pages,
    alerts,
    audit_pages,
    dashboard,
    device_lifecycle,
    device_page,
    enrollment_page,
    login,
    merchant_page,
    product_pages,
    remote_actions,
    rollout_pages,
    sales_ledger,
    sales_pages,
    shop_settings_page,
    staff_pages,
    user_pages,
)
from central.config_documents import config_document
from central.context import Central, central
from central.csrf import CsrfRefused, SameOriginMiddleware, bearer_token
from central.db import create_pool
from central.enroll import enroll
from central.errors import ApiError, api_error_handler
from central.export import device_journal
from central.health import healthz, readyz
from central.heartbeat import heartbeat
from central.housekeeping import prune_forever
from central.i18n import LanguageMiddleware
from central.ingest import push_journal
from central.metrics import CONTENT_TYPE, Metrics, RequestTimer
from central.notify import NotifySettings, notify_forever
from central.schema import apply_migrations
from central.security_headers import SecurityHeadersMiddleware
from central.sessions import SessionMiddleware
from central.settings import HealthLimits
from central.stripe_webhooks import stripe_webhook
from central.tokens import TokenRefused, TokenVerifier
from central.update_api import update_bundle, update_offer, update_report
from central.users import ensure_ops_user, keep_generated_password
from central.web_auth import csrf_refused, token_refused
from central.web_settings import METRICS_TOKEN_ENV, WebSettings

log = logging.getLogger(__name__)


def metrics_endpoint(token: str | None) -> Callable[[Request], Awaitable[Response]]:
    """``/metrics`` for a scraper that sends ``Authorization: Bearer <token>``; without a
    configured token, for nobody (the counts describe the whole fleet)."""

    async def metrics(request: Request) -> Response:
        sent = bearer_token(request)
        if token is None or sent is None or not hmac.compare_digest(sent, token):
            return PlainTextResponse(
                f"metrics need the bearer token set in {METRICS_TOKEN_ENV}\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        ctx = central(request)
        text = await ctx.metrics.render(ctx.pool, ctx.now())
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return metrics


def create_app(
    database_url: str,
    session_secret: str,
    *,
    ops_password: str | None = None,
    ops_password_file: Path | None = None,
    supabase_jwt_secret: str | None = None,
    supabase_jwks_url: str | None = None,
    clock: Callable[[], float] = time.time,
    prune_interval_s: float = 60.0,
    signing_key: Ed25519PrivateKey | None = None,
    web: WebSettings | None = None,
    health: HealthLimits | None = None,
    stripe_webhook_secret: str | None = None,
    notify: NotifySettings | None = None,
    update_key: Ed25519PublicKey | None = None,
) -> Starlette:
    """Build central. At start it connects, applies pending migrations and creates the first
    ops user (``ops_password``, else ``$BITAGORA_OPS_PASSWORD``, else a random one written to
    ``ops_password_file``, see ``keep_generated_password``). ``signing_key`` signs configuration
    documents (``central.signing_key``); without one, a key made now lasts until central stops,
    and devices enrolled meanwhile refuse documents after a restart (tests use this). With
    ``supabase_jwt_secret`` or ``supabase_jwks_url``, pages also accept Supabase Auth access
    tokens (``central.tokens``). ``web`` holds the public URL, the CORS allow-list and the
    metrics token (``central.web_settings``; none of them by default). ``health`` is what
    ``/readyz`` checks beyond the database.
    ``stripe_webhook_secret`` (the endpoint's ``whsec_…``) lets ``/v1/webhooks/stripe`` take
    in Stripe's events (``central.stripe_webhooks``). ``notify`` names the channels alerts are
    sent to (``central.notify``; none by default). ``update_key`` is the release-signing
    public key uploaded update bundles must verify with (``central.rollouts``; none: no upload).
    """
    web = web or WebSettings()
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
                csrf_key=hashlib.sha256(b"bitagora csrf " + session_secret.encode()).digest(),
                tokens=tokens,
                health=health or HealthLimits(),
                stripe_webhook_secret=stripe_webhook_secret,
                update_key=update_key,
            )
            app.state.central = ctx
            pruner = asyncio.create_task(
                prune_forever(ctx, prune_interval_s), name="central-pruner"
            )
            tasks = [
                pruner,
                asyncio.create_task(alerts.evaluate_forever(ctx), name="central-alert-evaluator"),
            ]
            if notify and notify.channels:
                tasks.append(
                    asyncio.create_task(notify_forever(ctx, notify), name="central-notifier")
                )
            try:
                yield
            finally:
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            await pool.close()

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint(web.metrics_token), methods=["GET"]),
        Route("/api/v1/enroll", enroll, methods=["POST"]),
        Route("/api/v1/journal", push_journal, methods=["POST"]),
        Route("/api/v1/heartbeat", heartbeat, methods=["POST"]),
        Route("/api/v1/config", config_document, methods=["GET"]),
        Route("/api/v1/actions", remote_actions.pending, methods=["GET"]),
        Route("/api/v1/actions/{action_id}/result", remote_actions.post_result, methods=["POST"]),
        Route("/api/v1/update", update_offer, methods=["GET"]),
        Route("/api/v1/update/bundle", update_bundle, methods=["GET"]),
        Route("/api/v1/update/report", update_report, methods=["POST"]),
        Route("/v1/webhooks/stripe", stripe_webhook, methods=["POST"]),
        Route("/", dashboard.index, methods=["GET"]),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/account", account_page.account_page, methods=["GET"]),
        Route("/account", account_page.save_account_form, methods=["POST"]),
        Route("/alerts", alert_pages.alerts_page, methods=["GET"]),
        Route("/alerts/acknowledge", alert_pages.acknowledge_form, methods=["POST"]),
        Route("/alerts/thresholds", alert_pages.thresholds_page, methods=["GET"]),
        Route("/alerts/thresholds", alert_pages.set_threshold_form, methods=["POST"]),
        Route("/audit", audit_pages.audit_page, methods=["GET"]),
        Route("/payouts", dashboard.payouts_page, methods=["GET"]),
        Route("/stripe", dashboard.stripe_page, methods=["GET"]),
        Route("/devices/{device_id}", device_page.device_page, methods=["GET"]),
        Route("/devices/{device_id}/resolve-fork", device_lifecycle.resolve_fork, methods=["POST"]),
        Route("/devices/{device_id}/label", device_lifecycle.set_label, methods=["POST"]),
        Route("/devices/{device_id}/move", device_lifecycle.move, methods=["POST"]),
        Route("/devices/{device_id}/revoke", device_lifecycle.revoke, methods=["POST"]),
        Route("/devices/{device_id}/decommission", device_lifecycle.decommission, methods=["POST"]),
        Route("/devices/{device_id}/actions", remote_actions.request_action, methods=["POST"]),
        Route("/enrollment-codes", enrollment_page.codes_page, methods=["GET"]),
        Route("/enrollment-codes", enrollment_page.make_code, methods=["POST"]),
        Route("/rollouts", rollout_pages.rollouts_page, methods=["GET"]),
        Route("/rollouts", rollout_pages.create_form, methods=["POST"]),
        Route("/rollouts/bundles", rollout_pages.upload_form, methods=["POST"]),
        Route("/rollouts/{rollout_id:int}", rollout_pages.rollout_page, methods=["GET"]),
        Route("/rollouts/{rollout_id:int}/state", rollout_pages.state_form, methods=["POST"]),
        Route("/users", user_pages.users_page, methods=["GET"]),
        Route("/users", user_pages.add_user_form, methods=["POST"]),
        Route("/users/deactivate", user_pages.deactivate_form, methods=["POST"]),
        Route("/users/reset-password", user_pages.reset_password_form, methods=["POST"]),
        Route("/merchant", merchant_page.merchant_page, methods=["GET"]),
        Route("/merchant/products", product_pages.products_page, methods=["GET"]),
        Route("/merchant/products.csv", product_pages.export_file, methods=["GET"]),
        Route("/merchant/products/import", product_pages.import_form, methods=["POST"]),
        Route("/merchant/product", product_pages.product_page, methods=["GET"]),
        Route("/merchant/product", product_pages.save_product_form, methods=["POST"]),
        Route("/merchant/product/deactivate", product_pages.deactivate_form, methods=["POST"]),
        Route("/merchant/staff", staff_pages.staff_page, methods=["GET"]),
        Route("/merchant/staff", staff_pages.save_staff_form, methods=["POST"]),
        Route("/merchant/staff/deactivate", staff_pages.deactivate_staff_form, methods=["POST"]),
        Route("/merchant/settings", shop_settings_page.settings_page, methods=["GET"]),
        Route("/merchant/settings", shop_settings_page.save_settings_form, methods=["POST"]),
        Route("/merchant/sales", sales_pages.sales_page, methods=["GET"]),
        Route("/merchant/sales/{report}.csv", sales_pages.report_csv, methods=["GET"]),
        Route("/devices/{device_id}/journal.jsonl", device_journal, methods=["GET"]),
        Mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static"),
    ]
    # Outermost first: every answer is timed and gets the security headers, refusals included.
    middleware = [
        Middleware(RequestTimer),
        Middleware(LanguageMiddleware),
        Middleware(SecurityHeadersMiddleware, https=web.https),
        Middleware(SameOriginMiddleware, public_url=web.public_url, allowed=web.cors_origins),
        Middleware(SessionMiddleware, secure=web.https),
    ]
    if web.cors_origins:  # without an allow-list no answer carries CORS headers: browsers refuse
        middleware.insert(
            3,
            Middleware(
                CORSMiddleware,
                allow_origins=web.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
            ),
        )
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
