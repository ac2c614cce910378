"""The touchscreen driver against real input-event bytes: written into a FIFO that
``Touchscreen.run`` reads as its device, or fed to the decoder exactly as read() returns them."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from touch_helpers import RAW, Panel, make_fifo, panel

from appliance.drivers.touch import (
    ABS_X,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    Press,
    Release,
    TouchDecoder,
    TouchEvent,
    Touchscreen,
    record,
)

PANEL = (800, 480)

WAIT_S = 20.0


@asynccontextmanager
async def reading(
    tmp_path: Path, size: int = 24
) -> AsyncIterator[tuple[Panel, asyncio.Queue[TouchEvent], Path]]:
    """The driver reading a FIFO in a task; what it reports goes into the queue."""
    fifo = make_fifo(tmp_path / "touch")
    events: asyncio.Queue[TouchEvent] = asyncio.Queue()
    task = asyncio.create_task(Touchscreen(str(fifo), size=size).run(events.put_nowait))
    try:
        async with panel(fifo, *PANEL, RAW, size) as glass:
            yield glass, events, fifo
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def next_events(events: asyncio.Queue[TouchEvent], count: int) -> list[TouchEvent]:
    async with asyncio.timeout(WAIT_S):
        return [await events.get() for _ in range(count)]


def near(event: TouchEvent, x_px: float, y_px: float) -> bool:
    return abs(event.x * PANEL[0] - x_px) < 1 and abs(event.y * PANEL[1] - y_px) < 1


@pytest.mark.parametrize("size", [24, 16], ids=["64-bit", "32-bit"])
async def test_a_tap_is_a_press_and_a_release_where_the_finger_came_down(
    tmp_path: Path, size: int
) -> None:
    async with reading(tmp_path, size) as (glass, events, _fifo):
        glass.down(400, 240)
        glass.move(402, 241)  # a finger wobbles a little
        glass.up()
        press, release = await next_events(events, 2)
    assert isinstance(press, Press) and near(press, 400, 240)
    assert isinstance(release, Release) and release.tap and near(release, 400, 240)


async def test_a_drag_is_not_a_tap(tmp_path: Path) -> None:
    async with reading(tmp_path) as (glass, events, _fifo):
        glass.down(100, 100)
        glass.move(300, 100)
        glass.move(100, 100)  # back where it started: it still moved
        glass.up()
        glass.tap(500, 300)
        first, drag, second, tap = await next_events(events, 4)
    assert isinstance(drag, Release) and not drag.tap
    assert isinstance(tap, Release) and tap.tap and near(second, 500, 300)


async def test_multitouch_follows_the_first_finger_only(tmp_path: Path) -> None:
    async with reading(tmp_path) as (glass, events, _fifo):
        # Two fingers; the second lifts first: one tap, where the first one was.
        glass.finger_down(0, 10, 100, 100)
        glass.finger_down(1, 11, 700, 400)
        glass.finger_up(1, last=False)
        glass.finger_up(0, last=True)
        # The first lifts while the second stays down: one tap; the second is nobody's tap.
        glass.finger_down(0, 12, 200, 200)
        glass.finger_down(1, 13, 600, 300)
        glass.finger_up(0, last=False)
        glass.finger_move(1, 601, 300)
        glass.finger_up(1, last=True)
        # Then the next touch is a tap again, in whichever slot it comes.
        glass.finger_down(1, 14, 300, 50)
        glass.finger_up(1, last=True)
        got = await next_events(events, 6)
    assert [type(e) for e in got] == [Press, Release] * 3
    assert [(round(e.x * 800), round(e.y * 480)) for e in got[::2]] == [
        (100, 100),
        (200, 200),
        (300, 50),
    ]
    assert all(isinstance(e, Release) and e.tap for e in got[1::2])
    assert events.empty()


async def test_events_lost_to_syn_dropped_make_no_tap(tmp_path: Path) -> None:
    async with reading(tmp_path) as (glass, events, _fifo):
        glass.down(100, 100)
        glass.dropped()  # the lift may be among the lost events: the touch is cancelled
        glass.up()
        glass.dropped()  # a finger down through a loss is ignored until it lifts
        glass.move(120, 100)
        glass.up()
        glass.tap(500, 300)  # and the next touch is whole again
        got = await next_events(events, 4)
    press, cancelled, press_again, tap = got
    assert isinstance(cancelled, Release) and not cancelled.tap
    assert isinstance(tap, Release) and tap.tap and near(press_again, 500, 300)
    assert events.empty()


def test_a_record_split_across_reads_is_put_together() -> None:
    """read() on a FIFO returns whatever was written: any split of a record must work."""
    data = b"".join(
        record(*event)
        for event in (
            (EV_KEY, BTN_TOUCH, 1),
            (EV_ABS, ABS_X, 2048),
            (EV_ABS, 1, 1024),
            (0, 0, 0),
            (EV_KEY, BTN_TOUCH, 0),
            (0, 0, 0),
        )
    )
    for cut in range(1, len(data)):
        decoder = TouchDecoder(RAW)
        got = decoder.feed(data[:cut]) + decoder.feed(data[cut:])
        assert [type(e) for e in got] == [Press, Release], cut
        assert decoder.partial == 0


class Heard(logging.Handler):
    """Sets ``event`` when a log message containing ``text`` is emitted."""

    def __init__(self, text: str) -> None:
        super().__init__(logging.WARNING)
        self.text = text
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.event.set()


async def test_a_writer_gone_mid_record_is_survived(tmp_path: Path) -> None:
    heard = Heard("dropped 10 bytes of an incomplete event")
    logger = logging.getLogger("appliance.drivers.touch")
    logger.addHandler(heard)
    try:
        async with reading(tmp_path) as (glass, events, fifo):
            glass.write((EV_KEY, BTN_TOUCH, 1))
            os.write(glass.fd, record(EV_ABS, ABS_X, 5)[:10])
            glass.hang_up()  # the writer goes in the middle of a record
            async with asyncio.timeout(WAIT_S):
                await heard.event.wait()
            # The driver opened the FIFO again: the next writer's tap is whole.
            async with panel(fifo, *PANEL, RAW) as again:
                again.tap(500, 300)
                press, release = await next_events(events, 2)
    finally:
        logger.removeHandler(heard)
    assert isinstance(release, Release) and release.tap and near(press, 500, 300)
    assert events.empty()  # the half-written touch never became one
