"""Provisioning's files under attack or in odd shapes: links planted in the state folder the
services' user owns, secrets written in ways a line scan cannot erase, a byte order mark, and
failures after the system was written that must still end in a status in words."""

from __future__ import annotations

import os
import pwd
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from provision_helpers import SETUP, device_root

from appliance.provision.apply import Target, provision_file
from appliance.provision.host import Host
from appliance.provision.setup_file import SetupError, erase_secrets, read_setup
from appliance.provision.status import read_status

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nobody listens
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the state over")


def victim(tmp_path: Path) -> Path:
    """A file outside the state folder that root must never write or give away."""
    path = tmp_path / "shadow"
    path.write_text("root:secret\n")
    os.chmod(path, 0o640)
    return path


def owner(path: Path) -> int:
    return path.stat().st_uid


def untouched(path: Path) -> bool:
    info = path.stat()
    return (
        path.read_text() == "root:secret\n"
        and stat.S_IMODE(info.st_mode) == 0o640
        and (info.st_uid, info.st_gid) == (os.getuid(), os.getgid())
    )


async def test_a_link_planted_as_the_status_temporary_file_is_not_followed(
    tmp_path: Path,
) -> None:
    device = device_root(tmp_path)
    target = victim(tmp_path)
    device.data_dir.mkdir(parents=True)
    (device.data_dir / ".provision.json.new").symlink_to(target)
    device.write_setup(UNREACHABLE, "ABCD-EFGH-JKMN", SETUP.replace("file", "laser", 1))

    assert await device.provision() == 1

    assert untouched(target)
    status_file = device.data_dir / "provision.json"
    assert not status_file.is_symlink() and stat.S_IMODE(status_file.stat().st_mode) == 0o600
    status = read_status(device.data_dir)
    assert status is not None and status.step == "setup file"


@as_root
async def test_handing_the_state_over_gives_away_no_file_a_link_points_at(
    tmp_path: Path,
) -> None:
    device = device_root(tmp_path)
    target = victim(tmp_path)
    (device.data_dir / "logs").mkdir(parents=True)
    (device.data_dir / "logs/kiosk.log").symlink_to(target)
    (device.data_dir / "logs/etc").symlink_to(tmp_path, target_is_directory=True)
    device.write_setup(UNREACHABLE, "ABCD-EFGH-JKMN", SETUP.replace("file", "laser", 1))

    assert await device.provision("--owner", "nobody") == 1

    assert untouched(target)
    assert owner(tmp_path) == os.getuid()  # a linked folder is not entered either
    nobody = pwd.getpwnam("nobody").pw_uid
    assert owner(device.data_dir / "provision.json") == owner(device.data_dir / "logs") == nobody


async def test_handing_over_to_a_missing_user_ends_in_a_status_in_words(tmp_path: Path) -> None:
    device = device_root(tmp_path)
    device.write_setup(UNREACHABLE, "ABCD-EFGH-JKMN", SETUP.replace("file", "laser", 1))
    target = Target(Host(device.root), device.data_dir, owner="no-such-user", network_wait_s=0)

    status = await provision_file(device.setup, target)

    assert status.state == "failed" and read_status(device.data_dir) == status
    assert "printer.kind: 'laser' is not supported" in status.message  # the first failure stays
    if os.geteuid() == 0:  # only root hands the state over
        assert "user 'no-such-user' does not exist" in status.message


