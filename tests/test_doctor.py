"""`bitagora doctor`: every check against the real parts (store, central on PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from http_helpers import closed_port
from store_helpers import open_device, tamper_amount, write_sales

from appliance.cli import main
from appliance.config import Settings, load_settings
from appliance.doctor import EARLIEST_PLAUSIBLE, Options, clock_check, passed, run_checks
from appliance.i18n import use
from appliance.uplink.client import CentralClient, Enrollment
from appliance.uplink.daemon import save_enrollment
from bitagora_devtools.sim.printer import PrinterSimulator

ONLINE = Options(print_test_page=False)
OFFLINE = Options(offline=True, print_test_page=False)


def settings_in(data_dir: Path, printer: PrinterSimulator) -> Callable[[], Settings]:
    return lambda: load_settings(data_dir, env={"BITAGORA_PRINTER_PORT": str(printer.port)})


@pytest.fixture
async def printer(tmp_path: Path) -> AsyncIterator[PrinterSimulator]:
    async with PrinterSimulator(tmp_path / "printer", port=0) as sim:
        yield sim


# No bitcoin payments configured: no exchange rate is asked for, no wallet checked; no Mercado Pago.
DEVICES = {
    "printer": "OK",
    "drawer": "SKIP",
    "nfc": "SKIP",
    "touch": "SKIP",
    "lightning": "SKIP",
    "mercadopago": "SKIP",
    "rates": "SKIP",
    "onchain": "SKIP",
    "tron": "SKIP",
}


def statuses(checks: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {c.name: c.status for c in checks}


async def make_device(data_dir: Path, sales: int = 3) -> None:
    conn, identity = await open_device(data_dir)
    await write_sales(conn, identity, sales)
    await conn.close()


async def test_a_healthy_enrolled_device_passes(
    tmp_path: Path,
    printer: PrinterSimulator,
    central_server,  # type: ignore[no-untyped-def]
) -> None:
    conn, identity = await open_device(tmp_path)
    await write_sales(conn, identity, 2)
    async with httpx.AsyncClient(timeout=10) as http:
        client = CentralClient(central_server.base_url, identity, http)
        enrollment = await client.enroll(await central_server.make_code("Doctor Shop"))
    await save_enrollment(conn, enrollment, central_server.base_url)
    await conn.close()

    checks = await run_checks(settings_in(tmp_path, printer), ONLINE)
    assert statuses(checks) == DEVICES | {
        "config": "OK",
        "database": "OK",
        "journal": "OK",
        "uplink": "OK",
        "clock": "OK",
        "disk": "OK",
    }
    assert passed(checks)
    clock = next(c for c in checks if c.name == "clock")
    assert clock.detail.endswith("s from central")


async def test_central_down_fails_the_uplink_line_with_what_to_do(
    tmp_path: Path, printer: PrinterSimulator
) -> None:
    conn, identity = await open_device(tmp_path)
    await save_enrollment(
        conn, Enrollment(identity.device_id, "Shop", 1, "00" * 32), "http://127.0.0.1:9"
    )
    await conn.close()
    checks = await run_checks(settings_in(tmp_path, printer), ONLINE)
    uplink = next(c for c in checks if c.name == "uplink")
    assert uplink.status == "FAIL" and "unreachable" in uplink.detail
    assert "network" in uplink.action
    assert not passed(checks)
    # --offline: the same device passes, the network check is skipped.
    offline = await run_checks(settings_in(tmp_path, printer), OFFLINE)
    assert statuses(offline)["uplink"] == "SKIP" and passed(offline)


async def test_a_tampered_journal_fails_naming_the_seq(
    tmp_path: Path, printer: PrinterSimulator
) -> None:
    await make_device(tmp_path, sales=5)
    tamper_amount(tmp_path / "appliance.sqlite3", 3)
    checks = await run_checks(settings_in(tmp_path, printer), OFFLINE)
    journal = next(c for c in checks if c.name == "journal")
    assert journal.status == "FAIL" and journal.detail.startswith("seq 3:")
    assert not passed(checks)


async def test_a_fresh_device_warns_but_does_not_fail(
    tmp_path: Path, printer: PrinterSimulator
) -> None:
    checks = await run_checks(settings_in(tmp_path, printer), OFFLINE)
    assert statuses(checks) == DEVICES | {
        "config": "OK",
        "database": "WARN",
        "uplink": "WARN",
        "clock": "OK",
        "disk": "OK",
    }
    assert passed(checks)


def test_bad_setting_names_the_key_and_exits_1(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "appliance.toml").write_text("[printer]\nport = 'abc'\n", encoding="utf-8")
    assert main(["doctor", "--data-dir", str(tmp_path), "--offline", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    [config] = report["checks"]
    assert config["status"] == "FAIL" and "printer.port" in config["detail"]


def test_text_report_is_one_line_a_check_with_actions(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BITAGORA_PRINTER_PORT", str(closed_port()))
    assert main(["doctor", "--data-dir", str(tmp_path), "--offline", "--no-print"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("OK    config")
    assert any(line.startswith("WARN  database") for line in lines)
    assert "      -> start the kiosk once" in lines
    assert any(line.startswith("FAIL  printer") and "not reachable" in line for line in lines)
    assert "      -> check power, cable or network and printer.*" in lines


def test_a_printer_name_that_does_not_resolve_is_called_that(
    tmp_path: Path, capsys, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BITAGORA_PRINTER_HOST", "till-printer.invalid")  # never resolves (RFC 2606)
    assert main(["doctor", "--data-dir", str(tmp_path), "--offline", "--no-print"]) == 1
    lines = capsys.readouterr().out.splitlines()
    [printer] = [line for line in lines if line.startswith("FAIL  printer")]
    assert "printer host 'till-printer.invalid' does not resolve to an address" in printer
    assert lines[lines.index(printer) + 1] == "      -> fix printer.host"
    assert not any("cable" in line for line in lines)


@pytest.mark.parametrize(
    ("skew", "status"), [(None, "OK"), (5.0, "OK"), (-90.0, "WARN"), (700.0, "FAIL")]
)
def test_clock_is_judged_against_central(skew: float | None, status: str) -> None:
    assert clock_check(EARLIEST_PLAUSIBLE + 86400, skew).status == status


def test_a_clock_from_before_the_software_existed_fails() -> None:
    check = clock_check(0.0, None)
    assert check.status == "FAIL" and "1970-01-01" in check.detail and "NTP" in check.action


def test_the_report_is_in_the_tills_language(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """What was seen and what to do in Spanish; the names and statuses stay as data."""
    monkeypatch.setenv("BITAGORA_PRINTER_PORT", str(closed_port()))
    monkeypatch.setenv("BITAGORA_DEVICE_LANGUAGE", "es")
    try:
        assert main(["doctor", "--data-dir", str(tmp_path), "--offline", "--no-print"]) == 1
    finally:
        use("en")  # the process's language, as the other tests expect it
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("OK    config    ajustes válidos, datos en ")
    assert "      -> arranque el quiosco una vez" in lines
    assert "      -> revise la alimentación, el cable o la red y printer.*" in lines
    assert any(line.startswith("SKIP  nfc       sin lector NFC") for line in lines)
