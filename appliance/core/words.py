"""How the pure rules speak a language without loading one: what makes words (receipts,
reports) takes a :class:`Translator`, a gettext catalog the caller loaded (appliance/i18n.py),
and the locale that writes its amounts. English, the source language, needs no catalog."""

from __future__ import annotations

from typing import Protocol


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
