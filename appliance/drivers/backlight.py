"""The display's backlight, through the kernel's backlight class (/sys/class/backlight/*).

Two files can darken a panel: ``bl_power`` (0 = on, 4 = FB_BLANK_POWERDOWN) and ``brightness``
(0 = dark; the level before is remembered and put back). Which one is the path's file name, so
tests point it at a temporary file. The writes are a few bytes to sysfs, done in place.
"""

from __future__ import annotations

from pathlib import Path

POWER_ON, POWER_DOWN = "0", "4"


class BacklightError(OSError):
    """The backlight file could not be written; the message names it."""


class Backlight:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._brightness = ""  # the level to put back (brightness files)

    def off(self) -> None:
        if self.path.name == "brightness":
            self._brightness = self._read() or self._brightness
            self._write("0")
        else:
            self._write(POWER_DOWN)

    def on(self) -> None:
        if self.path.name == "brightness":
            self._write(self._brightness or self._read_max())
        else:
            self._write(POWER_ON)

    def _read(self) -> str:
        value = self._read_file(self.path)
        return "" if value == "0" else value

    def _read_max(self) -> str:
        return self._read_file(self.path.with_name("max_brightness")) or "255"

    def _read_file(self, path: Path) -> str:
        try:
            return path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return ""
        except OSError as err:
            raise BacklightError(f"backlight {path}: {err.strerror}") from None

    def _write(self, value: str) -> None:
        try:
            self.path.write_text(value + "\n", encoding="ascii")
        except OSError as err:
            raise BacklightError(f"backlight {self.path}: {err.strerror}") from None
