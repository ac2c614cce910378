"""appliance/logs.py: ``extra`` fields reach the log line, the kiosk's file rotates, libraries
stay quiet at INFO. (That no secret reaches a log: tests/test_demo.py.)"""

from __future__ import annotations

import io
import logging
import logging.handlers
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance import logs
from appliance.logs import FieldsFormatter, log_to_file, log_to_stderr


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger with no handler, as at a process start; pytest's handlers are put back
    after (entered in the test itself: pytest adds them after the fixtures are set up)."""
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logs.NOISY_LOGGERS}
    root.handlers.clear()
    try:
        yield root
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
            handler.close()
        root.handlers[:] = saved
        root.setLevel(level)
        for name, was in levels.items():
            logging.getLogger(name).setLevel(was)


def _last_line(stream: io.StringIO) -> str:
    return stream.getvalue().splitlines()[-1]


def test_extra_fields_are_printed_as_key_value_pairs() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(FieldsFormatter())
    logger = logging.getLogger("test.logs.fields")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        logger.warning(
            "drawer GPIO setup failed",
            extra={"error": "no access to /dev/gpiochip0", "pin": 17, "device": "drawer"},
        )
        line = _last_line(stream)
        assert line.endswith(
            ' WARNING test.logs.fields drawer GPIO setup failed error="no access to '
            '/dev/gpiochip0" pin=17 device=drawer'
        )
        logger.info("no fields")
        assert _last_line(stream).endswith("INFO test.logs.fields no fields")
        # A value cannot start a line of its own or fake another field.
        logger.info("odd", extra={"why": "a\nFAKE b=c", "empty": ""})
        assert _last_line(stream).endswith('odd why="a\\nFAKE b=c" empty=""')
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed", extra={"seq": 4})
        lines = stream.getvalue().splitlines()
        start = next(i for i, text in enumerate(lines) if text.endswith("failed seq=4"))
        assert lines[start + 1] == "Traceback (most recent call last):"  # fields before it
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


def test_library_noise_is_quiet_at_info_and_heard_with_verbose() -> None:
    with bare_root() as root:
        quiet = io.StringIO()
        log_to_stderr(False, quiet)
        logging.getLogger("httpx").info('HTTP Request: GET https://x/lnurlw?k1=secret "200 OK"')
        logging.getLogger("asyncio").debug("poll took 0.1 ms")
        logging.getLogger("appliance.test").info("printing receipt", extra={"sale_seq": 1})
        logging.getLogger("httpx").warning("a library's warning")
        # python-escpos logs on the root logger itself
        escpos = logging.LogRecord(
            "root",
            logging.INFO,
            "/venv/site-packages/escpos/printer/network.py",
            1,
            "closing",
            (),
            None,
        )
        root.handle(escpos)
        assert quiet.getvalue().splitlines()[0].endswith("printing receipt sale_seq=1")
        assert "a library's warning" in quiet.getvalue()
        assert "k1=" not in quiet.getvalue() and "poll" not in quiet.getvalue()
        assert "closing" not in quiet.getvalue()

        loud = io.StringIO()
        root.handlers.clear()
        log_to_stderr(True, loud)
        logging.getLogger("httpx").info("HTTP Request: GET https://x/")
        logging.getLogger("httpcore").debug("send_request_headers.started")  # never: payloads
        root.handle(escpos)
        assert "HTTP Request" in loud.getvalue() and "closing" in loud.getvalue()
        assert "send_request_headers" not in loud.getvalue()


def test_log_to_stderr_leaves_logging_set_up_elsewhere_alone() -> None:
    with bare_root() as root:
        elsewhere = logging.NullHandler()
        root.addHandler(elsewhere)
        log_to_stderr(False, io.StringIO())
        assert root.handlers == [elsewhere]


def test_the_kiosk_log_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with bare_root() as root:
        monkeypatch.setattr(logs, "KIOSK_LOG_MAX_BYTES", 2000)
        path = tmp_path / "logs" / "kiosk.log"
        log_to_file(path, verbose=False)
        (handler,) = root.handlers
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        assert handler.backupCount == logs.KIOSK_LOG_BACKUPS >= 1
        for number in range(200):
            logging.getLogger("appliance.test").info("line %d", number, extra={"seq": number})
        handler.flush()
        kept = sorted(p.name for p in path.parent.iterdir())
        assert kept == ["kiosk.log"] + [
            f"kiosk.log.{n}" for n in range(1, logs.KIOSK_LOG_BACKUPS + 1)
        ]
        assert all(p.stat().st_size <= 2000 for p in path.parent.iterdir())
        assert path.read_text(encoding="utf-8").splitlines()[-1].endswith("line 199 seq=199")