SHOP = '[device]\nmerchant_name = "Café Lisboa"\n\n[central]\nurl = "{url}"\n'
WIFI = '[wifi]\nssid = "Cafe"\ncountry = "PT"\n'


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (SHOP + 'enrollment_code = """\nABCD-EFGH-JKMN"""\n', "central.enrollment_code"),
        (SHOP + '"enrollment_code" = "ABCD-EFGH-JKMN"\n', "central.enrollment_code"),
        (SHOP + WIFI + "passphrase = '''\npastel-de-nata-42'''\n", "wifi.passphrase"),
        (
            'wifi = {{ ssid = "Cafe", passphrase = "pastel-de-nata-42", country = "PT" }}\n' + SHOP,
            "wifi.passphrase",
        ),
        (
            'wifi.ssid = "Cafe"\nwifi.passphrase = "pastel-de-nata-42"\nwifi.country = "PT"\n'
            + SHOP,
            "wifi.passphrase",
        ),
    ],
    ids=["multi-line", "quoted key", "multi-line literal", "inline table", "dotted keys"],
)
async def test_a_secret_the_scan_cannot_erase_is_refused_before_anything_is_written(
    tmp_path: Path, text: str, key: str
) -> None:
    device = device_root(tmp_path)
    device.write_setup(UNREACHABLE, "", text)

    with pytest.raises(SetupError) as caught:
        read_setup(device.setup)
    section, name = key.split(".")
    assert caught.value.problems == [
        f"{key}: cannot be erased from this file once applied as written; put it on a line of "
        f'its own under [{section}], as {name} = "…" (not a multi-line string, an inline table, '
        "a dotted or a quoted key)"
    ]
    # First boot stops there: no system file, no key, and a status saying why.
    assert await device.provision() == 1
    status = read_status(device.data_dir)
    assert status is not None and status.step == "setup file" and key in status.message
    assert not device.config.exists() and not device.key.exists()


def test_a_setup_file_saved_by_notepad_reads_and_loses_its_secrets(tmp_path: Path) -> None:
    device = device_root(tmp_path)
    device.write_setup(UNREACHABLE, "ABCD-EFGH-JKMN")
    device.setup.write_bytes(b"\xef\xbb\xbf" + device.setup.read_bytes())

    setup = read_setup(device.setup)
    assert setup.enrollment_code == "ABCD-EFGH-JKMN" and setup.merchant_name == "Café Lisboa"

    erase_secrets(device.setup, datetime(2026, 11, 29, 9, 12, tzinfo=UTC))
    left = device.setup.read_bytes()
    assert left.startswith(b"# Applied by bitagora provision on 2026-11-29 09:12 UTC")
    for secret in (b"ABCD-EFGH-JKMN", b"pastel-de-nata-42", b"rk_test_provisioned_secret"):
        assert secret not in left
    # Still a setup file, the card's key now standing in from the credentials.
    again = read_setup(device.setup, {"card.api_key": "rk_test_provisioned_secret"})
    assert again.wifi is not None and again.wifi.passphrase == "" and again.enrollment_code == ""


async def test_a_bad_setting_kept_from_before_is_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    device = device_root(tmp_path)
    device.write_setup(UNREACHABLE, "ABCD-EFGH-JKMN")
    device.config.parent.mkdir(parents=True)
    device.config.write_text('[touch]\nmax_x = "wide"\n')  # edited by hand, wrongly

    assert await device.provision() == 1

    status = read_status(device.data_dir)
    assert status is not None and status.step == "system files"
    assert "touch.max_x: expected an integer, got 'wide'" in status.message
    assert f"correct or remove these in {device.config}" in status.message
    assert device.config.read_text() == '[touch]\nmax_x = "wide"\n'
    assert not (device.root / "etc/bitagora/credentials").exists()


def test_the_setup_file_sets_the_cash_rounding(tmp_path: Path) -> None:
    device = device_root(tmp_path)
    device.write_setup(UNREACHABLE, "ABCD-EFGH-JKMN")
    text = device.setup.read_text()
    device.setup.write_text(text.replace('currency = "EUR"', 'currency = "EUR"\ncash_rounding = 5'))
    assert read_setup(device.setup).config["device"]["cash_rounding"] == 5
    device.setup.write_text(text.replace('currency = "EUR"', 'currency = "EUR"\ncash_rounding = 0'))
    with pytest.raises(SetupError, match=r"device.cash_rounding: 0 must be 1..1000"):
        read_setup(device.setup)
