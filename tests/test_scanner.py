"""The serial scanner driver against a pty pair: codes, garbage, over-long lines, unplug and
replug, cancellation; and the ``[scanner]`` settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import serial
from scanner_helpers import Events, PtyScanner

from appliance.bootstrap import scanner_from_settings
from appliance.config import ConfigError, load_settings
from appliance.drivers.scanner import (
    Connected,
    Disconnected,
    LineFramer,
    Refused,
    Scanned,
    SerialScanner,
)

pytestmark = pytest.mark.timeout(60)


@asynccontextmanager
async def running(scanner: SerialScanner, events: Events) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(scanner.run(events))
    try:
        yield task
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def fast_scanner(port: Path, **kwargs: float) -> SerialScanner:
    return SerialScanner(str(port), 9600, backoff_min_s=0.01, backoff_max_s=0.05, **kwargs)


def test_framer_splits_cr_lf_and_refuses_garbage_and_long_lines() -> None:
    framer = LineFramer(max_length=16)
    assert framer.feed(b"4006381") == []  # a code split across reads
    assert framer.feed(b"333931\r\n96385074\n\r\nABC-42\r") == [
        Scanned("4006381333931"),
        Scanned("96385074"),
        Scanned("ABC-42"),
    ]
    refused = framer.feed(b"12\x00\xff34\r\n")
    assert len(refused) == 1 and isinstance(refused[0], Refused)
    assert "baud rate" in refused[0].reason
    events = framer.feed(b"9" * 40 + b"\r\n" + b"1234\n")
    assert events[0] == Refused(
        "scanner sent more than 16 characters without an end of line; ignored"
    )
    assert events[1:] == [Scanned("1234")]  # the next line is read normally


async def test_codes_garbage_and_long_lines_from_the_port(tmp_path: Path) -> None:
    link = tmp_path / "scanner"
    events = Events()
    with PtyScanner(link) as device:
        async with running(fast_scanner(link), events):
            assert await events.next(Connected) == Connected(str(link))
            device.send(b"4006381333931\r\n")
            assert await events.next(Scanned) == Scanned("4006381333931")
            # Back to back in one write: two codes, never merged.
            device.send(b"8410076472939\r\n20042\r\n")
            assert await events.next(Scanned) == Scanned("8410076472939")
            assert await events.next(Scanned) == Scanned("20042")
            # A wrong baud rate looks like this; then an over-long line; then a good code.
            device.send(b"\xe0\x1c\xfe\x80\x00\r\n" + b"7" * 300 + b"\r\n96385074\r\n")
            assert "unreadable" in (await events.next(Refused)).reason
            assert "more than 128 characters" in (await events.next(Refused)).reason
            assert await events.next(Scanned) == Scanned("96385074")
    kinds = [type(e).__name__ for e in events.seen]
    assert kinds == ["Connected", "Scanned", "Scanned", "Scanned", "Refused", "Refused", "Scanned"]


async def test_unplug_and_replug_reconnects(tmp_path: Path) -> None:
    link = tmp_path / "scanner"
    device = PtyScanner(link)
    events = Events()
    device.plug()
    try:
        async with running(fast_scanner(link), events):
            await events.next(Connected)
            device.send(b"4006381")  # half a code, then the cable comes out
            device.unplug()
            gone = await events.next(Disconnected)
            assert "stopped answering" in gone.reason
            retry = await events.next(Disconnected)  # the link now points nowhere
            assert "cannot open" in retry.reason
            assert retry.retry_in_s > gone.retry_in_s  # backing off

            device.plug()  # a new pty, as a replugged scanner is a new ttyACMn
            await events.next(Connected)
            device.send(b"333931\r\n8410076472939\r\n")
            # The half code from before the unplug is not glued to the new data.
            assert await events.next(Scanned) == Scanned("333931")
            assert await events.next(Scanned) == Scanned("8410076472939")
    finally:
        device.unplug()


async def test_a_missing_port_is_retried_until_it_appears(tmp_path: Path) -> None:
    link = tmp_path / "scanner"
    events = Events()
    device = PtyScanner(link)
    async with running(fast_scanner(link), events):
        first = await events.next(Disconnected)
        assert str(link) in first.reason
        device.plug()
        try:
            await events.next(Connected)
            device.send(b"96385074\n")
            assert await events.next(Scanned) == Scanned("96385074")
        finally:
            device.unplug()


async def test_cancel_returns_promptly_and_releases_the_port(tmp_path: Path) -> None:
    link = tmp_path / "scanner"
    events = Events()
    with PtyScanner(link):
        # A long read timeout: cancelling must wake the reading thread, not wait for it.
        scanner = SerialScanner(str(link), read_timeout_s=30.0)
        task = asyncio.create_task(scanner.run(events))
        await events.next(Connected)
        task.cancel()
        async with asyncio.timeout(5):
            with pytest.raises(asyncio.CancelledError):
                await task
        # The port was closed: it can be opened exclusively again.
        again = serial.Serial(str(link), 9600, timeout=0, exclusive=True)
        again.close()


def test_scanner_settings(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.scanner.kind == "wedge"
    assert scanner_from_settings(settings.scanner) is None  # the sell screen reads a wedge

    env = {"BITAGORA_SCANNER_KIND": "serial", "BITAGORA_SCANNER_BAUDRATE": "115200"}
    serial_settings = load_settings(tmp_path, env=env).scanner
    assert serial_settings.port == "/dev/bitagora/scanner"
    scanner = scanner_from_settings(serial_settings)
    assert scanner is not None and scanner.baudrate == 115200

    config = tmp_path / "appliance.toml"
    for toml, message in [
        ('[scanner]\nkind = "usb"', "scanner.kind: 'usb' is not supported"),
        ("[scanner]\nbaudrate = 9601", "scanner.baudrate: must be one of"),
        ('[scanner]\nbaudrate = "9600"', "scanner.baudrate: expected an integer"),
        ('[scanner]\nkind = "serial"\nport = "ttyACM0"', "scanner.port: must be a device path"),
        ("[scanner]\nspeed = 9600", "scanner.speed: unknown setting"),
    ]:
        config.write_text(toml)
        with pytest.raises(ConfigError, match=message):
            load_settings(tmp_path, config, env={})
