"""The downlink end to end: a merchant's catalog imported on central (real PostgreSQL, real
central over HTTP) reaches a real device store through its uplink as a signed configuration
document (docs/PROTOCOL.md 2.6), or from a USB stick; older, foreign-signed and malformed
documents are refused and the till keeps its catalog."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uplink_helpers import (
    CentralDb,
    Device,
    RestartableCentral,
    open_device_store,
    restartable_central,
    running,
    uplink_for,
    wait_until,
)

from appliance.cli import main as device_main
from appliance.store import catalog, catalog_versions, config_documents, journal, outbox
from appliance.store import staff as staff_store
from bitagora_protocol.barcode import with_check_digit
from bitagora_protocol.config_document import Settings, StaffEntry, sign
from bitagora_protocol.httpsig import sign_request
from bitagora_protocol.journal import Record
from central import config_documents as central_documents
from central import merchant_catalog
from central.cli import main as central_main
from central.serve import start_server

DOC = Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md"
SHOP = "Café Lisboa"
HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes,position,active\n"


def cafe_csv(espresso: str = "1.80") -> bytes:
    return (
        HEADER + f"espresso,Espresso,Drinks,{espresso},10,yes,4006381333931,0,yes\n"
        "water,Água mineral 1.5 l,Drinks,1.50,10,yes,5449000000996|036000291452,1,yes\n"
        "croissant,Croissant,Bakery,2.10,10,yes,,0,yes\n"
        "old-cake,Tarta (old recipe),Bakery,4.20,10,yes,,9,no\n"
    ).encode()


def big_csv(count: int) -> bytes:
    rows = [HEADER]
    for i in range(count):
        code = with_check_digit(f"{841000000000 + i:012d}")
        rows.append(
            f"sku{i:07d},Produto {i} marca {i % 97} 500 g,Sección {i % 40:02d},"
            f"{1 + i % 97}.{i % 100:02d},{(21, 10, 4)[i % 3]},yes,{code},{i % 50},yes\n"
        )
    return "".join(rows).encode()


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def import_on_central(url: str, data: bytes) -> merchant_catalog.CatalogImported:
    async with connected(url) as conn:
        return await merchant_catalog.import_csv(conn, SHOP, data)


async def signed_get(device: Device, base_url: str, etag: str | None = None) -> httpx.Response:
    """``GET /api/v1/config`` signed with the device key, as a third party's client would."""
    path = "/api/v1/config"
    headers = sign_request(
        device.identity.private_key,
        device.identity.device_id,
        "GET",
        path,
        b"",
        created=int(time.time()),
        nonce=secrets.token_urlsafe(16),
    )
    headers["Accept-Encoding"] = "gzip"
    if etag is not None:
        headers["If-None-Match"] = etag
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(base_url + path, headers=headers)


async def record_at(device: Device, seq: int | None) -> Record:
    assert seq is not None
    [record] = await journal.read_range(device.conn, seq, 1)
    return record


async def prices(device: Device) -> dict[str, int]:
    return {item.sku: item.price for item in await catalog.catalog_items(device.conn)}


async def enrolled(device: Device, central_db_url: str, base_url: str) -> None:
    await device.enroll(base_url, await CentralDb(central_db_url).make_code(SHOP))


@asynccontextmanager
async def central_and_device(
    central_db_url: str, tmp_path: Path
) -> AsyncIterator[tuple[RestartableCentral, Device]]:
    """Central over HTTP and a device store enrolled with it for the merchant ``SHOP``."""
    async with (
        restartable_central(central_db_url) as central,
        open_device_store(tmp_path / "device") as device,
    ):
        await enrolled(device, central_db_url, central.base_url)
        yield central, device


