"""One typed event bus for what devices and payments report: printer and drawer state, payment
progress, scanner codes, NFC taps, touches.

Events are frozen dataclasses; ``subscribe(EventType, handler)`` calls ``handler(event)`` for
every event of that type (subclasses included) published afterwards, in the event loop, in the
order of subscription. A handler that raises is logged and the others still run. An event type
marked ``held = True`` is kept while nobody subscribes to it and handed to the first subscriber
(a payment that settles at start, before the kiosk's screens exist, is still told).

The UI bridges the bus once into Textual messages (tui/bridge.py); services and tests subscribe
directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[E], None]


@dataclass(frozen=True)
class Event:
    """Base of every bus event. ``held``: kept until someone subscribes to its type."""

    held: ClassVar[bool] = False


class EventBus:
    def __init__(self) -> None:
        self._handlers: list[tuple[type[Any], Callable[[Any], None]]] = []
        self._held: list[Event] = []

    def subscribe(self, kind: type[E], handler: Callable[[E], None]) -> Callable[[], None]:
        """Call ``handler`` with every ``kind`` event from now on (and the held ones now);
        returns the unsubscribe function."""
        entry = (kind, handler)
        self._handlers.append(entry)
        waiting = [e for e in self._held if isinstance(e, kind)]
        if waiting:
            self._held = [e for e in self._held if not isinstance(e, kind)]
            for event in waiting:
                self._deliver(handler, event)

        def unsubscribe() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return unsubscribe

    def publish(self, event: Event) -> None:
        handlers = [h for kind, h in self._handlers if isinstance(event, kind)]
        if not handlers and event.held:
            self._held.append(event)
            return
        for handler in handlers:
            self._deliver(handler, event)

    @staticmethod
    def _deliver(handler: Callable[[Any], None], event: Event) -> None:
        try:
            handler(event)
        except Exception:  # one bad handler must not stop the others or the publisher
            log.exception("event handler failed", extra={"event": type(event).__name__})


@dataclass(frozen=True)
class PaymentStatus(Event):
    """News about the bitcoin offer of a sale a screen watches (``BitcoinPayments.watch``).
    ``status``: a ``payments.bitcoin.Status``."""

    status: Any


@dataclass(frozen=True)
class UnwatchedPayment(Event):
    """A bitcoin payment ended while no screen watched it (settled after a restart, late):
    held until someone listens, so staff hear of it once the kiosk is up."""

    held: ClassVar[bool] = True

    status: Any
