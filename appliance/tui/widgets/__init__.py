"""Small widgets of the kiosk; each one's styles live in a ``.tcss`` file next to its module."""

from __future__ import annotations

from pathlib import Path


def tcss(module_file: str) -> str:
    """The stylesheet next to a module (``keypad.py`` → ``keypad.tcss``), for ``DEFAULT_CSS``."""
    return Path(module_file).with_suffix(".tcss").read_text(encoding="utf-8")