async def test_a_catalog_imported_on_central_reaches_the_device(
    central_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        source = tmp_path / "cafe.csv"
        source.write_bytes(cafe_csv())
        monkeypatch.setenv("DATABASE_URL", central_db_url)
        status = await asyncio.to_thread(
            central_main, ["catalog", "import", "--merchant", SHOP, str(source)]
        )
        assert status == 0
        assert "cafe.csv: 4 products for 'Café Lisboa', configuration version 1" in (
            capsys.readouterr().out
        )

        async with uplink_for(device, central.base_url) as (uplink, _):
            applied = await uplink.config_once()
            assert applied is not None and applied.version == 1
            assert applied.settings_changed == ("receipt", "payment_methods")
            assert await prices(device) == {
                "croissant": 210,
                "espresso": 180,
                "old-cake": 420,
                "water": 150,
            }
            state = await catalog_versions.current_version(device.conn)
            assert state.version == 1
            record = await record_at(device, state.seq)
            document_sha256 = record.body["source"]["sha256"]
            assert record.body["source"] == {
                "kind": "central",
                "version": 1,
                "sha256": document_sha256,
            }
            assert record.body["by"] == {"via": "uplink"}
            receipt = await journal.last_config(device.conn, "receipt")
            assert receipt is not None
            assert receipt.body["value"] == {"header_lines": [], "footer_lines": ["Thank you!"]}

            # Unchanged: a 304 from one indexed row, and nothing new on the device.
            etag = await outbox.get_state(device.conn, config_documents.STATE_CONFIG_ETAG)
            assert (await signed_get(device, central.base_url, etag)).status_code == 304
            tail = await journal.tail(device.conn)
            assert await uplink.config_once() is None
            assert await journal.tail(device.conn) == tail
            whole = await signed_get(device, central.base_url)
            assert whole.status_code == 200 and whole.headers["etag"] == etag
            assert whole.headers["content-encoding"] == "gzip"
            assert json.loads(whole.content)["document"]["catalog"]["sha256"] == state.sha256

        # Central's export is the device's format: importing it changes nothing on a till.
        out = tmp_path / "export.csv"
        status = await asyncio.to_thread(
            central_main, ["catalog", "export", "--merchant", SHOP, "--out", str(out)]
        )
        assert status == 0
        exported = out.read_text(encoding="utf-8").splitlines()
        assert (
            exported[0] == "sku,name,category,price,tax_percent,price_includes_tax,barcodes,"
            "tax_code,position,active,currency"
        )
        assert exported[1].startswith("croissant,Croissant,Bakery,2.10,10,yes,,A,0,yes,EUR")


async def test_every_bad_row_on_central_is_reported_and_nothing_changes(
    central_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await CentralDb(central_db_url).make_code(SHOP)
    first = await import_on_central(central_db_url, cafe_csv())
    bad = tmp_path / "bad.csv"
    bad.write_bytes(
        cafe_csv("2.00")
        .replace(b"2.10", b"\xe2\x82\xac2.10")
        .replace(b"4006381333931", b"4.00638E+12")
    )
    monkeypatch.setenv("DATABASE_URL", central_db_url)
    status = await asyncio.to_thread(
        central_main, ["catalog", "import", "--merchant", SHOP, str(bad)]
    )
    assert status == 1
    err = capsys.readouterr().err
    assert "catalog file refused (2 problems; nothing was changed)" in err
    assert "line 2, barcodes: 4.00638E+12 is a number a spreadsheet rewrote" in err
    assert "line 4, price: '€2.10' is not a number" in err
    async with connected(central_db_url) as conn:
        merchant = await merchant_catalog.merchant_id(conn, SHOP)
        held = await merchant_catalog.products(conn, merchant)
        version = await conn.fetchval(
            "SELECT version FROM merchant_config WHERE merchant_id = $1", merchant
        )
    assert {item.sku: item.price for item in held}["espresso"] == 180
    assert version == first.version


async def test_a_device_offline_while_the_catalog_changes_twice_gets_the_latest(
    central_db_url: str, tmp_path: Path
) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv("1.80"))
        async with uplink_for(device, central.base_url, config_s=1) as (uplink, _):
            async with running(uplink):

                async def version_is(wanted: int) -> bool:
                    return await config_documents.applied_version(device.conn) == wanted

                await wait_until(lambda: version_is(1), what="the first document applied")
                await central.stop()
                await import_on_central(central_db_url, cafe_csv("1.90"))
                await import_on_central(central_db_url, cafe_csv("2.00"))
                await central.start()
                await wait_until(lambda: version_is(3), what="the latest document applied")
        assert (await prices(device))["espresso"] == 200
        # Version 2 never reached the device: its catalog went from 1 straight to the latest.
        state = await catalog_versions.current_version(device.conn)
        assert state.version == 2
        record = await record_at(device, state.seq)
        assert record.body["source"]["version"] == 3
        assert record.body["previous"]["version"] == 1


async def document_bytes(device: Device, base_url: str) -> bytes:
    answer = await signed_get(device, base_url)
    assert answer.status_code == 200
    return answer.content


async def test_a_replayed_older_document_is_refused(central_db_url: str, tmp_path: Path) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv("1.80"))
        old = await document_bytes(device, central.base_url)
        await import_on_central(central_db_url, cafe_csv("1.90"))
        async with uplink_for(device, central.base_url) as (uplink, _):
            applied = await uplink.config_once()
        assert applied is not None and applied.version == 2
        tail = await journal.tail(device.conn)
        with pytest.raises(config_documents.Refused, match="1 is not newer than the version"):
            await config_documents.apply_signed(
                device.conn, device.identity, old, "EUR", {"via": "cli"}
            )
        again = await document_bytes(device, central.base_url)
        with pytest.raises(config_documents.AlreadyApplied, match="2 is the one applied"):
            await config_documents.apply_signed(
                device.conn, device.identity, again, "EUR", {"via": "cli"}
            )
        # The same version with other content (a central restored from an old backup that
        # then changed again) is a replay too.
        async with connected(central_db_url) as conn:
            await conn.execute("UPDATE merchant_config SET version = 1")
            await conn.execute("DELETE FROM merchant_config_documents")
        await import_on_central(central_db_url, cafe_csv("3.00"))
        with pytest.raises(config_documents.Refused, match="2 is not newer than the version"):
            await config_documents.apply_signed(
                device.conn,
                device.identity,
                await document_bytes(device, central.base_url),
                "EUR",
                {"via": "cli"},
            )
        assert await journal.tail(device.conn) == tail
        assert (await prices(device))["espresso"] == 190


