"""The device API fuzzed from its OpenAPI description (docs/openapi.json) with Schemathesis,
against the real central on PostgreSQL over real HTTP: requests that fit the description and
requests that do not, first as generated (so a signed operation's signature headers are
garbage or missing: central must refuse them 401 before anything else) and then with every
request signed by an enrolled device's key, so the bodies reach the handlers. Not one answer may
be a server error, take longer than ``TIMEOUT_S``, or differ from the description.

Hypothesis runs derandomized (the same examples every run) and with no example database, so
the fuzz does not flake and stays bounded: ``EXAMPLES`` per operation and mode."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from central import merchant_catalog
from central.app import create_app

if TYPE_CHECKING:
    from conftest import CentralTestServer, SimDevice

# A bound against a hang; the fuzz itself takes 30-60 s alone and several times that on a
# machine running other suites.
pytestmark = pytest.mark.timeout(400)

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
SCHEMA = schemathesis.openapi.from_path(str(DOC))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 20
TIMEOUT_S = 10.0
SIGNED = {"Content-Digest", "Signature-Input", "Signature"}
# Negative cases add arbitrary headers; these frame the HTTP message itself, and a wrong one is
# refused by the HTTP server (uvicorn) before central sees a request: not the API's to describe.
FRAMING = {"content-length", "transfer-encoding", "host", "connection"}

Signer = Callable[[str, str, bytes], dict[str, str]]


def fuzz(base_url: str, sign: Signer | None) -> Counter[tuple[str, int]]:
    """Send every operation's generated cases (positive and negative), signed with ``sign``
    when given; return how many answers of each (operation, status) came back. A check that
    fails, or an answer slower than ``TIMEOUT_S``, raises."""
    seen: Counter[tuple[str, int]] = Counter()
    with requests.Session() as http:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            for result in SCHEMA.get_all_operations():
                operation = result.ok()

                @settings(
                    max_examples=EXAMPLES,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def send(case: schemathesis.Case) -> None:
                    # Schemathesis' own serialisation gives the bytes on the wire, which are
                    # what a signature covers.
                    kwargs = case.as_transport_kwargs(base_url)
                    kwargs["headers"] = {
                        name: value
                        for name, value in kwargs["headers"].items()
                        if name.lower() not in FRAMING
                    }
                    request = requests.Request(**kwargs).prepare()
                    body = request.body or b""
                    body = body.encode() if isinstance(body, str) else body
                    if sign is not None:
                        request.headers.update(sign(case.method, request.path_url, body))
                    response = http.send(request, timeout=TIMEOUT_S)
                    seen[(f"{case.method} {case.formatted_path}", response.status_code)] += 1
                    case.validate_response(response, checks=CHECKS)

                send()
    return seen


def test_the_description_names_every_device_route() -> None:
    app = create_app("postgresql://unused", "unused-secret")
    device_routes = {
        (method, route.path)
        for route in app.routes
        if route.path.startswith("/api/")
        for method in getattr(route, "methods", ()) - {"HEAD"}
    }
    described = {
        (method.upper(), path)
        for path, operations in json.loads(DOC.read_text())["paths"].items()
        for method in operations
    }
    assert described == device_routes


@pytest.mark.long
async def test_no_server_error_and_no_hang_unsigned_or_signed(
    central_server: CentralTestServer, make_device: Callable[[], SimDevice]
) -> None:
    unsigned = await asyncio.to_thread(fuzz, central_server.base_url, None)
    for (operation, status), count in unsigned.items():
        assert status == 401, (operation, status, count)  # refused before the body is read

    device = make_device()
    async with httpx.AsyncClient(base_url=central_server.base_url) as http:
        assert (
            await device.enroll(http, await central_server.make_code("Fuzz"))
        ).status_code == 201
    conn = await asyncpg.connect(central_server.database_url)
    try:  # a first configuration version, so that the document is served
        await merchant_catalog.bump_version(conn, await merchant_catalog.merchant_id(conn, "Fuzz"))
    finally:
        await conn.close()

    def sign(method: str, path: str, body: bytes) -> dict[str, str]:
        headers = device.signed(path, body, method=method)
        return {name: value for name, value in headers.items() if name in SIGNED}

    signed = await asyncio.to_thread(fuzz, central_server.base_url, sign)
    statuses = {operation: set() for operation, _ in signed}
    for operation, status in signed:
        statuses[operation].add(status)
    print(f"unsigned: {sum(unsigned.values())}, signed: {sum(signed.values())}: {statuses}")
    # behind a valid signature the bodies reached the handlers: answers past 401
    assert 200 in statuses["POST /api/v1/heartbeat"] and 400 in statuses["POST /api/v1/heartbeat"]
    assert {200, 400} <= statuses["POST /api/v1/journal"]
    assert 200 in statuses["GET /api/v1/config"]
    assert 200 in statuses["GET /api/v1/actions"]
