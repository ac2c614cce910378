"""The languages a device speaks (a gettext catalog each, but English, the source): the ones a
configuration document's ``language`` keys may name (docs/PROTOCOL.md 2.6)."""

from __future__ import annotations

LANGUAGES = ("en", "es", "pt_BR", "pt_PT")