@asynccontextmanager
async def serving(body: bytes) -> AsyncIterator[str]:
    """A real HTTP server that answers ``GET /api/v1/config`` with ``body`` (as a central
    whose database or key was tampered with would)."""

    async def config(request: Request) -> Response:
        return Response(body, media_type="application/json", headers={"ETag": '"forged"'})

    server = await start_server(
        Starlette(routes=[Route("/api/v1/config", config, methods=["GET"])]), "127.0.0.1", 0
    )
    try:
        yield server.base_url
    finally:
        await server.stop()


async def test_a_document_signed_by_another_key_is_refused_and_the_till_keeps_selling(
    central_db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv("1.80"))
        async with uplink_for(device, central.base_url) as (uplink, _):
            assert await uplink.config_once() is not None
        await import_on_central(central_db_url, cafe_csv("9.99"))
        async with connected(central_db_url) as conn:
            merchant = await merchant_catalog.merchant_id(conn, SHOP)
            forged = await central_documents.build(conn, merchant, Ed25519PrivateKey.generate())
        assert forged is not None
        tail = await journal.tail(device.conn)
        async with serving(gzip.decompress(forged.body_gzip)) as impostor:
            async with uplink_for(device, impostor) as (uplink, _):
                with caplog.at_level(logging.ERROR, logger="appliance.uplink.daemon"):
                    assert await uplink.config_once() is None
        refusal = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert len(refusal) == 1
        assert refusal[0].startswith(
            "configuration document refused: SignatureMismatch: signed by key "
        )
        assert refusal[0].endswith("; the till keeps selling on version 1")
        assert await journal.tail(device.conn) == tail
        assert (await prices(device))["espresso"] == 180


