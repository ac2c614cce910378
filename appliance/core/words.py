"""How the pure rules speak a language without loading one: what makes words (receipts,
reports) takes a :class:`Translator`, a gettext catalog the caller loaded (appliance/i18n.py),
and the locale that writes its amounts and dates. English, the source language, needs no
catalog."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from babel.dates import format_date, format_time, get_datetime_format


class Translator(Protocol):
    def gettext(self, message: str, /) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, /) -> str: ...


class English:
    """The source strings as they are."""

    def gettext(self, message: str, /) -> str:
        return message

    def ngettext(self, singular: str, plural: str, n: int, /) -> str:
        return singular if n == 1 else plural


ENGLISH = English()


def N_(message: str) -> str:
    """Marks a constant for the catalog; it is translated where it is shown."""
    return message


def moment_text(moment: datetime, locale: str) -> str:
    """A moment on paper as ``locale`` writes it (CLDR through Babel): the medium date and the
    short time, joined the locale's way: "7 dic 2026, 14:05" (es_ES), "Dec 7, 2026, 2:05 PM"
    (en). On ``moment``'s own clock: give it in local time."""
    joined = str(get_datetime_format("medium", locale=locale))
    date = format_date(moment, "medium", locale=locale)
    time = format_time(moment, "short", locale=locale)
    return joined.replace("{1}", date).replace("{0}", time)
