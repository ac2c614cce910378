"""A setup file that makes a till a shop's: the first manager (their PIN erased once applied) and
the shop's catalog CSV next to it on the boot partition, applied against a real central, again
without changing anything, and an edited catalog file imported again."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from provision_helpers import CATALOG, device_root, shop_setup

from appliance.cli import main
from appliance.provision.apply import add_manager
from appliance.provision.setup_file import SetupError, read_setup
from appliance.provision.status import read_status
from appliance.store import catalog, catalog_versions, journal
from appliance.store import staff as staff_store
from appliance.store.db import open_db
from bitagora_protocol.catalog_csv import parse_catalog

REPO = Path(__file__).resolve().parent.parent
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nobody listens


async def staff_and_catalog(data_dir: Path) -> tuple[list[tuple[str, str, str, str]], dict]:  # type: ignore[type-arg]
    """Everyone on the till (with their PIN hash) and the catalog: version, prices by sku, and
    the journal's head."""
    conn = await open_db(data_dir / "appliance.sqlite3")
    try:
        people = await conn.execute_fetchall(
            "SELECT id, name, role, pin_hash FROM staff ORDER BY id"
        )
        version = await catalog_versions.current_version(conn)
        prices = {item.sku: item.price for item in await catalog.catalog_items(conn)}
        head, _hash = await journal.tail(conn)
    finally:
        await conn.close()
    return [tuple(row) for row in people], {  # type: ignore[misc]
        "version": version.version,
        "prices": prices,
        "head": head,
    }


async def catalog_records(data_dir: Path) -> list[dict]:  # type: ignore[type-arg]
    conn = await open_db(data_dir / "appliance.sqlite3")
    try:
        return [r.body async for r in journal.iterate(conn) if r.kind == "catalog"]
    finally:
        await conn.close()