def central_signed(key: Ed25519PrivateKey, data: bytes, change: Any) -> bytes:
    """``data`` (a signed document) with its document changed by ``change`` and signed again
    with central's own key: well signed, but not well formed."""
    document = json.loads(data)["document"]
    change(document)
    return json.dumps(sign(key, document)).encode()


async def test_malformed_documents_are_refused(central_db_url: str, tmp_path: Path) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv())
        good = await document_bytes(device, central.base_url)
        key = central.signing_key

        def cheaper(document: dict[str, Any]) -> None:
            document["catalog"]["items"][1]["price"] = 1  # sha256 no longer its items'

        def no_staff(document: dict[str, Any]) -> None:
            del document["staff"]

        def pin_hash(document: dict[str, Any]) -> None:
            document["staff"] = [
                {
                    "id": "ana",
                    "name": "Ana",
                    "role": "cashier",
                    "active": True,
                    "badges": [],
                    "pin_hash": "x",
                }
            ]

        def no_rounding(document: dict[str, Any]) -> None:
            document["settings"]["cash_rounding"] = 0

        def french(document: dict[str, Any]) -> None:
            document["settings"]["language"] = "fr"

        def blank_language(document: dict[str, Any]) -> None:
            document["staff"] = [
                {
                    "id": "ana",
                    "name": "Ana",
                    "role": "cashier",
                    "active": True,
                    "badges": [],
                    "language": "",
                }
            ]

        cases = {
            "not UTF-8 JSON": good[:-10],
            "settings.cash_rounding must be 1..1000": central_signed(key, good, no_rounding),
            "settings.language 'fr' is not one of en, es, pt_BR, pt_PT": central_signed(
                key, good, french
            ),
            "staff[0].language must be a non-empty string": central_signed(
                key, good, blank_language
            ),
            "signature sha256 is not the document's": good.replace(b'"price":180', b'"price":1'),
            "catalog.sha256 is not the SHA-256": central_signed(key, good, cheaper),
            "is a float": good.replace(b'"price":180', b'"price":1.8'),
            "missing ['staff']": central_signed(key, good, no_staff),
            "unexpected ['pin_hash']": central_signed(key, good, pin_hash),
        }
        for expected, data in cases.items():
            with pytest.raises(config_documents.Refused) as refused:
                await config_documents.apply_signed(
                    device.conn, device.identity, data, "EUR", {"via": "cli"}
                )
            assert expected in str(refused.value)
        assert await prices(device) == {}
        assert await config_documents.applied_version(device.conn) == 0


