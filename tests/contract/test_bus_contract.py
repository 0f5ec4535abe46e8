"""The EventBus contract: one test body, run against every bus implementation.

Each implementation registers a harness factory in ``HARNESSES``. A harness wraps the bus
with what a test needs beyond the port: let deliveries happen (``drain``) and wait for a
condition (``wait_for``). Both may be asynchronous underneath, so the Pub/Sub emulator can
implement them by polling; the in-process bus just runs its queue.

To add an implementation, write a class satisfying ``BusHarness`` and register it::

    HARNESSES["pubsub_emulator"] = (EmulatorHarness, (pytest.mark.integration,))
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from cloudevents.http import CloudEvent

from events.codec import from_cloudevent
from events.models import Event, IngestCompleted, StepRef, Window
from events.topology import Topology, load_topology
from lib.adapters.local_bus import LocalBus
from lib.clock import FixedClock
from lib.ports import DeadLetter, DeadLetterFilter, EventBus
from tests.support.pubsub import PubSubHarness

Handler = Callable[[CloudEvent], object]
DEAD_LETTER_KEYS = {
    "CloudPubSubDeadLetterSourceDeliveryCount",
    "CloudPubSubDeadLetterSourceSubscription",
    "CloudPubSubDeadLetterSourceSubscriptionProject",
    "CloudPubSubDeadLetterSourceTopicPublishTime",
}
EVERYTHING = DeadLetterFilter()


class BusHarness(Protocol):
    """What the contract drives; ``bus`` is the EventBus under test."""

    bus: EventBus
    topology: Topology

    def drain(self) -> None:
        """Return once every pending delivery, redelivery and dead-lettering has finished."""

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Let deliveries happen until ``condition()`` holds; fail naming ``what`` if never."""

    def close(self) -> None:
        """Stop subscribers and free resources."""


HarnessFactory = Callable[[Mapping[str, Handler], Path], BusHarness]


class LocalHarness:
    """The in-process bus: delivery is synchronous, so waiting is running the queue."""

    def __init__(self, handlers: Mapping[str, Handler], state_dir: Path) -> None:
        self.topology = load_topology()
        self.clock = FixedClock(dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC))
        self.local = LocalBus(self.topology, handlers, state_dir, self.clock, backoff_scale=0)
        self.bus: EventBus = self.local

    def drain(self) -> None:
        self.local.run_until_idle()

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        self.drain()
        assert condition(), f"bus went idle before {what}"

    def close(self) -> None:
        """Nothing to stop."""


HARNESSES: dict[str, tuple[HarnessFactory, tuple[pytest.MarkDecorator, ...]]] = {
    "local": (LocalHarness, ()),
}
HARNESSES["pubsub_emulator"] = (PubSubHarness, (pytest.mark.integration,))


class Handlers:
    """One recording handler per topology handler; ``failing`` ones raise (nack)."""

    def __init__(self) -> None:
        self.received: dict[str, list[CloudEvent]] = {
            "ingest": [],
            "dq": [],
            "transform": [],
            "notify": [],
        }
        self.fail_first: dict[str, int] = {}
        self.broken: set[str] = set()
        self._lock = threading.Lock()

    def mapping(self) -> dict[str, Handler]:
        return {name: self._handler(name) for name in self.received}

    def events(self, name: str) -> list[Event]:
        with self._lock:
            return [from_cloudevent(c) for c in self.received[name]]

    def count(self, name: str) -> int:
        with self._lock:
            return len(self.received[name])

    def _handler(self, name: str) -> Handler:
        def handle(cloud_event: CloudEvent) -> None:
            with self._lock:
                self.received[name].append(cloud_event)
                attempt = len(self.received[name])
            if name in self.broken or attempt <= self.fail_first.get(name, 0):
                raise RuntimeError(f"{name} is down")

        return handle


