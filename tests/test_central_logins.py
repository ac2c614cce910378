"""Central's logins over real HTTP: merchant users and ops users with central's own login, a
deactivated user, a password reset ending sessions, CSRF refusals, merchant users kept off ops
pages, Supabase Auth bearer tokens (HS256 with the project's secret, ES256 with its published
keys), and the ops Users page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from central_helpers import csrf_of, log_in, post_form, supabase_token
from cryptography.hazmat.primitives.asymmetric import ec
from http_helpers import serve
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from central.app import create_app
from central.users import add_user, reset_password

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

pytestmark = pytest.mark.timeout(60)

SHOP_A = "Café <A> & Co"
OPS_PAGES = ("/users", "/payouts", "/alerts/thresholds", "/devices/{device}/journal.jsonl")


@pytest.fixture
async def http(central_server: CentralTestServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        yield client


@pytest.fixture
async def devices(
    central_server: CentralTestServer,
    http: httpx.AsyncClient,
    make_device: Callable[[], SimDevice],
) -> dict[str, SimDevice]:
    """One till of SHOP_A (a sale, and a heartbeat just now), one of Shop B (a sale)."""
    a, b = make_device(), make_device()
    assert (await a.enroll(http, await central_server.make_code(SHOP_A))).status_code == 201
    assert (await b.enroll(http, await central_server.make_code("Shop B"))).status_code == 201
    a.sale(1250)
    b.sale(777)
    assert (await a.push(http)).status_code == 200 and (await b.push(http)).status_code == 200
    beat = {"version": "1", "uptime_s": 1, "backlog": 0, "oldest_unsent_age_s": None}
    beat |= {"last_seq": 1, "printer": {"online": True, "paper": "ok"}, "clock": int(time.time())}
    assert (await a.post(http, "/api/v1/heartbeat", beat)).status_code == 200
    return {"a": a, "b": b}


async def make_user(
    server: CentralTestServer, email: str, password: str, role: str, merchant: str | None
) -> None:
    conn = await asyncpg.connect(server.database_url)
    try:
        await add_user(conn, email, password, role, merchant)
    finally:
        await conn.close()


async def merchant_id(server: CentralTestServer, name: str) -> int:
    conn = await asyncpg.connect(server.database_url)
    try:
        return int(await conn.fetchval("SELECT id FROM merchants WHERE name = $1", name))
    finally:
        await conn.close()


async def test_a_merchant_user_sees_its_merchant_only_and_no_ops_page(
    central_server: CentralTestServer, http: httpx.AsyncClient, devices: dict[str, SimDevice]
) -> None:
    await make_user(central_server, "Owner@A.example", "owner-password", "owner", SHOP_A)
    login = await log_in(http, "owner@a.example", "owner-password")  # email in any case
    assert login.status_code == 303 and login.headers["location"] == "/merchant"
    page = await http.get("/merchant")
    assert page.status_code == 200
    assert "Café &lt;A&gt; &amp; Co" in page.text and "<A>" not in page.text  # escaped
    assert devices["a"].device_id in page.text and "<td>online</td>" in page.text
    assert "1 sale, €12.50" in page.text
    assert devices["b"].device_id not in page.text and "Shop B" not in page.text
    assert (await http.get("/")).headers["location"] == "/merchant"
    for path in OPS_PAGES:
        refused = await http.get(path.format(device=devices["a"].device_id))
        assert refused.status_code == 403, path
    forged = await post_form(
        http, "/merchant", "/users", email="x@a.example", role="ops", password="12345678"
    )
    assert forged.status_code == 403
    assert (await post_form(http, "/merchant", "/logout")).status_code == 303
    assert (await http.get("/merchant")).headers["location"] == "/login"


async def test_an_ops_user_manages_users_in_the_browser(
    central_server: CentralTestServer, http: httpx.AsyncClient, devices: dict[str, SimDevice]
) -> None:
    await make_user(central_server, "ops2@central.example", "ops-password", "ops", None)
    login = await log_in(http, "ops2@central.example", "ops-password")
    assert login.status_code == 303 and login.headers["location"] == "/"
    fleet = await http.get("/")
    assert devices["a"].device_id in fleet.text and devices["b"].device_id in fleet.text

    added = await post_form(
        http,
        "/users",
        "/users",
        email="manager@b.example",
        role="manager",
        merchant="Shop B",
        password="manager-password",
    )
    assert added.status_code == 200 and "Added manager@b.example (manager)" in added.text
    bad = await post_form(
        http, "/users", "/users", email="m2@b.example", role="owner", password="short"
    )
    assert bad.status_code == 400 and "needs one" in bad.text

    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as manager:
        assert (await log_in(manager, "manager@b.example", "manager-password")).status_code == 303
        mine = await manager.get("/merchant")
        assert devices["b"].device_id in mine.text and devices["a"].device_id not in mine.text

        reset = await post_form(
            http,
            "/users",
            "/users/reset-password",
            email="manager@b.example",
            password="new-pass-1",
        )
        assert reset.status_code == 200 and "sessions have ended" in reset.text
        assert (await manager.get("/merchant")).headers["location"] == "/login"
        assert (await log_in(manager, "manager@b.example", "manager-password")).status_code == 401
        assert (await log_in(manager, "manager@b.example", "new-pass-1")).status_code == 303

        off = await post_form(http, "/users", "/users/deactivate", email="manager@b.example")
        assert off.status_code == 200 and "Deactivated manager@b.example" in off.text
        assert (await manager.get("/merchant")).headers["location"] == "/login"
        refused = await log_in(manager, "manager@b.example", "new-pass-1")
        assert refused.status_code == 403 and "deactivated" in refused.text
        # A wrong password says nothing about the user's state.
        assert (await log_in(manager, "manager@b.example", "wrong-one")).status_code == 401


async def test_a_password_reset_elsewhere_ends_the_session(
    central_server: CentralTestServer, http: httpx.AsyncClient
) -> None:
    await make_user(central_server, "ops3@central.example", "ops-password", "ops", None)
    assert (await log_in(http, "ops3@central.example", "ops-password")).status_code == 303
    assert (await http.get("/users")).status_code == 200
    conn = await asyncpg.connect(central_server.database_url)
    try:
        await reset_password(conn, "ops3@central.example", "another-password")
    finally:
        await conn.close()
    assert (await http.get("/users")).headers["location"] == "/login"


async def test_forms_without_the_sessions_csrf_token_are_refused(
    central_server: CentralTestServer, http: httpx.AsyncClient
) -> None:
    user, password = central_server.ops_user, central_server.ops_password
    bare = await http.post("/login", data={"username": user, "password": password})
    assert bare.status_code == 403 and "bitagora_ops" not in bare.cookies
    # A token from another session (an attacker's own) does not do either.
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as other:
        foreign = csrf_of((await other.get("/login")).text)
    await http.get("/login")
    crossed = await http.post(
        "/login", data={"username": user, "password": password, "csrf": foreign}
    )
    assert crossed.status_code == 403

    assert (await log_in(http, user, password)).status_code == 303
    added = await http.post(
        "/users", data={"email": "x@y.example", "role": "ops", "password": "12345678"}
    )
    assert added.status_code == 403
    assert (await http.post("/logout")).status_code == 403
    assert (await http.get("/users")).status_code == 200  # still logged in
    users = (await http.get("/users")).text
    assert "x@y.example" not in users


async def test_supabase_auth_bearer_tokens_give_the_same_claims(
    central_server: CentralTestServer, http: httpx.AsyncClient, devices: dict[str, SimDevice]
) -> None:
    from conftest import SUPABASE_JWT_SECRET

    shop_a = await merchant_id(central_server, SHOP_A)
    owner = supabase_token(SUPABASE_JWT_SECRET, {"bitagora_role": "owner", "merchant_id": shop_a})
    as_owner = {"Authorization": f"Bearer {owner}"}
    page = await http.get("/merchant", headers=as_owner)
    assert page.status_code == 200
    assert devices["a"].device_id in page.text and devices["b"].device_id not in page.text
    assert (await http.get("/payouts", headers=as_owner)).status_code == 403

    ops = supabase_token(SUPABASE_JWT_SECRET, {"bitagora_role": "ops"}, email="ops@sb.example")
    as_ops = {"Authorization": f"Bearer {ops}"}
    fleet = await http.get("/", headers=as_ops)
    assert devices["b"].device_id in fleet.text and "ops@sb.example" in fleet.text
    # No cookie, no CSRF token: a browser never adds the header for another site.
    added = await http.post(
        "/users",
        headers=as_ops,
        data={"email": "o@a.example", "role": "owner", "merchant": SHOP_A, "password": "pw-123456"},
    )
    assert added.status_code == 200 and "Added o@a.example" in added.text

    refused = [
        supabase_token("another-secret-of-at-least-32-bytes!!", {"bitagora_role": "ops"}),
        supabase_token(SUPABASE_JWT_SECRET, {"bitagora_role": "ops"}, exp=int(time.time()) - 120),
        supabase_token(SUPABASE_JWT_SECRET, {"bitagora_role": "ops"}, aud="anon"),
        supabase_token(SUPABASE_JWT_SECRET, {"bitagora_role": "owner"}),  # no merchant
        supabase_token(SUPABASE_JWT_SECRET, {}),
        "not-a-token",
    ]
    for token in refused:
        response = await http.get("/merchant", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_supabase_signing_keys_from_a_jwks_url(central_db_url: str) -> None:
    """A project with asymmetric signing keys: ES256 tokens checked against its published key set
    (a real HTTP server here); HS256 tokens refused when no secret is configured."""
    from conftest import OPS_PASSWORD

    key, other = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True) | {"kid": "k1", "alg": "ES256"}
    fetched: list[str] = []

    async def jwks(request: Request) -> JSONResponse:
        fetched.append(request.url.path)
        return JSONResponse({"keys": [jwk]})

    keys_app = Starlette(routes=[Route("/auth/v1/.well-known/jwks.json", jwks)])
    async with serve(keys_app) as keys_url:
        app = create_app(
            central_db_url,
            "session-secret",
            ops_password=OPS_PASSWORD,
            supabase_jwks_url=f"{keys_url}/auth/v1/.well-known/jwks.json",
        )
        async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
            ops = {"bitagora_role": "ops"}

            def bearer(token: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {token}"}

            signed = supabase_token(key, ops, algorithm="ES256", kid="k1")
            assert (await http.get("/users", headers=bearer(signed))).status_code == 200
            for token in (
                supabase_token(other, ops, algorithm="ES256", kid="k1"),  # not the project's key
                supabase_token("some-secret-of-at-least-32-bytes-long!", ops),  # HS256, no secret
                supabase_token(None, ops, algorithm="none"),
            ):
                assert (await http.get("/users", headers=bearer(token))).status_code == 401
    assert fetched  # the key set was fetched over HTTP