async def test_a_document_from_a_usb_stick_applies_offline(
    central_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with restartable_central(central_db_url) as central:
        async with open_device_store(tmp_path / "device") as device:
            await enrolled(device, central_db_url, central.base_url)
            await import_on_central(central_db_url, cafe_csv("2.20"))
            served = await document_bytes(device, central.base_url)
        await central.stop()
        # Ops write the document with central's key, given as a credential file.
        key_file = tmp_path / "central_signing_key"
        seed = central.signing_key.private_bytes_raw().hex()
        key_file.write_text(seed + "\n", encoding="ascii")
        monkeypatch.setenv("BITAGORA_CENTRAL_SIGNING_KEY_FILE", str(key_file))
        monkeypatch.setenv("DATABASE_URL", central_db_url)
        stick = tmp_path / "bitagora-config.json"
        export = ["config", "export", "--merchant", SHOP, "--out", str(stick)]
        assert await asyncio.to_thread(central_main, export) == 0
        assert stick.read_bytes() == served
        assert "configuration document of 'Café Lisboa'" in capsys.readouterr().out

        # Central is unreachable; the device has the file and the key pinned at enrollment.
        command = ["config", "apply", str(stick), "--data-dir", str(tmp_path / "device")]
        assert await asyncio.to_thread(device_main, command) == 0
        assert capsys.readouterr().out.startswith(
            "bitagora-config.json: configuration version 1 applied; catalog version 1 (4 products)"
        )
        assert await asyncio.to_thread(device_main, command) == 1
        assert "refused, nothing changed: version 1 is the one applied already" in (
            capsys.readouterr().err
        )

        await central.start()
        async with open_device_store(tmp_path / "device") as device:
            assert (await prices(device))["espresso"] == 220
            state = await catalog_versions.current_version(device.conn)
            record = await record_at(device, state.seq)
            assert record.body["by"] == {"via": "cli"}
            assert record.body["source"]["kind"] == "central"
            # Back online, central sends the same document: nothing to do, and no error.
            tail = await journal.tail(device.conn)
            async with uplink_for(device, central.base_url) as (uplink, _):
                with caplog.at_level(logging.INFO, logger="appliance.uplink.daemon"):
                    assert await uplink.config_once() is None
            assert await journal.tail(device.conn) == tail
            assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == [
                "configuration already applied"
            ]
            etag = await outbox.get_state(device.conn, config_documents.STATE_CONFIG_ETAG)
            assert (await signed_get(device, central.base_url, etag)).status_code == 304


@pytest.mark.long
async def test_a_50000_product_document_goes_down_compressed(
    central_db_url: str, tmp_path: Path
) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        started = time.perf_counter()
        imported = await import_on_central(central_db_url, big_csv(50_000))
        import_s = time.perf_counter() - started
        assert imported.products == 50_000
        # Central builds and signs the document on the first fetch: 2-8 s here, more on a
        # machine running other suites; the figures are printed, not asserted.
        async with uplink_for(device, central.base_url, http_timeout_s=60) as (uplink, http):
            started = time.perf_counter()
            fetched = await uplink.client.fetch_config(None)
            first_fetch_s = time.perf_counter() - started
            assert fetched is not None
            started = time.perf_counter()
            cached = await uplink.client.fetch_config(None)
            cached_fetch_s = time.perf_counter() - started
            assert cached is not None and cached.body == fetched.body
            started = time.perf_counter()
            applied = await config_documents.apply_signed(
                device.conn, device.identity, fetched.body, "EUR", {"via": "uplink"}, fetched.etag
            )
            apply_s = time.perf_counter() - started
        assert applied.catalog.products == 50_000
        ratio = fetched.wire_bytes / len(fetched.body)
        print(
            f"\n50,000 products: central import {import_s:.2f} s; document "
            f"{len(fetched.body) / 1e6:.1f} MB canonical JSON, {fetched.wire_bytes / 1e6:.2f} MB "
            f"gzip on the wire ({ratio:.1%}); first fetch (build + sign + gzip) "
            f"{first_fetch_s:.2f} s, cached fetch {cached_fetch_s:.2f} s; device verify + apply "
            f"{apply_s:.2f} s"
        )
        assert fetched.wire_bytes < len(fetched.body) / 5


async def test_row_level_security_keeps_each_merchant_to_its_rows(central_db_url: str) -> None:
    await CentralDb(central_db_url).make_code(SHOP)
    await CentralDb(central_db_url).make_code("Other Shop")
    await import_on_central(central_db_url, cafe_csv())
    async with connected(central_db_url) as conn:
        other = await merchant_catalog.merchant_id(conn, "Other Shop")
        mine = await merchant_catalog.merchant_id(conn, SHOP)
        await conn.execute("CREATE ROLE rls_probe NOLOGIN")
        await conn.execute("GRANT SELECT ON merchant_products TO rls_probe")
        counts = {}
        for name, claims in (
            ("mine", {"app_metadata": {"merchant_id": mine}}),
            ("other", {"app_metadata": {"merchant_id": other}}),
            ("ops", {"app_metadata": {"bitagora_role": "ops"}}),
            ("none", {}),
        ):
            async with conn.transaction():
                await conn.execute("SET LOCAL ROLE rls_probe")
                await conn.execute(
                    "SELECT set_config('request.jwt.claims', $1, true)", json.dumps(claims)
                )
                # No merchant filter on purpose: the policy is what keeps the rows apart.
                counts[name] = await conn.fetchval("SELECT count(*) FROM merchant_products")
        assert counts == {"mine": 4, "other": 0, "ops": 4, "none": 0}


async def test_the_documented_verifier_agrees_on_central_documents(
    central_db_url: str, tmp_path: Path
) -> None:
    section = DOC.read_text(encoding="utf-8").split("### 2.6", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "PROTOCOL.md 2.6 has no python block"
    script = tmp_path / "verify_config.py"
    script.write_text(code.group(1), encoding="utf-8")
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv())
        document = tmp_path / "config.json"
        document.write_bytes(await document_bytes(device, central.base_url))
        pinned = await outbox.get_state(device.conn, config_documents.STATE_CENTRAL_KEY)
    assert pinned is not None

    def run(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), str(path), pinned], capture_output=True, text=True
        )

    assert run(document).stdout.strip() == "OK: version 1, 4 products"
    forged = tmp_path / "forged.json"
    forged.write_bytes(document.read_bytes().replace(b'"price":180', b'"price":1'))
    refused = run(forged)
    assert refused.returncode != 0 and "document changed after signing" in refused.stderr


