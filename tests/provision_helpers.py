"""Helpers for the provisioning tests (no tests here): a device's root folder with a setup file on
its boot partition, and ``bitagora provision`` / ``factory-reset`` run as the command line runs
them (in a thread, so the test's event loop keeps serving central meanwhile)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.cli import main

SETUP = """\
# The corner café's till.
[device]
merchant_name = "Café Lisboa"
currency = "EUR"

[central]
url = "{url}"
enrollment_code = "{code}"

[wifi]
ssid = "Cafe Lisboa"
passphrase = "pastel-de-nata-42"
country = "PT"

[system]
timezone = "Europe/Lisbon"
locale = "pt_PT.UTF-8"

[printer]
kind = "file"
file_path = "/dev/usb/lp0"
paper_mm = 58

[drawer]
kind = "printer"

[card]
kind = "stripe_terminal"
api_key = "rk_test_provisioned_secret"
reader_id = "tmr_FDOt2wlRZEdpd7"
"""

# A shop's own till: its first manager and its catalog CSV next to the setup file.
SHOP_SETUP = """\
[device]
merchant_name = "Mercearia Rosa"
currency = "EUR"

[central]
url = "{url}"
enrollment_code = "{code}"

[manager]
name = "Marta Silva"
pin = "2580"

[catalog]
file = "catalog.csv"
{more}"""

CATALOG = """\
sku,name,category,price,tax_percent,price_includes_tax,barcodes
pao,Pão de forma,Padaria,1.95,6,yes,5601234567892
leite,Leite meio-gordo 1 l,Mercearia,0.89,6,yes,5609876543212
vinho,Vinho tinto,Bebidas,6.50,23,yes,
"""


def shop_setup(more: str = "") -> str:
    """The shop's setup file, ``more`` added at its end; ``{url}`` and ``{code}`` are left for
    ``DeviceRoot.write_setup`` to fill in."""
    return SHOP_SETUP.replace("{more}", more)


@dataclass(frozen=True)
class DeviceRoot:
    """A device's file system in a folder: /boot/firmware, /etc, /var/lib/bitagora."""

    root: Path
    data_dir: Path

    @property
    def setup(self) -> Path:
        return self.root / "boot/firmware/bitagora-setup.toml"

    @property
    def config(self) -> Path:
        return self.root / "etc/bitagora/appliance.toml"

    @property
    def key(self) -> Path:
        return self.data_dir / "identity/device_key.pem"

    def write_setup(self, url: str, code: str, text: str = SETUP) -> None:
        self.setup.parent.mkdir(parents=True, exist_ok=True)
        self.setup.write_text(text.format(url=url, code=code), encoding="utf-8")

    def args(self) -> list[str]:
        return ["--root", str(self.root), "--data-dir", str(self.data_dir)]

    async def provision(self, *extra: str) -> int:
        argv = ["provision", "--from-boot", *self.args(), "--owner", "", "--network-wait", "0"]
        return await asyncio.to_thread(main, [*argv, *extra])

    async def provision_typed(self, monkeypatch, answers: dict[str, str], *extra: str) -> int:
        """``bitagora provision`` answering its questions: each prompt that starts with a key of
        ``answers`` gets its value, every other one Enter (the default)."""

        def reply(prompt: str = "") -> str:
            return next((value for key, value in answers.items() if prompt.startswith(key)), "")

        monkeypatch.setattr("builtins.input", reply)
        monkeypatch.setattr("getpass.getpass", reply)  # the code and the passphrase
        argv = ["provision", *self.args(), "--owner", "", "--network-wait", "0"]
        return await asyncio.to_thread(main, [*argv, *extra])

    async def factory_reset(self, *extra: str) -> int:
        return await asyncio.to_thread(main, ["factory-reset", *self.args(), *extra])


def device_root(tmp_path: Path) -> DeviceRoot:
    return DeviceRoot(tmp_path / "root", tmp_path / "device")


async def provisioned_device(tmp_path: Path, central: Any) -> DeviceRoot:
    """A device set up at first boot from the example setup file and enrolled with ``central``
    (the test server of conftest.py)."""
    device = device_root(tmp_path)
    device.write_setup(central.base_url, await central.make_code())
    assert await device.provision() == 0
    return device


def checked(report: str) -> set[str]:
    """The names of the checks in a ``bitagora doctor`` report."""
    return set(re.findall(r"^[A-Z]+ +(\S+)", report, re.M))
