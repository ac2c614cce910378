"""CentralClient against the real central (HTTP + PostgreSQL) and against scripted failures."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from http_helpers import closed_port
from http_helpers import serve as serve_app
from uplink_helpers import (
    CentralDb,
    ScriptedCentral,
    open_device_store,
    restartable_central,
    wired,
)

from appliance.uplink.client import (
    AuthRejected,
    CentralClient,
    ChainRejected,
    EnrollmentRejected,
    ForkRejected,
    GapRejected,
    Rejected,
    ServerFailed,
    TooLarge,
    Transient,
    Unreachable,
)
from bitagora_protocol.journal import seal

if TYPE_CHECKING:
    from conftest import CentralTestServer

pytestmark = pytest.mark.timeout(60)


async def test_enroll_push_and_heartbeat(central_server: CentralTestServer, tmp_path: Path) -> None:
    db = CentralDb(central_server.database_url)
    async with open_device_store(tmp_path) as device, httpx.AsyncClient(timeout=10) as http:
        client = CentralClient(central_server.base_url + "/", device.identity, http)
        code = await central_server.make_code("Café Uplink")
        enrollment = await client.enroll(code)
        assert enrollment.device_id == device.identity.device_id
        assert enrollment.merchant == "Café Uplink"

        with pytest.raises(EnrollmentRejected) as used:
            await client.enroll(code)
        assert used.value.reason == "used" and used.value.status == 403
        with pytest.raises(EnrollmentRejected) as unknown:
            await client.enroll("AAAA-BBBB-CCCC")
        assert unknown.value.reason == "unknown"

        records = await device.write(5)
        assert await client.push(wired(records[:3])) == 3
        assert await client.push(wired(records)) == 5  # records already held are skipped
        assert await client.push([]) == 5
        assert await db.held_seq(device.identity.device_id) == 5

        held = await client.heartbeat(
            {
                "version": "t",
                "uptime_s": 1,
                "backlog": 0,
                "oldest_unsent_age_s": None,
                "last_seq": 5,
                "printer": {"online": True, "paper": "ok"},
                "clock": int(time.time()),
            }
        )
        assert held == 5
        assert client.last_server_time is not None


async def test_refusals_map_to_their_exceptions(
    central_server: CentralTestServer, tmp_path: Path
) -> None:
    async with open_device_store(tmp_path) as device, httpx.AsyncClient(timeout=10) as http:
        client = CentralClient(central_server.base_url, device.identity, http)
        records = await device.write(4)
        with pytest.raises(AuthRejected) as unknown:
            await client.push(wired(records))
        assert unknown.value.code == "unknown_device"

        await client.enroll(await central_server.make_code())
        with pytest.raises(GapRejected) as gap:
            await client.push(wired(records[2:]))
        assert (gap.value.expected_seq, gap.value.held_seq) == (1, 0)

        with pytest.raises(Rejected) as malformed:
            await client.push(wired([records[0], records[2]]))
        assert (malformed.value.status, malformed.value.error) == (400, "malformed")

        tampered = replace(records[0], body={**records[0].body, "staff": {"id": "eve"}})
        with pytest.raises(ChainRejected) as chain:
            await client.push(wired([tampered]))
        assert chain.value.seq == 1 and "hash" in chain.value.reason

        assert await client.push(wired(records[:2])) == 2
        other = seal(
            device.identity.private_key, device.identity.device_id, 2, "void", {}, records[0].hash
        )
        with pytest.raises(ForkRejected) as fork:
            await client.push(wired([other]))
        assert (fork.value.seq, fork.value.held_seq) == (2, 2)


async def test_clock_skew_is_corrected_once_and_remembered(
    central_db_url: str, tmp_path: Path
) -> None:
    """A Pi without RTC believes it is an hour early; central says so and the client adapts."""
    answers: list[int] = []

    async def count(response: httpx.Response) -> None:
        answers.append(response.status_code)

    async with (
        restartable_central(central_db_url, clock=lambda: time.time() + 3600) as central,
        open_device_store(tmp_path) as device,
        httpx.AsyncClient(timeout=10, event_hooks={"response": [count]}) as http,
    ):
        client = CentralClient(central.base_url, device.identity, http)
        code = await CentralDb(central_db_url).make_code()
        answers.clear()
        await client.enroll(code)  # signed too: the first request learns central's clock
        assert answers == [401, 201]
        assert 3590 <= client.clock_offset_s <= 3610
        records = await device.write(3)
        answers.clear()
        assert await client.push(wired(records[:2])) == 2
        assert answers == [200]
        assert 3590 <= client.now() - time.time() <= 3610
        answers.clear()
        assert await client.push(wired(records)) == 3
        assert answers == [200]  # the offset is kept: no second correction needed


async def test_clock_skew_is_retried_only_once(tmp_path: Path) -> None:
    scripted = ScriptedCentral(script=[], default=(401, {"error": "clock_skew", "server_time": 1}))
    async with (
        serve_app(scripted.app()) as url,
        open_device_store(tmp_path) as device,
        httpx.AsyncClient(timeout=10) as http,
    ):
        client = CentralClient(url, device.identity, http)
        with pytest.raises(AuthRejected) as skew:
            await client.push(wired(await device.write(1)))
        assert skew.value.code == "clock_skew" and skew.value.server_time == 1
        assert len(scripted.pushes) == 2


@pytest.mark.parametrize(
    ("status", "headers", "retry_after"),
    [
        (500, {}, None),
        (502, {}, None),
        (503, {"Retry-After": "7"}, 7.0),
        (429, {"Retry-After": "2"}, 2.0),
        (408, {}, None),
    ],
)
async def test_transient_answers(
    tmp_path: Path, status: int, headers: dict[str, str], retry_after: float | None
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def fail(request: object) -> PlainTextResponse:
        return PlainTextResponse("busy, not JSON", status_code=status, headers=headers)

    app = Starlette(routes=[Route("/api/v1/journal", fail, methods=["POST"])])
    async with (
        serve_app(app) as url,
        open_device_store(tmp_path) as device,
        httpx.AsyncClient(timeout=10) as http,
    ):
        with pytest.raises(ServerFailed) as err:
            await CentralClient(url, device.identity, http).push(wired(await device.write(1)))
        assert err.value.retry_after == retry_after
        # central answered: the message says so, with what it answered and to which request
        reason = httpx.codes.get_reason_phrase(status)
        assert str(err.value) == f"central answered HTTP {status} {reason} to /api/v1/journal"


async def test_scripted_refusals(tmp_path: Path) -> None:
    scripted = ScriptedCentral(
        script=[
            (413, {"error": "too_large", "limit": 10}),
            (404, {"detail": "Not Found"}),
            (200, {"no": "held_seq"}),
            (409, {"error": "gap"}),  # a gap that names no expected seq
        ]
    )
    async with (
        serve_app(scripted.app()) as url,
        open_device_store(tmp_path) as device,
        httpx.AsyncClient(timeout=10) as http,
    ):
        client = CentralClient(url, device.identity, http)
        records = await device.write(1)
        with pytest.raises(TooLarge):
            await client.push(wired(records))
        with pytest.raises(Rejected) as not_found:
            await client.push(wired(records))
        assert (not_found.value.status, not_found.value.error) == (404, "http_404")
        with pytest.raises(Rejected) as bad:
            await client.push(wired(records))
        assert bad.value.error == "bad_response"
        with pytest.raises(Rejected) as gap:
            await client.push(wired(records))
        assert not isinstance(gap.value, GapRejected) and gap.value.error == "bad_response"


async def test_network_errors_are_transient(tmp_path: Path) -> None:
    port = closed_port()
    async with open_device_store(tmp_path) as device, httpx.AsyncClient(timeout=2) as http:
        client = CentralClient(f"http://127.0.0.1:{port}", device.identity, http)
        with pytest.raises(Unreachable) as err:
            await client.push(wired(await device.write(1)))
        assert err.value.retry_after is None
        assert f"127.0.0.1:{port}/api/v1/journal: could not connect" in str(err.value)
        assert "ConnectError" in str(err.value)
        with pytest.raises(Transient):
            await client.enroll("AAAA-BBBB-CCCC")


async def test_a_connection_dropped_without_an_answer_is_named(tmp_path: Path) -> None:
    """httpx's ReadError or RemoteProtocolError often carries no text: the message still says
    what happened."""

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # the request's head arrived; answer nothing
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, open_device_store(tmp_path) as device, httpx.AsyncClient() as http:
        client = CentralClient(f"http://127.0.0.1:{port}", device.identity, http)
        with pytest.raises(Unreachable) as err:
            await client.push(wired(await device.write(1)))
    assert "/api/v1/journal: the connection" in str(err.value), str(err.value)