async def test_settings_and_staff_set_on_central_reach_the_device(
    central_db_url: str, tmp_path: Path
) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv())
        async with connected(central_db_url) as conn:
            merchant = await merchant_catalog.merchant_id(conn, SHOP)
            await merchant_catalog.set_settings(
                conn,
                merchant,
                Settings("EUR", ("Rua Augusta 1",), ("Obrigado!",), ("cash", "card")),
            )
            ana = StaffEntry("ana", "Ana", "cashier", True, ("04A224B2C51280",))
            version = await merchant_catalog.put_staff(conn, merchant, ana)
        assert version == 3
        served = json.loads(await document_bytes(device, central.base_url))["document"]
        assert served["staff"] == [
            {
                "id": "ana",
                "name": "Ana",
                "role": "cashier",
                "active": True,
                "badges": ["04A224B2C51280"],
            }
        ]
        async with uplink_for(device, central.base_url) as (uplink, _):
            applied = await uplink.config_once()
        assert applied is not None and applied.version == 3
        receipt = await journal.last_config(device.conn, "receipt")
        methods = await journal.last_config(device.conn, "payment_methods")
        assert receipt is not None and methods is not None
        assert receipt.body["value"] == {
            "header_lines": ["Rua Augusta 1"],
            "footer_lines": ["Obrigado!"],
        }
        assert methods.body["value"] == ["cash", "card"]
        assert methods.body["source"]["version"] == 3
        # Central's person is on the till, without a PIN (a manager sets one at the till), and
        # her badge unlocks it; the till's own people are left as they were.
        assert await staff_store.all_staff(device.conn) == [
            (staff_store.Staff("ana", "Ana", "cashier", True), ["04A224B2C51280"])
        ]
        assert await staff_store.staff_by_badge(device.conn, "04A224B2C51280") is not None
        added = [r async for r in journal.iterate(device.conn) if r.kind == "staff"]
        assert [r.body["action"] for r in added] == ["added"]
        assert added[0].body["source"]["version"] == 3 and "pin" not in json.dumps(added[0].body)

        async with connected(central_db_url) as conn:
            gone = StaffEntry("ana", "Ana", "cashier", False, ())
            await merchant_catalog.put_staff(conn, merchant, gone)
        async with uplink_for(device, central.base_url) as (uplink, _):
            applied = await uplink.config_once()
        assert applied is not None and applied.version == 4
        assert await staff_store.all_staff(device.conn) == [
            (staff_store.Staff("ana", "Ana", "cashier", False), [])
        ]
        assert await staff_store.staff_by_badge(device.conn, "04A224B2C51280") is None
        changes = [
            r.body["action"] async for r in journal.iterate(device.conn) if r.kind == "staff"
        ]
        assert changes == ["added", "deactivated"]


