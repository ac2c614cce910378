"""The fleet page at 10,000 devices (seeded with COPY, bitagora_devtools.fleet_seed): what each
filter, sort order, search and page shows, over real HTTP against the live central."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import httpx
import pytest
from central_helpers import log_in

from bitagora_devtools import fleet_seed as fleet

if TYPE_CHECKING:
    from conftest import CentralTestServer

pytestmark = pytest.mark.timeout(60)

DEVICES = 10_000
_ROW = re.compile(r'<a href="/devices/dev-\d{5}"><code>(dev-\d{5})</code>')
_MATCHING = re.compile(r"(\d+) devices? match")


@pytest.fixture
async def ops(
    central_server: CentralTestServer, db: asyncpg.Connection
) -> AsyncIterator[httpx.AsyncClient]:
    await fleet.seed_fleet(db, DEVICES, datetime.now(UTC))
    async with httpx.AsyncClient(base_url=central_server.base_url, timeout=10) as client:
        assert (
            await log_in(client, central_server.ops_user, central_server.ops_password)
        ).status_code == 303
        yield client


async def _page(client: httpx.AsyncClient, **params: str) -> tuple[int, list[str], str]:
    response = await client.get("/", params=params)
    assert response.status_code == 200
    matching = _MATCHING.search(response.text)
    assert matching, "no count of matching devices"
    return int(matching.group(1)), _ROW.findall(response.text), response.text


def _ids(*numbers: int) -> list[str]:
    return [fleet.device_id(n) for n in numbers]


async def test_the_unfiltered_fleet_is_paged_fifty_at_a_time(ops: httpx.AsyncClient) -> None:
    matching, rows, html = await _page(ops)
    assert matching == DEVICES and len(rows) == 50 and "page 1 of 200" in html
    assert "2001 offline" in html and "1000 late" in html
    # Stalest first: the devices seen 200 s ago, the one seen longest ago first.
    assert rows[:2] == _ids(9991, 9981)
    matching, rows, html = await _page(ops, page="2")
    assert rows[0] == fleet.device_id(9491) and "page 2 of 200" in html
    _, rows, html = await _page(ops, page="200")
    assert len(rows) == 50 and "page 200 of 200" in html and ">next<" not in html


@pytest.mark.parametrize(
    ("sort", "direction", "first"),
    [
        ("last_seen", "desc", _ids(3, 4)),  # never seen comes last either way
        ("merchant", "", _ids(0, 1)),
        ("merchant", "desc", _ids(9999, 9998)),
        ("version", "desc", _ids(9998, 9995)),
        ("backlog", "desc", _ids(fleet.HIGH_BACKLOG, 9999)),
    ],
)
async def test_each_sort_order(
    ops: httpx.AsyncClient, sort: str, direction: str, first: list[str]
) -> None:
    matching, rows, _ = await _page(ops, sort=sort, dir=direction)
    assert matching == DEVICES and rows[:2] == first


async def test_each_filter_and_their_combination(ops: httpx.AsyncClient) -> None:
    assert (await _page(ops, status="late"))[0] == 1000
    assert (await _page(ops, status="online"))[0] == 6999
    matching, rows, html = await _page(ops, status="offline")
    assert matching == 2001 and 'href="/?status=offline&amp;page=2"' in html
    # Seen 5 s ago, but it heartbeats every 2 s: two heartbeats missed.
    _, rows, html = await _page(ops, q=fleet.device_id(fleet.SHORT_INTERVAL))
    assert rows == _ids(fleet.SHORT_INTERVAL)
    assert re.search(r"dev-09998</code>.*?<td><span class=\"fork\">offline</span>", html, re.S)

    merchants = await ops.get("/")
    shop3 = re.search(r'<option value="(\d+)">Shop 03</option>', merchants.text)
    assert shop3
    assert (await _page(ops, merchant=shop3.group(1)))[0] == 1000
    assert (await _page(ops, merchant=shop3.group(1), status="offline"))[0] == 200
    assert (await _page(ops, version="1.0.2"))[0] == 3333
    assert (await _page(ops, version="9.9.9"))[0] == 0


async def test_needs_attention_gathers_every_cause(ops: httpx.AsyncClient) -> None:
    matching, rows, html = await _page(ops, attention="1", sort="backlog", dir="desc")
    assert matching == 2005  # the offline and one each forked, refused, out of paper, backlog
    assert rows[0] == fleet.device_id(fleet.HIGH_BACKLOG)
    online_causes = set(_ids(fleet.FORKED, fleet.REFUSED, fleet.PAPER_OUT, fleet.HIGH_BACKLOG))
    _, online, _ = await _page(ops, attention="1", status="online")
    assert set(online) == online_causes
    assert 'name="attention" value="1" checked' in html


async def test_search_by_device_id_label_or_location(ops: httpx.AsyncClient) -> None:
    matching, rows, _ = await _page(ops, q="dev-0999")
    assert (matching, set(rows)) == (10, set(_ids(*range(9990, 10_000))))
    for words in ("kasse nord", "GLEIS <3>"):
        matching, rows, html = await _page(ops, q=words)
        assert (matching, rows) == (1, _ids(fleet.LABELLED))
    assert "Zürich HB, Gleis &lt;3&gt;" in html  # escaped, not markup
    matching, _, html = await _page(ops, q="%")
    assert matching == 0 and "No device matches." in html  # searched for, not a wildcard