async def test_the_first_manager_and_the_catalog_come_from_the_boot_partition(
    central_server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device = device_root(tmp_path)
    code = await central_server.make_code("Mercearia Rosa")
    device.write_setup(central_server.base_url, code, shop_setup())
    (device.setup.parent / "catalog.csv").write_text(CATALOG, encoding="utf-8")

    assert await device.provision() == 0

    people, shop = await staff_and_catalog(device.data_dir)
    assert [row[:3] for row in people] == [("marta", "Marta Silva", "manager")]
    assert shop["version"] == 1
    assert shop["prices"] == {"pao": 195, "leite": 89, "vinho": 650}
    (record,) = await catalog_records(device.data_dir)
    assert record["by"] == {"via": "provision"}
    assert record["source"]["name"] == "catalog.csv"
    # The PIN is erased like the other secrets; the rest stays as written.
    left = device.setup.read_text()
    assert "2580" not in left and code not in left
    assert re.search(r"^# pin = \(erased after provisioning on .+ UTC\)$", left, re.M)
    assert 'name = "Marta Silva"' in left and 'file = "catalog.csv"' in left
    status = read_status(device.data_dir)
    assert status is not None and status.ok and status.catalog_sha256

    # The same files again: nothing to do, nothing written.
    capsys.readouterr()
    assert await device.provision() == 0
    assert "already applied" in capsys.readouterr().out
    assert await staff_and_catalog(device.data_dir) == (people, shop)

    # An edited setup file (the printer, say) is applied again; the manager and the catalog,
    # unchanged, are left as the till has them.
    device.setup.write_text(left + '\n[printer]\nkind = "network"\nhost = "192.168.1.50"\n')
    assert await device.provision() == 0
    assert "192.168.1.50" in device.config.read_text()
    assert await staff_and_catalog(device.data_dir) == (people, shop)

    # The shop imports its own catalog by hand: a reboot with the same files does not put the
    # card's back.
    own = tmp_path / "own.csv"
    own.write_text(CATALOG.replace("1.95", "2.05"), encoding="utf-8")
    assert (
        await asyncio.to_thread(
            main, ["catalog", "import", str(own), "--data-dir", str(device.data_dir)]
        )
        == 0
    )
    assert await device.provision() == 0
    _, after = await staff_and_catalog(device.data_dir)
    assert (after["version"], after["prices"]["pao"]) == (2, 205)

    # The catalog file on the card edited: imported again, and nothing else of the setup.
    config = device.config.read_text()
    setup = device.setup.read_text()
    (device.setup.parent / "catalog.csv").write_text(
        CATALOG.replace("0.89", "0.95"), encoding="utf-8"
    )
    capsys.readouterr()
    assert await device.provision() == 0
    assert "catalog catalog.csv imported again" in capsys.readouterr().out
    people_now, latest = await staff_and_catalog(device.data_dir)
    assert people_now == people
    assert (latest["version"], latest["prices"]) == (3, {"pao": 195, "leite": 95, "vinho": 650})
    assert device.config.read_text() == config and device.setup.read_text() == setup
    assert await device.provision() == 0  # and once only
    assert (await staff_and_catalog(device.data_dir))[1] == latest

    # A bad edit is refused whole, by line and column, and the till keeps selling version 3.
    good = (device.setup.parent / "catalog.csv").read_text(encoding="utf-8")
    (device.setup.parent / "catalog.csv").write_text(good + "sal,Sal,Mercearia,1.005,6,yes,\n")
    assert await device.provision() == 1
    status = read_status(device.data_dir)
    assert status is not None and status.step == "catalog"
    assert "line 5, price" in status.message and "correct catalog.csv" in status.message
    assert (await staff_and_catalog(device.data_dir))[1] == latest
    (device.setup.parent / "catalog.csv").write_text(good)
    assert await device.provision() == 0
    assert (await staff_and_catalog(device.data_dir))[1] == latest


async def test_a_bad_catalog_fails_first_boot_by_line_and_column_and_keeps_the_secrets(
    tmp_path: Path,
) -> None:
    device = device_root(tmp_path)
    device.write_setup(UNREACHABLE, "ABCD-EFGH-JKMN", shop_setup())
    catalog_file = device.setup.parent / "catalog.csv"
    catalog_file.write_text(
        CATALOG + "queijo,Queijo,Mercearia,4.50,0.06,yes,\nleite,Leite,Mercearia,1,6,yes,\n",
        encoding="utf-8",
    )

    assert await device.provision() == 1

    status = read_status(device.data_dir)
    assert status is not None and status.step == "catalog"
    assert "catalog.csv: catalog file refused (2 problems; nothing was changed)" in status.message
    assert "line 5, tax_percent" in status.message
    assert "line 6, sku: leite is also on line 3" in status.message
    assert "correct catalog.csv on the card's BOOT partition" in status.message
    assert "2580" in device.setup.read_text()  # kept until everything is applied
    people, shop = await staff_and_catalog(device.data_dir)
    assert [row[0] for row in people] == ["marta"]  # the till can be unlocked meanwhile
    assert shop["version"] == 0 and shop["prices"] == {}

    # Corrected on the card: the catalog goes in; central is still out of reach.
    catalog_file.write_text(CATALOG, encoding="utf-8")
    assert await device.provision() == 1
    status = read_status(device.data_dir)
    assert status is not None and status.step == "enrollment"
    people_again, shop = await staff_and_catalog(device.data_dir)
    assert people_again == people  # the same PIN again: nothing rewritten
    assert shop["version"] == 1 and status.catalog_sha256


async def test_a_forgotten_manager_pin_is_reset_from_the_card(
    central_server, tmp_path: Path
) -> None:
    device = device_root(tmp_path)
    device.write_setup(
        central_server.base_url,
        await central_server.make_code(),
        shop_setup().replace('[catalog]\nfile = "catalog.csv"\n', ""),
    )
    assert await device.provision() == 0
    (before,), _ = await staff_and_catalog(device.data_dir)

    # The technician writes a new PIN under [manager] where the old one was erased.
    text = re.sub(r"^# pin = .*$", 'pin = "1357"', device.setup.read_text(), flags=re.M)
    device.setup.write_text(text)
    assert await device.provision() == 0

    (after,), _ = await staff_and_catalog(device.data_dir)
    assert after[:3] == before[:3] and after[3] != before[3]
    assert "1357" not in device.setup.read_text()


@pytest.mark.parametrize(
    ("more", "expected"),
    [
        ('[manager]\npin = "2580"\n', "manager.name: required in [manager]"),
        ('[manager]\nname = "Rui"\npin = "25a0"\n', "manager.pin: a PIN is 4 to 8 digits"),
        ('[manager]\nname = "Rui"\npin = 2580\n', "manager.pin: must be text in quotes"),
        ('[manager]\nname = "Rui"\nid = "rui silva"\n', "manager.id: 'rui silva' is not"),
        ('[manager]\nname = "Rui"\nrole = "cashier"\n', "manager.role: unknown setting"),
        ('[manager]\nname = "Rui"\nlanguage = "pt"\n', "manager.language: 'pt' is not one of"),
        ('[catalog]\nfile = "produtos.csv"\n', "catalog.file: 'produtos.csv': no such file"),
        ("[catalog]\n", "catalog.file: required in [catalog]"),
    ],
)
def test_the_manager_and_catalog_sections_are_checked_first(
    tmp_path: Path, more: str, expected: str
) -> None:
    setup = tmp_path / "bitagora-setup.toml"
    text = shop_setup().format(url=UNREACHABLE, code="").split("[manager]")[0]
    setup.write_text(text + more, encoding="utf-8")
    with pytest.raises(SetupError) as refused:
        read_setup(setup)
    assert any(problem.startswith(expected) for problem in refused.value.problems), (
        refused.value.problems
    )


def test_a_manager_named_only_by_name_gets_a_short_id(tmp_path: Path) -> None:
    setup = tmp_path / "bitagora-setup.toml"
    (tmp_path / "catalog.csv").write_text(CATALOG, encoding="utf-8")
    setup.write_text(
        shop_setup().format(url=UNREACHABLE, code="").replace("Marta Silva", "Élodie Dupont")
    )
    read = read_setup(setup)
    assert read.manager is not None and (read.manager.id, read.manager.name) == (
        "elodie",
        "Élodie Dupont",
    )
    assert read.catalog == tmp_path / "catalog.csv"


async def test_the_first_managers_own_language_is_kept_with_them(tmp_path: Path) -> None:
    """``[manager] language``: the screens' language at their login (the shop's when left
    out), kept with the manager; the file applied again with another changes it."""
    setup = tmp_path / "bitagora-setup.toml"
    text = shop_setup().format(url=UNREACHABLE, code="").split("[manager]")[0]
    manager = '[manager]\nname = "Rui"\npin = "2580"\nlanguage = "{language}"\n'
    conn = await open_db(tmp_path / "bitagora.db")
    try:
        for language in ("es", "es", "pt_BR"):
            setup.write_text(text + manager.format(language=language), encoding="utf-8")
            read = read_setup(setup)
            assert read.manager is not None and read.manager.language == language
            await add_manager(conn, read.manager)
            assert await staff_store.get(conn, "rui") == staff_store.Staff(
                "rui", "Rui", "manager", True, language
            )
    finally:
        await conn.close()


def test_the_technicians_guide_examples_are_taken_as_written(tmp_path: Path) -> None:
    """TECHNICIAN.md's setup file (with its first manager and catalog) and its catalog example,
    which is docs/catalog-example.csv, the file README's By hand installs."""
    guide = (REPO / "docs/TECHNICIAN.md").read_text(encoding="utf-8")
    start = guide.index("```toml\n", guide.index("## First boot")) + len("```toml\n")
    (tmp_path / "bitagora-setup.toml").write_text(guide[start : guide.index("```\n", start)])
    section = guide.index("## The shop's catalog and staff")
    start = guide.index("```\nsku,", section) + len("```\n")
    example = guide[start : guide.index("```\n", start)]
    assert example == (REPO / "docs/catalog-example.csv").read_text(encoding="utf-8")
    (tmp_path / "catalog.csv").write_text(example, encoding="utf-8")

    setup = read_setup(tmp_path / "bitagora-setup.toml")

    assert setup.manager is not None
    assert (setup.manager.id, setup.manager.name, setup.manager.pin) == (
        "marta",
        "Marta Silva",
        "2580",
    )
    assert setup.catalog == tmp_path / "catalog.csv"
    assert len(parse_catalog(example.encode("utf-8"), "EUR").items) == 5
