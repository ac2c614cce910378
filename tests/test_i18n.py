"""The device's language setting and the locale its money is written in (appliance/i18n.py)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from appliance.config import ConfigError, load_settings
from appliance.core.words import moment_text
from appliance.i18n import money_locale, translations
from appliance.provision.setup_file import SetupError, read_setup
from bitagora_protocol.money import Money


@pytest.mark.parametrize(
    ("language", "currency", "override", "locale", "written"),
    [
        ("es", "EUR", "", "es_ES", "1.234,56\u00a0€"),
        ("es", "MXN", "", "es_MX", "$1,234.56"),
        ("es", "ARS", "", "es_AR", "$1.234,56"),
        ("es", "CLP", "", "es_CL", "$123.456"),
        ("pt_BR", "BRL", "", "pt_BR", "R$\u00a01.234,56"),
        ("pt_PT", "EUR", "", "pt_PT", "1\u00a0234,56\u00a0€"),
        ("en", "USD", "", "en_US", "$1,234.56"),
        ("es", "USD", "", "es", "1.234,56\u00a0US$"),  # several countries: the bare language
        ("es", "USD", "es_EC", "es_EC", "$1.234,56"),  # unless the setting names one
    ],
)
def test_the_money_locale_comes_from_language_and_currency(
    language: str, currency: str, override: str, locale: str, written: str
) -> None:
    assert money_locale(language, currency, override) == locale
    assert Money(123456, currency).localized(locale) == written


@pytest.mark.parametrize(
    ("language", "cash", "change"),
    [("en", "Cash", "Change"), ("es", "Efectivo", "Cambio"), ("pt_BR", "Dinheiro", "Troco"),
     ("pt_PT", "Numerário", "Troco")],
)  # fmt: skip
def test_each_language_has_its_shop_words(language: str, cash: str, change: str) -> None:
    words = translations(language)
    assert (words.gettext("Cash"), words.gettext("Change")) == (cash, change)


def test_the_language_is_a_setting_checked_at_start(tmp_path: Path) -> None:
    env = {"BITAGORA_DEVICE_LANGUAGE": "pt_BR", "BITAGORA_DEVICE_CURRENCY": "BRL"}
    device = load_settings(tmp_path, env=env).device
    assert (device.language, device.money_locale) == ("pt_BR", "pt_BR")
    with pytest.raises(ConfigError, match=r"device.language: 'pt' is not one of .*pt_BR"):
        load_settings(tmp_path, env={"BITAGORA_DEVICE_LANGUAGE": "pt"})
    with pytest.raises(ConfigError, match="device.locale: unknown locale 'xx_YY'"):
        load_settings(tmp_path, env={"BITAGORA_DEVICE_LOCALE": "xx_YY"})


SETUP = """
[device]
merchant_name = "Padaria Central"
currency = "BRL"
language = "{language}"

[central]
url = "https://central.example.com"
"""


def test_the_setup_file_sets_the_language(tmp_path: Path) -> None:
    path = tmp_path / "bitagora-setup.toml"
    path.write_text(SETUP.format(language="pt_BR"), encoding="utf-8")
    assert read_setup(path).config["device"]["language"] == "pt_BR"
    path.write_text(SETUP.format(language="br"), encoding="utf-8")
    with pytest.raises(SetupError, match="device.language"):
        read_setup(path)


@pytest.mark.parametrize(
    ("locale", "written"),
    [
        ("es_ES", "7 dic 2026, 14:05"),
        ("pt_BR", "7 de dez. de 2026 14:05"),
        ("pt_PT", "07/12/2026, 14:05"),
        ("en", "Dec 7, 2026, 2:05\u202fPM"),
    ],
)
def test_receipts_and_reports_write_a_moment_as_the_shops_locale_does(
    locale: str, written: str
) -> None:
    assert moment_text(datetime(2026, 12, 7, 14, 5), locale) == written
