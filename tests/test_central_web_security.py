"""Central's web side against a hostile browser, over real HTTP on a real PostgreSQL: login
throttling under a parallel burst (per account from an address, per address, per account; an
exponential delay read off central's clock, never waited for), server-side sessions, the Origin
check, the security headers, the first ops password kept out of the logs, and the login's
structured log lines."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from central_helpers import csrf_of, log_in, post_form
from conftest import OPS_PASSWORD
from http_helpers import serve

from appliance.logs import FieldsFormatter
from central import throttle
from central.app import create_app
from central.sessions import COOKIE, LIFETIME
from central.web_settings import WebSettings

pytestmark = pytest.mark.timeout(90)

T0 = 1_900_000_000.0
ATTACKER, OWNER = "127.0.0.1", "127.0.0.2"  # both loopback: the server sees two addresses
TEMPLATES = Path(__file__).resolve().parents[1] / "central" / "templates"


@dataclass
class Central:
    base_url: str
    database_url: str
    now: list[float]  # central's clock, moved by the test

    def client(self, address: str = ATTACKER) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        return httpx.AsyncClient(base_url=self.base_url, transport=transport, timeout=30)

    async def sql(self, query: str, *args: object) -> object:
        conn = await asyncpg.connect(self.database_url)
        try:
            return await conn.fetchval(query, *args)
        finally:
            await conn.close()


async def _serve(database_url: str, web: WebSettings) -> AsyncIterator[Central]:
    now = [T0]
    app = create_app(
        database_url, "session-secret", ops_password=OPS_PASSWORD, clock=lambda: now[0], web=web
    )
    async with serve(app) as base_url:
        yield Central(base_url, database_url, now)


@pytest.fixture
async def central(central_db_url: str) -> AsyncIterator[Central]:
    async for served in _serve(central_db_url, WebSettings()):
        yield served


async def _burst(http: httpx.AsyncClient, username: str, n: int = 30) -> list[httpx.Response]:
    """``n`` wrong passwords at once, from one browser session (its form's token)."""
    token = csrf_of((await http.get("/login")).text)
    form = {"username": username, "password": "wrong-password", "csrf": token}
    return list(await asyncio.gather(*(http.post("/login", data=form) for _ in range(n))))


async def test_a_parallel_burst_checks_few_passwords_and_leaves_the_owner_in(
    central: Central,
) -> None:
    checked = throttle.ACCOUNT_FROM_ADDRESS.free + 1  # the last one sets the first delay
    async with central.client(ATTACKER) as attacker:
        known = await _burst(attacker, "admin")
        unknown = await _burst(attacker, "nobody@nowhere.example")
        for burst in (known, unknown):
            statuses = sorted(r.status_code for r in burst)
            assert statuses == [401] * checked + [429] * (30 - checked)
            for refused in (r for r in burst if r.status_code == 429):
                assert refused.headers["retry-after"] == "1"
                assert "Too many attempts; try again in 1 seconds." in refused.text
        # A known and an unknown account answer alike: same statuses, same text but the name.
        assert {r.text.replace("admin", "X") for r in known if r.status_code == 429} == {
            r.text.replace("nobody@nowhere.example", "X") for r in unknown if r.status_code == 429
        }
        # The right password from the attacker's address waits out the delay; nothing locks.
        assert (await log_in(attacker, "admin", OPS_PASSWORD)).status_code == 429

        # The owner, elsewhere, gets in at once: the burst did not use up the account's count.
        async with central.client(OWNER) as owner:
            assert (await log_in(owner, "admin", OPS_PASSWORD)).status_code == 303

        # Each checked attempt past the free ones doubles the delay.
        central.now[0] += 1
        assert (await log_in(attacker, "admin", "wrong-again")).status_code == 401
        again = await log_in(attacker, "admin", OPS_PASSWORD)
        assert again.status_code == 429 and again.headers["retry-after"] == "2"
        central.now[0] += 2
        assert (await log_in(attacker, "admin", OPS_PASSWORD)).status_code == 303


async def test_many_addresses_against_one_account_are_slowed_by_the_accounts_count(
    central: Central,
) -> None:
    # Attempts spread over addresses (127.0.0.10, .11, …), each within its own free count.
    per_address = throttle.ACCOUNT_FROM_ADDRESS.free
    addresses = [f"127.0.0.{10 + i}" for i in range(throttle.ACCOUNT.free // per_address + 2)]
    statuses = []
    for address in addresses:
        async with central.client(address) as http:
            for _ in range(per_address):
                statuses.append((await log_in(http, "admin", "guess")).status_code)
    assert statuses.count(401) == throttle.ACCOUNT.free + 1
    assert 429 in statuses
    central.now[0] += throttle.FORGET_AFTER.total_seconds() + 1  # counts are forgotten
    async with central.client(OWNER) as owner:
        assert (await log_in(owner, "admin", OPS_PASSWORD)).status_code == 303
    # What is left: the owner's address and account; the rest was forgotten, the owner's own
    # account-from-address count cleared by the login.
    assert await central.sql("SELECT count(*) FROM login_attempts") == 2


async def test_sessions_live_on_the_server(central: Central) -> None:
    async with central.client() as browser, central.client() as thief:
        await browser.get("/login")
        before = browser.cookies[COOKIE]
        assert (await log_in(browser, "admin", OPS_PASSWORD)).status_code == 303
        session = browser.cookies[COOKIE]
        assert session != before  # a new id at login: one planted before it is worth nothing
        assert await central.sql("SELECT count(*) FROM web_sessions") == 1

        thief.cookies.set(COOKIE, before)
        assert (await thief.get("/")).status_code == 303
        thief.cookies.set(COOKIE, session)  # a copied cookie works while the session lives …
        assert (await thief.get("/")).status_code == 200
        assert (await post_form(browser, "/", "/logout")).status_code == 303
        assert (await thief.get("/")).headers["location"] == "/login"  # … and not after logout
        assert await central.sql("SELECT count(*) FROM web_sessions") == 0

        # A password change ends every session of the user, from the ops pages or anywhere.
        assert (await log_in(browser, "admin", OPS_PASSWORD)).status_code == 303
        await central.sql("UPDATE web_users SET password_hash = 'x' WHERE email = 'admin'")
        assert await central.sql("SELECT count(*) FROM web_sessions") == 0
        assert (await browser.get("/")).status_code == 303


async def test_a_session_expires(central: Central) -> None:
    async with central.client() as browser:
        assert (await log_in(browser, "admin", OPS_PASSWORD)).status_code == 303
        central.now[0] += LIFETIME.total_seconds() - 1
        assert (await browser.get("/")).status_code == 200
        central.now[0] += 1
        assert (await browser.get("/")).headers["location"] == "/login"


async def test_a_login_from_another_origin_is_refused_even_with_a_token(central: Central) -> None:
    async with central.client() as http:
        token = csrf_of((await http.get("/login")).text)
        form = {"username": "admin", "password": OPS_PASSWORD, "csrf": token}
        for foreign in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},  # a sandboxed frame, a data: page
            {"Origin": central.base_url.replace("127.0.0.1", "localhost")},
            {"Referer": "https://evil.example/page"},
        ):
            refused = await http.post("/login", data=form, headers=foreign)
            assert refused.status_code == 403, foreign
        assert await central.sql("SELECT count(*) FROM web_sessions") == 0
        own = await http.post("/login", data=form, headers={"Origin": central.base_url})
        assert own.status_code == 303


def test_every_form_that_posts_carries_the_csrf_token() -> None:
    forms = 0
    for template in TEMPLATES.glob("*.html"):
        html = template.read_text(encoding="utf-8")
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, re.S):
            if 'method="post"' in form:
                forms += 1
                assert "csrf_token(request)" in form or "csrf()" in form, template.name
    assert forms >= 5


SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'none'; object-src 'none'; form-action 'self';"
        " frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


async def test_every_answer_carries_the_security_headers(central: Central) -> None:
    async with central.client() as http:
        answers = [
            await http.get("/login"),
            await http.get("/"),
            await http.get("/healthz"),
            await http.get("/metrics"),
            await http.get("/static/central.css"),
            await http.get("/no-such-page"),
            await http.post("/api/v1/journal", content=b"{}"),
            await http.post("/login", data={}, headers={"Origin": "https://evil.example"}),
        ]
        assert (await log_in(http, "admin", OPS_PASSWORD)).status_code == 303
        answers += [await http.get("/"), await http.get("/users")]
        for answer in answers:
            for name, value in SECURITY_HEADERS.items():
                assert answer.headers.get(name) == value, (answer.url, name)
            assert "strict-transport-security" not in answer.headers  # plain http here
            assert "access-control-allow-origin" not in answer.headers
        assert answers[-1].headers["cache-control"] == "no-store"  # users, sales: never cached
        assert "Secure" not in answers[0].headers["set-cookie"]
        assert "HttpOnly" in answers[0].headers["set-cookie"]
        # The page's style is a file (no inline style or script for the policy to refuse).
        assert "<style" not in answers[0].text and "<script" not in answers[0].text
        assert answers[4].headers["content-type"].startswith("text/css")
        # CORS: no allow-list, so a preflight from another site gets no permission.
        preflight = await http.options(
            "/api/v1/journal",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers


async def test_https_public_url_gives_hsts_secure_cookies_and_the_cors_allow_list(
    central_db_url: str,
) -> None:
    web = WebSettings(
        public_url="https://central.example.org", cors_origins=("https://app.example",)
    )
    async for central in _serve(central_db_url, web):
        async with central.client() as http:
            form = await http.get("/login")
            assert form.headers["strict-transport-security"] == "max-age=31536000"
            assert "; Secure" in form.headers["set-cookie"]
            allowed = await http.get("/healthz", headers={"Origin": "https://app.example"})
            assert allowed.headers["access-control-allow-origin"] == "https://app.example"
            other = await http.get("/healthz", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
            # Central's origin is the public URL's, whatever address the request reached. (A
            # Secure cookie is not sent back over http: the test sends it itself.)
            data = {"username": "admin", "password": OPS_PASSWORD, "csrf": csrf_of(form.text)}
            cookie = form.headers["set-cookie"].split(";")[0]
            own = {"Origin": "https://central.example.org", "Cookie": cookie}
            assert (await http.post("/login", data=data, headers=own)).status_code == 303
            foreign = {"Origin": central.base_url, "Cookie": cookie}
            assert (await http.post("/login", data=data, headers=foreign)).status_code == 403


def test_web_settings_name_the_bad_variable() -> None:
    env = {"BITAGORA_CENTRAL_PUBLIC_URL": "central.example.org"}
    with pytest.raises(ValueError, match="BITAGORA_CENTRAL_PUBLIC_URL"):
        WebSettings.from_env(env)
    with pytest.raises(ValueError, match="BITAGORA_CENTRAL_CORS_ORIGINS"):
        WebSettings.from_env({"BITAGORA_CENTRAL_CORS_ORIGINS": "https://a.example/path"})
    with pytest.raises(ValueError, match="BITAGORA_CENTRAL_METRICS_TOKEN"):
        WebSettings.from_env({"BITAGORA_CENTRAL_METRICS_TOKEN": "short"})
    settings = WebSettings.from_env(
        {
            "BITAGORA_CENTRAL_PUBLIC_URL": "https://central.example.org",
            "BITAGORA_CENTRAL_CORS_ORIGINS": "https://a.example, https://b.example:8443",
        }
    )
    assert settings.https and settings.cors_origins == (
        "https://a.example",
        "https://b.example:8443",
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_the_generated_ops_password_reaches_the_terminal_once_and_no_log(
    central_db_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BITAGORA_OPS_PASSWORD", raising=False)
    conn = await asyncpg.connect(central_db_url)
    try:
        await conn.execute("DELETE FROM web_users")
    finally:
        await conn.close()
    terminal = _Terminal()
    monkeypatch.setattr("sys.stdout", terminal)
    caplog.set_level(logging.DEBUG)
    password_file = tmp_path / "ops_password"
    app = create_app(central_db_url, "session-secret", ops_password_file=password_file)
    async with serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        password = password_file.read_text(encoding="utf-8").strip()
        assert (await log_in(http, "admin", password)).status_code == 303
    assert terminal.getvalue().count(password) == 1
    assert caplog.records  # the logs were captured …
    formatter = FieldsFormatter()
    for record in caplog.records:  # … and none holds the password, in its text or a field
        assert password not in formatter.format(record), record.getMessage()


async def test_each_login_is_one_structured_log_line(
    central: Central, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="central.login")
    async with central.client() as http:
        assert (await log_in(http, "admin", "wrong-password")).status_code == 401
        assert (await log_in(http, "admin", OPS_PASSWORD)).status_code == 303
    lines = [FieldsFormatter("%(message)s").format(r) for r in caplog.records]
    assert lines == [
        f"login address={ATTACKER} outcome=refused",
        f"login address={ATTACKER} outcome=ok user_id=1",
    ]
    assert not any("wrong-password" in line or OPS_PASSWORD in line for line in lines)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("BITAGORA_CENTRAL_PUBLIC_URL", "central.example.org"), ("SENTRY_DSN", "not-a-dsn")],
)
async def test_a_bad_setting_stops_central_before_it_starts(
    variable: str, value: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {variable: value}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "central.cli",
        "--data-dir",
        str(tmp_path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2
    assert err.decode().startswith(f"bitagora central: configuration refused:\n  {variable}: ")
    assert not (tmp_path / "central" / "pgdata").exists()  # no database was started
