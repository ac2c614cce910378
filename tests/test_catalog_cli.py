"""``bitagora catalog import|export|show`` through the command line, against a real device store:
a file becomes a version, a bad file is refused line by line and changes nothing, export → import
changes nothing, and the store is never written as root when it belongs to the services' user."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from store_helpers import open_device

from appliance.cli import main

HEADER = "sku,name,category,price,tax_percent,price_includes_tax,barcodes"
CAFE = (
    HEADER + ",position,active\n"
    "espresso,Espresso,Drinks,1.80,10,yes,4006381333931,0,yes\n"
    "water,Água mineral,Drinks,1.50,10,yes,036000291452,1,yes\n"
    "old,Old cake,Bakery,2.00,10,yes,,0,no\n"
    "mug,BitAgora mug,Merch,12.00,21,yes,4012345678901,0,yes\n"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A device's data folder with its key and store, as enrollment or the kiosk leaves it."""

    async def make() -> None:
        conn, _identity = await open_device(tmp_path / "device")
        await conn.close()

    asyncio.run(make())
    return tmp_path / "device"


def catalog(data_dir: Path, *args: str) -> int:
    return main(["catalog", *args, "--data-dir", str(data_dir)])


def shown(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert catalog(data_dir, "show", "--json") == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_import_show_export_and_import_back(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert catalog(data_dir, "show") == 0
    assert "no products yet: import the shop's catalog" in capsys.readouterr().out

    source = tmp_path / "cafe.csv"
    source.write_text("".join(f"{row},n\n" for row in CAFE.splitlines()), encoding="utf-8")
    assert catalog(data_dir, "import", str(source)) == 0
    out = capsys.readouterr().out
    assert out.startswith("cafe.csv: catalog version 1 (4 products: 4 added, 0 changed, 0 removed)")
    assert out.rstrip().endswith("columns not used: n")

    assert catalog(data_dir, "show") == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("catalog version 1 (sha256 ")
    assert text[1] == "4 products, 3 for sale"
    assert sorted(line.split() for line in text[2:]) == [["Drinks", "2"], ["Merch", "1"]]

    state = shown(data_dir, capsys)
    assert (state["version"], state["products"], state["for_sale"]) == (1, 4, 3)
    assert {item["sku"]: item["price"] for item in state["items"]} == {
        "espresso": 180,
        "water": 150,
        "old": 200,
        "mug": 1200,
    }

    exported = tmp_path / "usb" / "export.csv"
    exported.parent.mkdir()
    assert catalog(data_dir, "export", "--out", str(exported)) == 0
    assert f"4 products written to {exported} (catalog version 1)" in capsys.readouterr().out
    assert "0036000291452" in exported.read_text(encoding="utf-8")  # the UPC as stored

    # Export → import: the same catalog, so the same version and no new record.
    assert catalog(data_dir, "import", str(exported)) == 0
    assert "export.csv: the catalog is already this one (version 1)" in capsys.readouterr().out
    assert shown(data_dir, capsys) == state

    # The device options may come before the action too.
    cheaper = tmp_path / "cheaper.csv"
    cheaper.write_text(CAFE.replace("1.80", "1.70"), encoding="utf-8")
    assert main(["catalog", "--data-dir", str(data_dir), "import", str(cheaper)]) == 0
    assert "catalog version 2 (4 products: 0 added, 1 changed, 0 removed)" in (
        capsys.readouterr().out
    )


def test_every_bad_row_is_named_by_line_and_column_and_nothing_changes(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(CAFE, encoding="utf-8")
    assert catalog(data_dir, "import", str(good)) == 0
    before = shown(data_dir, capsys)

    bad = tmp_path / "bad.csv"
    bad.write_text(
        CAFE
        + "tea,Tea,Drinks,€1.50,10,yes,,2,yes\n"  # line 6
        + "cake,Cake,Bakery,2.00,10,yes,4.00638E+12,1,yes\n"  # line 7
        + "espresso,Espresso again,Drinks,1.80,10,yes,,3,yes\n",  # line 8
        encoding="utf-8",
    )
    assert catalog(data_dir, "import", str(bad)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert f"error: {bad}: catalog file refused (3 problems; nothing was changed):" in err
    assert "line 6, price: '€1.50' is not a number" in err
    assert "line 7, barcodes: 4.00638E+12 is a number a spreadsheet rewrote" in err
    assert "line 8, sku: espresso is also on line 2" in err
    assert shown(data_dir, capsys) == before


def test_a_spreadsheets_semicolon_file_with_a_bom_is_taken(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    excel = tmp_path / "excel.csv"
    rows = [line.split(",") for line in CAFE.splitlines()]
    text = "\r\n".join(";".join(cell.replace("1.80", "1,80") for cell in row) for row in rows)
    excel.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8") + b"\r\n;;;;;;;;\r\n")
    assert catalog(data_dir, "import", str(excel)) == 0
    assert "catalog version 1 (4 products" in capsys.readouterr().out
    items = {item["sku"]: item for item in shown(data_dir, capsys)["items"]}
    assert items["espresso"]["price"] == 180


def test_what_cannot_be_done_is_said_in_one_line(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.csv"
    assert catalog(data_dir, "import", str(missing)) == 1
    assert capsys.readouterr().err == (
        f"error: cannot read the catalog file: {missing}: no such file\n"
    )
    assert catalog(data_dir, "import", str(tmp_path)) == 1
    assert "is a folder, not a file" in capsys.readouterr().err

    # A mistyped --data-dir makes no device.
    elsewhere = tmp_path / "typo"
    assert catalog(elsewhere, "show") == 1
    err = capsys.readouterr().err
    assert f"no device store at {elsewhere / 'appliance.sqlite3'}" in err
    assert "bitagora uplink enroll" in err
    assert not (elsewhere / "appliance.sqlite3").exists()

    # argparse's own refusals: no file, no --out.
    with pytest.raises(SystemExit) as done:
        catalog(data_dir, "export")
    assert done.value.code == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="the refusal is for root")
def test_root_is_refused_on_the_service_users_store(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The data folder belongs to the services' user (uid 4242 here; systemd's tmpfiles makes
    # /var/lib/bitagora bitagora's): files root left there would stop the kiosk.
    os.chown(data_dir, 4242, 4242)
    source = tmp_path / "cafe.csv"
    source.write_text(CAFE, encoding="utf-8")
    files = sorted(p.name for p in data_dir.iterdir())
    for args in (("import", str(source)), ("show",), ("export", "--out", str(tmp_path / "x"))):
        assert catalog(data_dir, *args) == 1
        err = capsys.readouterr().err
        assert "run as the user the services run as (4242), not as root" in err
        assert "sudo -u 4242 /opt/bitagora/current/bin/bitagora" in err
    assert sorted(p.name for p in data_dir.iterdir()) == files
    assert not (tmp_path / "x").exists()