async def test_cash_rounding_set_on_central_reaches_the_device(
    central_db_url: str, tmp_path: Path
) -> None:
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv())
        async with uplink_for(device, central.base_url) as (uplink, _):
            assert await uplink.config_once() is not None
        # A document without it leaves the till's own setting alone.
        assert await journal.last_config(device.conn, "cash_rounding") is None
        async with connected(central_db_url) as conn:
            merchant = await merchant_catalog.merchant_id(conn, SHOP)
            shop = Settings("EUR", (), ("Obrigado!",), ("cash",), cash_rounding=5)
            await merchant_catalog.set_settings(conn, merchant, shop)
        served = json.loads(await document_bytes(device, central.base_url))["document"]
        assert served["settings"]["cash_rounding"] == 5
        async with uplink_for(device, central.base_url) as (uplink, _):
            applied = await uplink.config_once()
        assert applied is not None and "cash_rounding" in applied.settings_changed
        rounding = await journal.last_config(device.conn, "cash_rounding")
        assert rounding is not None and rounding.body["value"] == 5


async def test_languages_set_on_central_reach_the_device(
    central_db_url: str, tmp_path: Path
) -> None:
    """The shop's language and a person's own (docs/PROTOCOL.md 2.6) are in the document only
    when set; the device journals the shop's as a ``language`` setting and keeps the person's,
    named in their ``staff`` record; unset on central again, both go back to the till's own."""
    async with central_and_device(central_db_url, tmp_path) as (central, device):
        await import_on_central(central_db_url, cafe_csv())
        async with connected(central_db_url) as conn:
            merchant = await merchant_catalog.merchant_id(conn, SHOP)
            shop = Settings("EUR", (), ("Obrigado!",), ("cash",), language="pt_PT")
            await merchant_catalog.set_settings(conn, merchant, shop)
            await merchant_catalog.put_staff(
                conn, merchant, StaffEntry("ana", "Ana", "cashier", True, (), "es")
            )
            await merchant_catalog.put_staff(
                conn, merchant, StaffEntry("bia", "Bia", "cashier", True, ())
            )
        served = json.loads(await document_bytes(device, central.base_url))["document"]
        assert served["settings"]["language"] == "pt_PT"
        assert [person.get("language") for person in served["staff"]] == ["es", None]
        assert "language" not in served["staff"][1]
        async with uplink_for(device, central.base_url) as (uplink, _):
            assert await uplink.config_once() is not None
        language = await journal.last_config(device.conn, "language")
        assert language is not None and language.body["value"] == "pt_PT"
        ana = await staff_store.get(device.conn, "ana")
        assert ana is not None and ana.language == "es"
        records = [r.body async for r in journal.iterate(device.conn) if r.kind == "staff"]
        assert [r["staff"].get("language") for r in records] == ["es", None]

        async with connected(central_db_url) as conn:
            await merchant_catalog.set_settings(
                conn, merchant, Settings("EUR", (), ("Obrigado!",), ("cash",))
            )
            await merchant_catalog.put_staff(
                conn, merchant, StaffEntry("ana", "Ana", "cashier", True, ())
            )
        async with uplink_for(device, central.base_url) as (uplink, _):
            assert await uplink.config_once() is not None
        language = await journal.last_config(device.conn, "language")
        assert language is not None and language.body["value"] is None
        assert await staff_store.get(device.conn, "ana") == staff_store.Staff(
            "ana", "Ana", "cashier", True
        )
        changed = [r.body async for r in journal.iterate(device.conn) if r.kind == "staff"][-1]
        assert changed["action"] == "changed" and changed["previous"] == {
            "name": "Ana",
            "role": "cashier",
            "language": "es",
        }