@pytest.fixture(
    params=[pytest.param(name, marks=marks) for name, (_, marks) in sorted(HARNESSES.items())]
)
def harness_with(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Factory: ``harness_with(handlers)`` builds the parametrized bus around ``handlers``."""
    factory, _ = HARNESSES[request.param]
    created: list[BusHarness] = []

    def make(handlers: Handlers) -> BusHarness:
        harness = factory(handlers.mapping(), tmp_path / "bus")
        created.append(harness)
        return harness

    yield make
    for harness in created:
        harness.close()


@pytest.fixture
def make_event() -> Callable[..., Event]:
    """Factory: an IngestCompleted routed by ``next_step_type``, fields overridable."""
    counter = itertools.count(1)

    def make(next_step_type: str = "dq", **overrides: Any) -> Event:
        n = next(counter)
        fields: dict[str, Any] = {
            "event_id": f"contract-{n:06d}",
            "occurred_at": dt.datetime(2026, 3, 1, 5, 0, tzinfo=dt.UTC),
            "tenant_id": "acme",
            "pipeline_id": "openai_costs",
            "pipeline_logging_id": f"contract-run-{n:06d}",
            "window": Window(start=dt.date(2026, 2, 28), end=dt.date(2026, 2, 28)),
            "step_done": StepRef(name="load_costs", index=0, type="ingest"),
            "next_step": StepRef(name="check_costs", index=1, type=next_step_type),
            "rows_loaded": 3,
        }
        fields.update(overrides)
        return IngestCompleted(**fields)

    return make


def dead_letter_one(
    harness_with: Callable[[Handlers], BusHarness], make_event: Callable[..., Event]
) -> tuple[BusHarness, Handlers, Event]:
    handlers = Handlers()
    handlers.broken.add("dq")
    harness = harness_with(handlers)
    event = make_event(next_step_type="dq")
    harness.bus.publish(event)
    harness.wait_for(lambda: len(harness.bus.dead_letters(EVERYTHING)) == 1, "a dead letter")
    return harness, handlers, event


def test_published_event_reaches_the_handler_its_filter_selects(harness_with, make_event):
    handlers = Handlers()
    harness = harness_with(handlers)
    event = make_event(next_step_type="transform")

    harness.bus.publish(event)
    harness.wait_for(lambda: handlers.count("transform") == 1, "transform got the event")
    harness.drain()

    assert handlers.events("transform") == [event]
    assert handlers.count("ingest") == handlers.count("dq") == 0


def test_nack_leads_to_redelivery_of_the_same_message(harness_with, make_event):
    handlers = Handlers()
    handlers.fail_first["dq"] = 2
    harness = harness_with(handlers)
    event = make_event(next_step_type="dq")

    message_id = harness.bus.publish(event)
    harness.wait_for(lambda: handlers.count("dq") == 3, "two redeliveries")
    harness.drain()

    assert handlers.events("dq") == [event] * 3
    assert {c["id"] for c in handlers.received["dq"]} == {message_id}
    assert list(harness.bus.dead_letters(EVERYTHING)) == []


def test_max_attempts_lead_to_a_dead_letter_with_pubsub_attributes(harness_with, make_event):
    harness, handlers, event = dead_letter_one(harness_with, make_event)
    attempts = harness.topology.defaults.max_delivery_attempts

    letters: Sequence[DeadLetter] = harness.bus.dead_letters(EVERYTHING)
    (letter,) = letters
    assert handlers.count("dq") == attempts
    assert letter.topic == harness.topology.topic(event.TOPIC).dead_letter_topic
    assert letter.attempts == attempts
    assert DEAD_LETTER_KEYS <= letter.attributes.keys()
    assert letter.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == str(attempts)
    assert letter.attributes["CloudPubSubDeadLetterSourceSubscription"].endswith(
        "dq-on-ingest-completed"
    )
    assert letter.attributes["tenant_id"] == event.tenant_id
    assert list(harness.bus.dead_letters(DeadLetterFilter(tenant_id="globex"))) == []


def test_replay_moves_the_dead_letter_back_to_its_topic(harness_with, make_event):
    harness, handlers, event = dead_letter_one(harness_with, make_event)
    attempts = harness.topology.defaults.max_delivery_attempts

    assert len(harness.bus.replay(EVERYTHING, dry_run=True)) == 1
    assert len(harness.bus.dead_letters(EVERYTHING)) == 1
    handlers.broken.clear()
    moved = harness.bus.replay(DeadLetterFilter(tenant_id=event.tenant_id))
    harness.wait_for(lambda: handlers.count("dq") == attempts + 1, "the replayed delivery")
    harness.drain()

    assert len(moved) == 1
    assert handlers.events("dq")[-1] == event
    replayed_attributes = handlers.received["dq"][-1].data["message"]["attributes"]
    assert not DEAD_LETTER_KEYS & replayed_attributes.keys()
    assert list(harness.bus.dead_letters(EVERYTHING)) == []


def test_a_rejected_message_is_a_dead_letter_with_its_reason_at_once(harness_with, make_event):
    from events.codec import to_message
    from lib.ports import Rejected

    handlers = Handlers()
    harness = harness_with(handlers)
    raw = to_message(make_event(next_step_type="dq"))
    harness.bus.reject(
        Rejected(
            topic="ingest-completed",
            subscription="dq-on-ingest-completed",
            message_id="123",
            attributes=raw.attributes,
            data=raw.data,
            reason="MalformedEvent: something is wrong with it",
        )
    )
    harness.wait_for(lambda: len(harness.bus.dead_letters(EVERYTHING)) == 1, "the dead letter")

    (letter,) = harness.bus.dead_letters(EVERYTHING)
    assert letter.topic == "ingest-completed-dead-letter"
    assert letter.last_error == "MalformedEvent: something is wrong with it"
    assert letter.data == raw.data and letter.attributes["tenant_id"] == "acme"
    assert handlers.count("dq") == 0  # dead-lettered without any delivery
    moved = harness.bus.replay(EVERYTHING)
    harness.wait_for(lambda: handlers.count("dq") == 1, "the replayed delivery")
    harness.drain()
    assert len(moved) == 1
    replayed = handlers.received["dq"][0].data["message"]["attributes"]
    assert replayed == raw.attributes  # bookkeeping and reason stripped
