"""The services' event bus: typed subscriptions, unsubscribe, a failing handler, held events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from appliance.services.events import Event, EventBus


@dataclass(frozen=True)
class Paper(Event):
    state: str


@dataclass(frozen=True)
class PaperOut(Paper):
    pass


@dataclass(frozen=True)
class Settled(Event):
    held: ClassVar[bool] = True

    sale: str


def test_handlers_hear_their_type_and_its_subtypes_in_order() -> None:
    bus = EventBus()
    heard: list[tuple[str, Event]] = []
    bus.subscribe(Paper, lambda e: heard.append(("paper", e)))
    bus.subscribe(PaperOut, lambda e: heard.append(("out", e)))
    bus.subscribe(Settled, lambda e: heard.append(("settled", e)))
    bus.publish(Paper("ok"))
    bus.publish(PaperOut("out"))
    assert heard == [("paper", Paper("ok")), ("paper", PaperOut("out")), ("out", PaperOut("out"))]


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    heard: list[Event] = []
    unsubscribe = bus.subscribe(Paper, heard.append)
    bus.publish(Paper("ok"))
    unsubscribe()
    unsubscribe()  # twice is harmless
    bus.publish(Paper("near_end"))
    assert heard == [Paper("ok")]


def test_a_failing_handler_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    heard: list[Event] = []

    def broken(_event: Paper) -> None:
        raise RuntimeError("bug")

    bus.subscribe(Paper, broken)
    bus.subscribe(Paper, heard.append)
    bus.publish(Paper("ok"))
    assert heard == [Paper("ok")]
    assert "event handler failed" in caplog.text


def test_held_events_wait_for_their_first_subscriber() -> None:
    bus = EventBus()
    bus.publish(Settled("a"))  # nobody listens yet: kept
    bus.publish(Paper("ok"))  # not held: gone
    heard: list[Event] = []
    bus.subscribe(Event, heard.append)
    assert heard == [Settled("a")]
    bus.publish(Settled("b"))
    assert heard == [Settled("a"), Settled("b")]
    later: list[Event] = []
    bus.subscribe(Settled, later.append)  # handed over once only
    assert later == []
