"""The PN532 driver against the PN532 simulator over a real pty: what a reader on /dev/ttyS0 does,
and every way the line can fail."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.bootstrap import nfc_from_settings
from appliance.config import ConfigError, load_settings
from appliance.drivers import pn532_frames as pf
from appliance.drivers.ndef import text_record, uri_record
from appliance.drivers.nfc import (
    CardTap,
    NfcCommandError,
    NfcError,
    NfcFrameError,
    NfcTimeout,
    NfcUnavailable,
    NoNfcReader,
    Pn532Reader,
)
from bitagora_devtools.sim.nfc import Pn532Simulator, SimCard

pytestmark = pytest.mark.timeout(60)

TIMEOUT = 0.4  # the reader's per-exchange timeout in these tests
LNURL = "lnurlw://bolt.example.com/ln?p=4E2A1C0B&c=9F01D2E3"
UID = "04A224B2C35E80"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Pn532Simulator]:
    async with Pn532Simulator(link=tmp_path / "ttyNFC") as simulator:
        yield simulator


@pytest.fixture
async def reader(sim: Pn532Simulator) -> AsyncIterator[Pn532Reader]:
    async with Pn532Reader(
        sim.path, timeout=TIMEOUT, poll_interval=0.02, backoff_min=0.05, backoff_max=0.2
    ) as r:
        yield r


def bolt_card() -> SimCard:
    return SimCard.ntag215(UID, [uri_record(LNURL), text_record("Bolt Card")])


async def test_firmware_version_after_wake_up(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    version = await reader.firmware_version()
    assert (version.ic, version.ver, version.rev, version.support) == (0x32, 1, 6, 7)
    assert str(version).startswith("PN532 firmware 1.6")
    assert sim.wakeups == 1
    # opened with the HSU wake-up, SAM in normal mode, finite passive retries, then the query
    assert sim.commands == [pf.SAM_CONFIGURATION, pf.RF_CONFIGURATION, pf.GET_FIRMWARE_VERSION]
    assert reader.status == "ok"


async def test_no_card_in_the_field(reader: Pn532Reader) -> None:
    assert await reader.read_card() is None


async def test_bolt_card_uid_and_ndef_uri(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    sim.place_card(bolt_card())
    tap = await reader.read_card()
    assert tap is not None
    assert (tap.uid, tap.atqa, tap.sak) == (UID, 0x0044, 0x00)
    assert tap.uri == LNURL
    assert tap.texts == ["Bolt Card"]
    assert tap.ndef_error is None
    assert tap.uid_tail == "…5E80"
    assert pf.IN_DATA_EXCHANGE in sim.commands and sim.commands[-1] == pf.IN_RELEASE


async def test_long_ndef_message_over_many_pages(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    uri = "https://example.com/" + "a" * 400  # 3-byte TLV length, non-short record
    sim.place_card(SimCard.ntag215(UID, [uri_record(uri)]))
    tap = await reader.read_card()
    assert tap is not None and tap.uri == uri
    assert sim.commands.count(pf.IN_DATA_EXCHANGE) == 27  # 16 bytes a READ, from page 3


async def test_blank_tag_and_plain_badge(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    sim.place_card(SimCard.ntag215(UID))  # formatted, empty NDEF message
    tap = await reader.read_card()
    assert tap is not None and tap.records == () and tap.ndef_error is None

    sim.place_card(SimCard.badge("DEADBEEF"))  # 4-byte UID, not a Type 2 tag: UID only
    before = sim.commands.count(pf.IN_DATA_EXCHANGE)
    tap = await reader.read_card()
    assert tap == CardTap("DEADBEEF", 0x0004, 0x08)
    assert sim.commands.count(pf.IN_DATA_EXCHANGE) == before


async def test_unformatted_tag_gives_the_uid_and_says_why_no_ndef(
    sim: Pn532Simulator, reader: Pn532Reader
) -> None:
    card = SimCard.ntag215(UID)
    assert card.memory is not None
    card.memory[12:16] = bytes(4)  # no capability container
    sim.place_card(card)
    tap = await reader.read_card()
    assert tap is not None and tap.uid == UID
    assert tap.ndef_error is not None and "not NDEF formatted" in tap.ndef_error


async def test_card_removed_mid_read(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    card = bolt_card()
    sim.place_card(card)
    await reader.firmware_version()
    # the card leaves after answering InListPassiveTarget: its pages never come
    original = sim._list_answer

    def list_then_leave() -> bytes:
        answer = original()
        sim.card = None
        return answer

    sim._list_answer = list_then_leave  # type: ignore[method-assign]
    tap = await reader.read_card()
    assert tap is not None and tap.uid == UID and tap.records == ()
    assert tap.ndef_error is not None and "did not answer" in tap.ndef_error


# -- the line failing --------------------------------------------------------------------------


async def test_garbage_before_the_answer_is_skipped(
    sim: Pn532Simulator, reader: Pn532Reader
) -> None:
    await reader.firmware_version()
    sim.inject("garbage", times=3)
    sim.place_card(bolt_card())
    tap = await reader.read_card()
    assert tap is not None and tap.uri == LNURL


async def test_bad_data_checksum_is_resent_on_nack(
    sim: Pn532Simulator, reader: Pn532Reader
) -> None:
    await reader.firmware_version()
    sim.inject("bad_dcs")
    assert (await reader.firmware_version()).ic == 0x32
    assert sim.resends == 1


async def test_bad_data_checksum_that_persists_is_a_frame_error(
    sim: Pn532Simulator, reader: Pn532Reader
) -> None:
    await reader.firmware_version()
    sim.inject("bad_dcs", times=3)
    with pytest.raises(NfcFrameError, match="checksum.*after 2 resends"):
        await reader.firmware_version()
    assert sim.resends == 2
    assert (await reader.firmware_version()).ic == 0x32  # the next command is fine


async def test_bad_length_checksum(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    await reader.firmware_version()
    sim.inject("bad_lcs")  # not even recognisable as a frame: noise, then NACK, resent
    assert (await reader.firmware_version()).ic == 0x32
    assert sim.resends == 1
    sim.inject("bad_lcs", times=3)
    with pytest.raises(NfcFrameError, match="make no frame"):
        await reader.firmware_version()


async def test_truncated_answer(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    await reader.firmware_version()
    sim.inject("truncate")
    with pytest.raises(NfcFrameError, match="truncated frame"):
        await reader.firmware_version()
    assert (await reader.firmware_version()).ic == 0x32


async def test_nack_makes_the_driver_send_again(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    await reader.firmware_version()
    sim.inject("nack")
    assert (await reader.firmware_version()).ic == 0x32
    sim.inject("nack", times=2)
    with pytest.raises(NfcFrameError, match="NACK instead of ACK, twice"):
        await reader.firmware_version()


async def test_error_frame(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    await reader.firmware_version()
    sim.inject("error_frame")
    with pytest.raises(NfcCommandError, match="error frame"):
        await reader.firmware_version()
    assert (await reader.firmware_version()).ic == 0x32


async def test_one_lost_command_is_sent_again(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    await reader.firmware_version()
    sim.inject("silent")
    assert (await reader.firmware_version()).ic == 0x32
    assert sim.commands.count(pf.GET_FIRMWARE_VERSION) == 2


async def test_a_hung_reader_times_out(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    await reader.firmware_version()
    sim.mute = True
    started = time.monotonic()
    with pytest.raises(NfcTimeout, match="no ACK to GetFirmwareVersion"):
        await reader.firmware_version()
    assert time.monotonic() - started < 2 * TIMEOUT + 1.0  # two attempts, then it gives up
    assert "no ACK" in reader.status
    sim.mute = False
    assert (await reader.firmware_version()).ic == 0x32


async def test_unplug_and_replug(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    await reader.firmware_version()
    sim.unplug()
    with pytest.raises(NfcUnavailable, match="went away"):
        await reader.firmware_version()
    with pytest.raises(NfcUnavailable, match="cannot open NFC reader port"):
        await reader.firmware_version()  # the device node is gone
    sim.replug()
    assert (await reader.firmware_version()).ic == 0x32
    assert sim.wakeups == 2  # the new chip was woken up again


async def test_unplug_while_waiting_for_an_answer_ends_the_wait(
    sim: Pn532Simulator, tmp_path: Path
) -> None:
    slow = Pn532Reader(sim.path, timeout=10.0)
    try:
        await slow.firmware_version()
        sim.mute = True
        heard, received = sim.bytes_in, len(sim.commands)
        query = asyncio.create_task(slow.firmware_version())
        await sim.wait_for(lambda: sim.bytes_in > heard, "command bytes")
        started = time.monotonic()
        sim.unplug()
        with pytest.raises(NfcUnavailable):
            await query
        assert time.monotonic() - started < 3.0  # not the 10 s timeout
        assert len(sim.commands) == received
    finally:
        await slow.close()


async def test_close_ends_a_wait_in_progress(sim: Pn532Simulator) -> None:
    slow = Pn532Reader(sim.path, timeout=10.0)
    await slow.firmware_version()
    sim.mute = True
    heard = sim.bytes_in
    query = asyncio.create_task(slow.firmware_version())
    await sim.wait_for(lambda: sim.bytes_in > heard, "command bytes")
    started = time.monotonic()
    await slow.close()
    with pytest.raises(NfcUnavailable, match="closed"):
        await query
    assert time.monotonic() - started < 3.0


async def test_port_that_does_not_exist(tmp_path: Path) -> None:
    reader = Pn532Reader(str(tmp_path / "nothing"), timeout=TIMEOUT)
    with pytest.raises(NfcUnavailable, match="cannot open NFC reader port"):
        await reader.read_card()


# -- the polling loop --------------------------------------------------------------------------


async def test_taps_reports_each_arrival_once(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    arrived: asyncio.Queue[CardTap] = asyncio.Queue()

    async def consume() -> None:
        async for tap in reader.taps():
            arrived.put_nowait(tap)

    def polls() -> int:
        return sim.commands.count(pf.IN_LIST_PASSIVE_TARGET)

    consumer = asyncio.create_task(consume())
    try:
        async with asyncio.timeout(20):
            sim.place_card(bolt_card())
            first = await arrived.get()
            assert first.uid == UID and first.uri == LNURL
            # the card stays on the reader: polled again and again, reported once
            seen = polls()
            await sim.wait_for(lambda: polls() >= seen + 5, "polls")
            assert arrived.empty()
            sim.remove_card()
            seen = polls()
            await sim.wait_for(lambda: polls() >= seen + 2, "polls")
            sim.place_card(bolt_card())  # the same card, tapped again
            assert (await arrived.get()).uid == UID
            sim.place_card(SimCard.badge("DEADBEEF"))  # swapped for another without a gap
            assert (await arrived.get()).uid == "DEADBEEF"
            assert arrived.empty()
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer


async def test_taps_survives_faults_and_unplug(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    errors: list[NfcError] = []
    two_faults, port_missing = asyncio.Event(), asyncio.Event()

    def on_error(err: NfcError) -> None:
        errors.append(err)
        if len(errors) == 2:
            two_faults.set()
        if "cannot open" in str(err):
            port_missing.set()

    taps = reader.taps(on_error)
    next_tap: asyncio.Future[CardTap] = asyncio.get_running_loop().create_future()
    try:
        async with asyncio.timeout(20):
            sim.place_card(SimCard.badge("DEADBEEF"))
            assert (await anext(taps)).uid == "DEADBEEF"
            sim.remove_card()
            sim.inject("error_frame")
            sim.inject("truncate")
            # nobody polls while the generator waits to be resumed: resume it, let it meet both
            # faults, then pull the plug and put it back once the port is seen to be gone
            next_tap = asyncio.ensure_future(anext(taps))
            await two_faults.wait()
            sim.unplug()
            await port_missing.wait()
            sim.replug()
            sim.place_card(bolt_card())
            tap = await next_tap
            assert tap.uri == LNURL
            assert sim.wakeups == 2  # the replugged chip was woken up
    finally:
        next_tap.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await next_tap
        await taps.aclose()
    kinds = [type(err) for err in errors]
    assert kinds[:2] == [NfcCommandError, NfcFrameError]
    assert NfcUnavailable in kinds


async def test_cancelling_taps_closes_the_port(sim: Pn532Simulator, reader: Pn532Reader) -> None:
    async def consume() -> None:
        async for _ in reader.taps():
            pass

    task = asyncio.create_task(consume())
    await sim.wait_for(lambda: pf.IN_LIST_PASSIVE_TARGET in sim.commands, "a poll")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert reader._serial is None


async def test_no_reader_configured_never_taps() -> None:
    reader = NoNfcReader()
    with pytest.raises(NfcUnavailable, match="no NFC reader configured"):
        await reader.firmware_version()
    task = asyncio.create_task(anext(reader.taps()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- settings and the command line ---------------------------------------------------------------


def test_nfc_settings_from_file_and_env(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).nfc.kind == "none"
    assert isinstance(nfc_from_settings(load_settings(tmp_path, env={}).nfc), NoNfcReader)
    (tmp_path / "appliance.toml").write_text(
        '[nfc]\nkind = "pn532"\nport = "/dev/ttyUSB0"\ntimeout_s = 2\n', encoding="utf-8"
    )
    settings = load_settings(tmp_path, env={"BITAGORA_NFC_TIMEOUT_S": "0.5"}).nfc
    assert (settings.kind, settings.port, settings.baudrate, settings.timeout_s) == (
        "pn532",
        "/dev/ttyUSB0",
        115200,
        0.5,
    )
    reader = nfc_from_settings(settings)
    assert isinstance(reader, Pn532Reader) and reader.timeout == 0.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BITAGORA_NFC_KIND": "acr122"}, "nfc.kind: 'acr122' is not supported"),
        ({"BITAGORA_NFC_BAUDRATE": "12345"}, "nfc.baudrate: the PN532 cannot talk at 12345"),
        ({"BITAGORA_NFC_TIMEOUT_S": "soon"}, "nfc.timeout_s (BITAGORA_NFC_TIMEOUT_S): expected a"),
        ({"BITAGORA_NFC_TIMEOUT_S": "0"}, "nfc.timeout_s: must be 0.05..30 s"),
        ({"BITAGORA_NFC_KIND": "pn532", "BITAGORA_NFC_PORT": ""}, "nfc.port: a serial device"),
    ],
)
def test_bad_nfc_settings_name_the_key(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path, env=env)
    assert str(err.value).startswith(message)


def test_bad_toml_type_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "appliance.toml").write_text('[nfc]\ntimeout_s = "1"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nfc\.timeout_s: expected a number"):
        load_settings(tmp_path, env={})


async def test_sim_command_line_taps_a_card(tmp_path: Path) -> None:
    link = tmp_path / "ttyNFC"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "appliance.cli",
        "sim",
        "nfc",
        "--link",
        str(link),
        "--tap",
        UID,
        "--ndef-uri",
        LNURL,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            first = (await proc.stdout.readline()).decode()
            assert first == f"nfc simulator on {link}\n"
            async with Pn532Reader(str(link), timeout=1.0) as reader:
                tap = await reader.read_card()
                assert tap is not None and tap.uid == UID and tap.uri == LNURL
                await proc.stdout.readline()  # the help line
                proc.stdin.write(b"tap DEADBEEF\n")
                await proc.stdin.drain()
                assert (await proc.stdout.readline()).decode() == "card DEADBEEF on the reader\n"
                tap = await reader.read_card()
                assert tap is not None and tap.uid == "DEADBEEF"
            proc.stdin.write(b"quit\n")
            await proc.stdin.drain()
            assert await proc.wait() == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
