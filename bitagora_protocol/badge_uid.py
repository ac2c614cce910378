"""A staff badge's card UID as the till and central both keep it: upper-case hex, no separators.

A till binds badges tapped on its reader; central's staff page takes UIDs typed from a card's
label or a reader's display. Both must write a UID the same way for the device to find it."""

from __future__ import annotations

import re


class BadgeUidError(ValueError):
    """Text that is not a card UID."""


def normalize_uid(uid: str) -> str:
    """``04:a2:24:…`` or ``04A224…`` → ``04A224…``; a card UID is 4, 7 or 10 bytes."""
    cleaned = re.sub(r"[\s:-]", "", uid).upper()
    if not re.fullmatch(r"[0-9A-F]*", cleaned) or len(cleaned) not in (8, 14, 20):
        raise BadgeUidError(f"{uid!r} is not a card UID (4, 7 or 10 bytes in hex)")
    return cleaned
