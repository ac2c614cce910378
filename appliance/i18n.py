"""The device's languages: gettext catalogs (domain ``bitagora``, ``appliance/locale``) and the
locale that formats the shop's money.

Two languages are in play. The *UI language* is what the kiosk's screens speak: the device's
``[device] language`` at start (:func:`use_shop`), switched by :func:`use`. The *shop language*
is fixed by the settings and speaks on paper: receipts and reports are printed through
:func:`translations` of it, whatever the screens speak.

Strings are marked with ``_`` / ``ngettext`` (the active UI language, looked up when called) or
``N_`` (marked for extraction only, translated where shown). docs/TRANSLATING.md says how a
language is added.
"""

from __future__ import annotations

import gettext
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.numbers import get_decimal_symbol, get_group_symbol
from babel.support import NullTranslations, Translations

from bitagora_protocol.languages import LANGUAGES as LANGUAGES
from bitagora_protocol.money import Money

DOMAIN = "bitagora"
CATALOGS = Path(__file__).parent / "locale"
SOURCE_LANGUAGE = "en"


class LanguageError(ValueError):
    """A language the device has no catalog for."""


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise LanguageError(f"unsupported language {language!r} (one of {', '.join(LANGUAGES)})")
    return language


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of ``language``; English (the source strings) has none."""
    check_language(language)
    if language == SOURCE_LANGUAGE:
        return NullTranslations()
    catalog = Translations.load(CATALOGS, [language], DOMAIN)
    if not isinstance(catalog, Translations):  # a missing .mo must not pass as English
        raise LanguageError(f"no {DOMAIN} catalog for {language!r} in {CATALOGS}")
    return catalog


_active: gettext.NullTranslations = NullTranslations()
_money_locale = SOURCE_LANGUAGE


def use(language: str) -> None:
    """Make ``language`` the UI's language (at start, and at each staff login)."""
    global _active
    _active = translations(language)


def use_shop(language: str, money_locale: str) -> None:
    """At start: the shop's language for the UI, and the locale its amounts are written in
    (which a staff member's own language does not change: the money is the shop's)."""
    global _money_locale
    Locale.parse(money_locale)
    _money_locale = money_locale
    use(language)


def ui_translations() -> gettext.NullTranslations:
    """The UI language's catalog, for what takes a translator (core's labels)."""
    return _active


def money(amount: Money) -> str:
    """An amount as the shop's locale writes it: "1.234,56 €", "R$ 1.234,56"."""
    return amount.localized(_money_locale)


def decimal_symbol() -> str:
    """What the shop's locale puts before the cents (the keypad's decimal key)."""
    return get_decimal_symbol(_money_locale)


def group_symbol() -> str:
    """What the shop's locale puts between thousands."""
    return get_group_symbol(_money_locale)


def _(message: str) -> str:
    return _active.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a string for the catalog where it is defined (a constant); translate where shown."""
    return message


def money_locale(language: str, currency: str, override: str = "") -> str:
    """The CLDR locale that writes the shop's amounts and numbers.

    ``override`` (``[device] locale``, e.g. "es_EC") wins. A language with a country (pt_BR,
    pt_PT) is used as it is. Otherwise the country comes from the currency: the language's
    home country when it pays in that currency (es + EUR → es_ES), else the one country whose
    money it is and which has a locale in the language (es + MXN → es_MX, es + ARS → es_AR);
    where several do (es + USD), the bare language.
    """
    if override:
        return str(Locale.parse(override))
    if "_" in language:
        return language
    home = get_global("likely_subtags").get(language, "").rsplit("_", 1)[-1]
    users = [
        territory
        for territory, spans in get_global("territory_currencies").items()
        if any(code == currency and end is None and tender for code, _start, end, tender in spans)
    ]
    if home in users:
        return f"{language}_{home}"
    known = [t for t in sorted(users) if _exists(f"{language}_{t}")]
    return f"{language}_{known[0]}" if len(known) == 1 else language


def _exists(name: str) -> bool:
    try:
        Locale.parse(name)
    except UnknownLocaleError:
        return False
    return True
