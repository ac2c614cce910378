"""The language of central's pages and the locale of their amounts and dates.

A page speaks the user's own language (``web_users.language``, set on the Account page or by
ops), else the best of the browser's ``Accept-Language`` that central has, else English. The
messages are the gettext domain ``central`` (``central/locale/<language>/LC_MESSAGES``,
docs/TRANSLATING.md). The language of a request lives in a context variable: set from
``Accept-Language`` by ``LanguageMiddleware`` for every request, then from the user's setting
once the page knows who asks (``central.web_auth``), so that ``_()`` in a handler and
``{% trans %}`` in a template need no request passed around.

Amounts and dates on a merchant's pages are written as the page's language writes them in the
merchant's country (``es`` in ``MX`` → ``es_MX``: "$1,234.56"; ``es`` in ``ES``: "1.234,56 €").
"""

from __future__ import annotations

import functools
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
from babel import Locale, localedata
from babel.core import negotiate_locale
from babel.dates import format_datetime
from babel.support import NullTranslations, Translations
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from bitagora_protocol.languages import LANGUAGES as TILL_LANGUAGES
from bitagora_protocol.money import Money, MoneyError

DOMAIN = "central"
LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
# The languages central's pages are translated into (a catalog each, but English, the source).
LANGUAGES = ("en", "es", "pt_BR", "pt_PT")

_BY_LOWER = {name.lower(): name for name in LANGUAGES}
_language: ContextVar[str] = ContextVar("central_language", default=DEFAULT)


@functools.cache
def translations(language: str) -> NullTranslations:
    """The catalog of ``language``; English (or a missing catalog) gives the messages as written."""
    return Translations.load(str(LOCALE_DIR), [language], DOMAIN)


def gettext(message: str) -> str:
    return translations(_language.get()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(_language.get()).ngettext(singular, plural, n)


_ = gettext


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; ``_()`` translates it when shown."""
    return message


def language() -> str:
    """The language of the request being answered."""
    return _language.get()


def activate(wanted: str) -> None:
    """Answer the rest of this request in ``wanted`` (one of ``LANGUAGES``)."""
    _language.set(wanted if wanted in LANGUAGES else DEFAULT)


def negotiate(setting: str | None, accept_language: str | None) -> str:
    """The user's own setting, else the browser's first language central has, else English.
    ``pt`` alone is taken as Portugal's, ``es-MX`` as Spanish (Babel's ``negotiate_locale``)."""
    if setting in LANGUAGES:
        return setting
    wanted = [tag.replace("-", "_") for tag in browser_languages(accept_language or "")]
    found = negotiate_locale(wanted, LANGUAGES)
    # Babel answers in the browser's spelling ("pt_br"): back to central's.
    return _BY_LOWER[found.lower()] if found else DEFAULT


def browser_languages(header: str) -> list[str]:
    """``Accept-Language``'s tags, most wanted first (``q=0`` ones dropped)."""
    weighted = []
    for position, part in enumerate(header.split(",")):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag.strip()))
    return [tag for _q, _p, tag in sorted(weighted)]


def tag(language: str) -> str:
    """The language as HTML's ``lang`` attribute writes it: ``pt-BR``."""
    return language.replace("_", "-")


def display_name(language: str) -> str:
    """A language's name in itself, as a menu shows it: "Español", "Português (Brasil)"."""
    name = Locale.parse(language).get_display_name(language) or language
    return name[:1].upper() + name[1:]


def till_language_choices() -> list[tuple[str, str]]:
    """(value, name) of each language the tills speak (``bitagora_protocol.languages``), each
    named in itself: what a shop's or a staff member's language may be."""
    return [(code, display_name(code)) for code in TILL_LANGUAGES]


def till_language(value: str) -> str | None:
    """A form's shop or staff language: "" is not set (None); else one the tills speak, or
    ``ValueError``."""
    if value and value not in TILL_LANGUAGES:
        raise ValueError(value)
    return value or None


def locale_for(country: str | None) -> str:
    """The Babel locale a merchant's page writes amounts and dates in: the page's language as
    spoken in the merchant's country when CLDR knows that pair, else the language alone."""
    spoken = language().split("_")[0]
    if country and localedata.exists(f"{spoken}_{country}"):
        return f"{spoken}_{country}"
    return language()


async def merchant_locale(conn: asyncpg.Connection, merchant_id: int) -> str:
    """``locale_for`` the merchant's country (``merchants.country``)."""
    country = await conn.fetchval("SELECT country FROM merchants WHERE id = $1", merchant_id)
    return locale_for(country)


def money(minor: int, currency: str, locale: str) -> str:
    try:
        return Money(minor, currency).localized(locale)
    except MoneyError:
        # A currency this build has no exponent for: minor units plainly.
        return _("%(minor)s %(currency)s (minor units)") % {"minor": minor, "currency": currency}


def when(moment: datetime, locale: str, zone: str | None = None) -> str:
    """A moment as the locale writes it (medium date and time), on ``zone``'s clock."""
    return format_datetime(moment, "medium", tzinfo=ZoneInfo(zone) if zone else None, locale=locale)


class LanguageMiddleware:
    """Answers every request in the browser's language until the page knows its user."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _language.set(negotiate(None, Headers(scope=scope).get("accept-language")))
        try:
            await self.app(scope, receive, send)
        finally:
            _language.reset(token)
