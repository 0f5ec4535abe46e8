"""Tests for the in-process bus: routing, envelopes, retries, dead letters, replay, workers."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent

from events.codec import PUBSUB_PUBLISHED, from_cloudevent, to_message
from events.models import (
    Event,
    IngestCompleted,
    RunCompleted,
    RunRequested,
    StepRef,
    Window,
)
from events.topology import Topology, load_topology
from lib.adapters.local_bus import (
    MAX_ERROR_CHARS,
    LocalBus,
    UnknownTopic,
    backoff_seconds,
)
from lib.clock import FixedClock
from lib.ports import DeadLetter, DeadLetterFilter, EventBus

T0 = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)
DEAD_LETTER_KEYS = {
    "CloudPubSubDeadLetterSourceDeliveryCount",
    "CloudPubSubDeadLetterSourceSubscription",
    "CloudPubSubDeadLetterSourceSubscriptionProject",
    "CloudPubSubDeadLetterSourceTopicPublishTime",
}
EVERYTHING = DeadLetterFilter()


class Recorder:
    """A handler that records what it gets and fails its first ``fail_first`` calls."""

    def __init__(self, fail_first: int = 0, error: str = "provider answered 503") -> None:
        self.fail_first = fail_first
        self.error = error
        self.calls: list[CloudEvent] = []
        self._lock = threading.Lock()

    def __call__(self, cloud_event: CloudEvent) -> None:
        with self._lock:
            self.calls.append(cloud_event)
            failing = len(self.calls) <= self.fail_first
        if failing:
            raise RuntimeError(self.error)

    def events(self) -> list[Event]:
        return [from_cloudevent(c) for c in self.calls]


@pytest.fixture
def make_event() -> Callable[..., Event]:
    """Factory: ``make_event(cls=IngestCompleted, next_step_type="dq", **field_overrides)``."""
    counter = itertools.count(1)

    def make(
        cls: type[Event] = IngestCompleted, next_step_type: str = "dq", **overrides: Any
    ) -> Event:
        n = next(counter)
        fields: dict[str, Any] = {
            "event_id": f"evt-{n:08d}",
            "occurred_at": T0,
            "tenant_id": "acme",
            "pipeline_id": "openai_costs",
            "pipeline_logging_id": f"run-{n:08d}",
            "window": Window(start=dt.date(2026, 2, 28), end=dt.date(2026, 2, 28)),
            "step_done": StepRef(name="load_costs", index=0, type="ingest"),
        }
        if next_step_type != "none":
            fields["next_step"] = StepRef(name="next_step", index=1, type=next_step_type)
        if cls is RunRequested:
            fields.pop("step_done")
        if cls is IngestCompleted:
            fields["rows_loaded"] = 3
        fields.update(overrides)
        return cls(**fields)

    return make


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def recorders() -> dict[str, Recorder]:
    return {"ingest": Recorder(), "dq": Recorder(), "transform": Recorder(), "notify": Recorder()}


@pytest.fixture
def make_bus(
    tmp_path: Path, clock: FixedClock, recorders: dict[str, Recorder]
) -> Callable[..., LocalBus]:
    def make(topology: Topology | None = None, **kwargs: Any) -> LocalBus:
        kwargs.setdefault("handlers", recorders)
        kwargs.setdefault("backoff_scale", 0.0)  # tests that wait pass a FakeTimer
        return LocalBus(
            topology or load_topology(), state_dir=tmp_path / "bus", clock=clock, **kwargs
        )

    return make


class FakeTimer:
    """A wall clock that only moves when the bus sleeps (so backoffs take no real time)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.waits: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def with_defaults(**defaults: int) -> Topology:
    topology = load_topology()
    return topology.model_copy(update={"defaults": topology.defaults.model_copy(update=defaults)})


def test_local_bus_is_an_event_bus(make_bus):
    assert isinstance(make_bus(), EventBus)


@pytest.mark.parametrize("step_type", ["ingest", "dq", "transform"])
def test_event_reaches_only_the_subscription_its_next_step_type_selects(
    make_bus, make_event, recorders, step_type
):
    bus = make_bus()
    bus.publish(make_event(next_step_type=step_type))
    stats = bus.run_until_idle()

    assert stats.delivered == stats.acked == 1
    assert {name: len(r.calls) for name, r in recorders.items() if r.calls} == {step_type: 1}
    subscription = recorders[step_type].calls[0].data["subscription"]
    assert subscription == f"projects/local/subscriptions/{step_type}-on-ingest-completed"


def test_next_step_type_none_reaches_nobody(make_bus, make_event, recorders):
    bus = make_bus()
    bus.publish(make_event(next_step_type="none"))

    assert bus.run_until_idle().delivered == 0
    assert all(not r.calls for r in recorders.values())
    assert [m.topic for m in bus.published] == ["ingest-completed"]


def test_handler_receives_eventarc_envelope_decoding_to_the_same_event(
    make_bus, make_event, recorders
):
    bus = make_bus(project="demo-proj")
    event = make_event(RunRequested, next_step_type="ingest")
    message_id = bus.publish(event)
    bus.run_until_idle()

    (cloud_event,) = recorders["ingest"].calls
    assert cloud_event["type"] == PUBSUB_PUBLISHED
    assert (
        cloud_event["source"] == "//pubsub.googleapis.com/projects/demo-proj/topics/run-requested"
    )
    assert cloud_event["id"] == message_id
    assert cloud_event.data["subscription"] == (
        "projects/demo-proj/subscriptions/ingest-on-run-requested"
    )
    assert cloud_event.data["message"]["publishTime"] == "2026-03-01T06:00:00Z"
    assert cloud_event.data["message"]["attributes"] == to_message(event).attributes
    assert from_cloudevent(cloud_event) == event


def test_message_ids_are_unique(make_bus, make_event):
    bus = make_bus()
    ids = {bus.publish(make_event()) for _ in range(50)}
    assert len(ids) == 50


def test_retry_then_success_takes_exactly_n_attempts_with_documented_backoffs(
    make_bus, make_event, recorders
):
    timer = FakeTimer()
    recorders["dq"].fail_first = 3
    bus = make_bus(backoff_scale=0.01, sleep=timer.sleep, timer=timer.time)
    message_id = bus.publish(make_event(next_step_type="dq"))
    stats = bus.run_until_idle()

    assert len(recorders["dq"].calls) == 4
    assert {c["id"] for c in recorders["dq"].calls} == {message_id}
    assert (stats.delivered, stats.acked, stats.nacked, stats.dead_lettered) == (4, 1, 3, 0)
    assert [(b.attempt, b.seconds) for b in bus.backoffs] == [(1, 10.0), (2, 20.0), (3, 40.0)]
    assert timer.waits == pytest.approx([0.1, 0.2, 0.4])
    assert bus.dead_letters(EVERYTHING) == []


def test_backoff_is_really_waited_and_the_log_says_how_long(
    make_bus, make_event, recorders, caplog
):
    timer = FakeTimer()
    recorders["dq"].fail_first = 2
    bus = make_bus(backoff_scale=1.0, sleep=timer.sleep, timer=timer.time)
    bus.publish(make_event(next_step_type="dq"))
    with caplog.at_level(logging.WARNING, logger="lib.adapters.local_bus"):
        stats = bus.run_until_idle()

    assert (stats.delivered, stats.acked) == (3, 1)
    assert timer.waits == [10.0, 20.0]
    nacks = [r.getMessage() for r in caplog.records if "nack" in r.getMessage()]
    assert [m.split("; ")[-1] for m in nacks] == ["redelivery in 10.0s", "redelivery in 20.0s"]


def test_a_backed_off_delivery_does_not_hold_up_the_others(make_bus, make_event, recorders):
    timer = FakeTimer()
    order: list[tuple[str, float]] = []

    def dq(cloud_event: CloudEvent) -> None:
        run_id = from_cloudevent(cloud_event).pipeline_logging_id
        order.append((run_id, timer.now - start))
        if run_id == "run-00000001" and len(order) == 1:
            raise RuntimeError("first try fails")

    bus = make_bus(
        handlers={**recorders, "dq": dq}, backoff_scale=1.0, sleep=timer.sleep, timer=timer.time
    )
    start = timer.now
    bus.publish(make_event(next_step_type="dq"))
    bus.publish(make_event(next_step_type="dq"))
    bus.run_until_idle()

    assert order == [("run-00000001", 0.0), ("run-00000002", 0.0), ("run-00000001", 10.0)]


def test_backoff_doubles_from_min_and_caps_at_max():
    defaults = with_defaults(min_backoff_seconds=10, max_backoff_seconds=30).defaults
    assert [backoff_seconds(a, defaults) for a in range(1, 7)] == [10, 20, 30, 30, 30, 30]


def test_redelivery_uses_capped_backoffs_and_topology_attempts(make_bus, make_event, recorders):
    recorders["dq"].fail_first = 100
    bus = make_bus(
        with_defaults(max_delivery_attempts=7, min_backoff_seconds=10, max_backoff_seconds=30)
    )
    bus.publish(make_event())
    stats = bus.run_until_idle()

    assert len(recorders["dq"].calls) == 7
    assert [b.seconds for b in bus.backoffs] == [10, 20, 30, 30, 30, 30]
    assert stats.dead_lettered == 1


def test_dead_letter_after_max_attempts_carries_pubsub_attributes(
    make_bus, make_event, recorders, clock
):
    recorders["dq"].fail_first = 100
    recorders["dq"].error = "quota exhausted " + "x" * 5000
    bus = make_bus(project="demo-proj")
    event = make_event(next_step_type="dq")
    bus.publish(event)
    publish_time = clock.now()
    clock.advance(minutes=5)
    stats = bus.run_until_idle()

    assert len(recorders["dq"].calls) == 5
    assert (stats.nacked, stats.dead_lettered, stats.acked) == (5, 1, 0)
    (letter,) = bus.dead_letters(EVERYTHING)
    assert letter.topic == "ingest-completed-dead-letter"
    assert letter.subscription == "dq-on-ingest-completed"
    assert letter.attempts == 5
    assert letter.dead_lettered_at == publish_time + dt.timedelta(minutes=5)
    assert letter.data == to_message(event).data
    assert letter.last_error.startswith("quota exhausted x")
    assert len(letter.last_error) == MAX_ERROR_CHARS
    assert dict(letter.attributes) == {
        **to_message(event).attributes,
        "CloudPubSubDeadLetterSourceDeliveryCount": "5",
        "CloudPubSubDeadLetterSourceSubscription": "dq-on-ingest-completed",
        "CloudPubSubDeadLetterSourceSubscriptionProject": "demo-proj",
        "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-03-01T06:00:00Z",
    }
    forwarded = [m for m in bus.published if m.topic == "ingest-completed-dead-letter"]
    assert [m.message_id for m in forwarded] == [letter.message_id]


def test_dead_letters_persist_across_bus_instances(make_bus, make_event, recorders):
    recorders["transform"].fail_first = 100
    first = make_bus()
    first.publish(make_event(next_step_type="transform"))
    first.run_until_idle()

    later = make_bus(handlers={n: Recorder() for n in recorders})
    assert later.dead_letters(EVERYTHING) == first.dead_letters(EVERYTHING)
    assert len(later.dead_letters(EVERYTHING)) == 1


def dead_letter_mix(
    make_bus: Callable[..., LocalBus],
    make_event: Callable[..., Event],
    recorders: dict[str, Recorder],
    clock: FixedClock,
) -> LocalBus:
    """Three dead letters: acme/openai at T0, acme/anthropic at T0+1h, globex/openai at T0+2h."""
    for recorder in recorders.values():
        recorder.fail_first = 1000
    bus = make_bus()
    for tenant, pipeline in [
        ("acme", "openai_costs"),
        ("acme", "anthropic_costs"),
        ("globex", "openai_costs"),
    ]:
        bus.publish(make_event(tenant_id=tenant, pipeline_id=pipeline))
        bus.run_until_idle()
        clock.advance(hours=1)
    return bus


def picked(letters: list[DeadLetter]) -> list[tuple[str, str]]:
    return [(x.attributes["tenant_id"], x.attributes["pipeline_id"]) for x in letters]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (
            DeadLetterFilter(tenant_id="acme"),
            [("acme", "openai_costs"), ("acme", "anthropic_costs")],
        ),
        (
            DeadLetterFilter(pipeline_id="openai_costs"),
            [("acme", "openai_costs"), ("globex", "openai_costs")],
        ),
        (
            DeadLetterFilter(tenant_id="acme", pipeline_id="anthropic_costs"),
            [("acme", "anthropic_costs")],
        ),
        (
            DeadLetterFilter(since=T0 + dt.timedelta(minutes=30)),
            [("acme", "anthropic_costs"), ("globex", "openai_costs")],
        ),
        (
            DeadLetterFilter(until=T0 + dt.timedelta(minutes=90)),
            [("acme", "openai_costs"), ("acme", "anthropic_costs")],
        ),
        (DeadLetterFilter(tenant_id="initech"), []),
    ],
)
def test_replay_moves_only_selected_letters(
    make_bus, make_event, recorders, clock, selection, expected
):
    bus = dead_letter_mix(make_bus, make_event, recorders, clock)
    published_before = len(bus.published)

    moved = bus.replay(selection)

    assert picked(moved) == expected
    assert len(bus.dead_letters(EVERYTHING)) == 3 - len(expected)
    replayed = bus.published[published_before:]
    assert [
        (m.topic, m.attributes["tenant_id"], m.attributes["pipeline_id"]) for m in replayed
    ] == [("ingest-completed", tenant, pipeline) for tenant, pipeline in expected]


def test_replay_dry_run_changes_nothing(make_bus, make_event, recorders, clock):
    bus = dead_letter_mix(make_bus, make_event, recorders, clock)
    published_before = list(bus.published)
    before = bus.dead_letters(EVERYTHING)

    would_move = bus.replay(DeadLetterFilter(tenant_id="acme"), dry_run=True)

    assert picked(would_move) == [("acme", "openai_costs"), ("acme", "anthropic_costs")]
    assert bus.dead_letters(EVERYTHING) == before
    assert bus.published == published_before
    assert bus.run_until_idle().delivered == 0


def test_replay_after_fault_is_fixed_delivers_the_original_event(make_bus, make_event, recorders):
    recorders["dq"].fail_first = 5
    bus = make_bus()
    event = make_event(next_step_type="dq")
    bus.publish(event)
    assert bus.run_until_idle().dead_lettered == 1

    fixed = Recorder()
    later = make_bus(handlers={**{n: Recorder() for n in recorders}, "dq": fixed})
    moved = later.replay(EVERYTHING)
    stats = later.run_until_idle()

    assert len(moved) == 1
    assert (stats.delivered, stats.acked) == (1, 1)
    assert fixed.events() == [event]
    attributes = fixed.calls[0].data["message"]["attributes"]
    assert attributes == to_message(event).attributes
    assert not DEAD_LETTER_KEYS & attributes.keys()
    assert later.dead_letters(EVERYTHING) == []
    assert bus.dead_letters(EVERYTHING) == []


def test_replayed_message_gets_fresh_delivery_attempts(make_bus, make_event, recorders):
    recorders["dq"].fail_first = 5 + 4  # dead-letters once, then fails 4 more times
    bus = make_bus()
    bus.publish(make_event())
    bus.run_until_idle()
    bus.replay(EVERYTHING)
    stats = bus.run_until_idle()

    assert (stats.delivered, stats.nacked, stats.acked, stats.dead_lettered) == (5, 4, 1, 0)


def test_publishing_from_a_handler_only_enqueues(make_bus, make_event, recorders):
    seen_by_dq_during_publish: list[int] = []
    holder: dict[str, LocalBus] = {}

    def ingest(cloud_event: CloudEvent) -> None:
        done = from_cloudevent(cloud_event)
        holder["bus"].publish(make_event(tenant_id=done.tenant_id, next_step_type="dq"))
        seen_by_dq_during_publish.append(len(recorders["dq"].calls))

    holder["bus"] = bus = make_bus(handlers={**recorders, "ingest": ingest})
    bus.publish(make_event(RunRequested, next_step_type="ingest"))
    stats = bus.run_until_idle()

    assert seen_by_dq_during_publish == [0]
    assert stats.delivered == 2
    assert len(recorders["dq"].calls) == 1


def test_concurrent_workers_deliver_everything_exactly_once(make_bus, make_event, recorders):
    tenants = [f"tenant_{i:02d}" for i in range(40)]
    barrier = threading.Barrier(4, timeout=10)
    holder: dict[str, LocalBus] = {}
    ingested: list[str] = []
    lock = threading.Lock()

    def ingest(cloud_event: CloudEvent) -> None:
        done = from_cloudevent(cloud_event)
        with lock:
            ingested.append(done.tenant_id)
            first_four = len(ingested) <= 4
        if first_four:
            barrier.wait()  # breaks (and fails the test) unless 4 deliveries run at once
        holder["bus"].publish(make_event(tenant_id=done.tenant_id, next_step_type="dq"))

    recorders["dq"].fail_first = 7  # some nacks and redeliveries in the mix
    holder["bus"] = bus = make_bus(handlers={**recorders, "ingest": ingest})
    for tenant in tenants:
        bus.publish(make_event(RunRequested, next_step_type="ingest", tenant_id=tenant))
    stats = bus.run_until_idle(workers=8)

    assert not barrier.broken
    assert sorted(ingested) == tenants
    acked_dq = [e.tenant_id for e in recorders["dq"].events()]
    assert sorted(set(acked_dq)) == tenants
    assert len(acked_dq) == 40 + 7
    assert (stats.delivered, stats.acked, stats.nacked, stats.pending) == (87, 80, 7, 0)


def test_max_deliveries_leaves_the_rest_pending(make_bus, make_event, recorders):
    bus = make_bus()
    for _ in range(5):
        bus.publish(make_event())

    assert bus.run_until_idle(max_deliveries=2).pending == 3
    assert len(recorders["dq"].calls) == 2
    assert bus.run_until_idle().delivered == 3


def test_topics_without_subscriptions_are_only_recorded(make_bus, make_event, recorders):
    bus = make_bus()
    done = make_event(RunCompleted, next_step_type="none")
    bus.publish(done)

    assert bus.run_until_idle().delivered == 0
    assert bus.published_events("run-completed") == [done]
    assert bus.published_events("run-failed") == []


def test_unknown_topic_names_the_known_topics(make_bus, make_event):
    full = load_topology()
    without = full.model_copy(
        update={"topics": [t for t in full.topics if t.name != "run-completed"]}
    )
    bus = make_bus(without)

    with pytest.raises(
        UnknownTopic, match=r"'run-completed'.*known topics: budget-crossed, dq-failed, dq-passed"
    ):
        bus.publish(make_event(RunCompleted, next_step_type="none"))


def test_missing_or_misspelled_handlers_are_refused(make_bus, recorders):
    with pytest.raises(ValueError, match=r"no function given for handlers \['transform'\]"):
        make_bus(handlers={"ingest": Recorder(), "dq": Recorder(), "notify": Recorder()})
    with pytest.raises(ValueError, match=r"unknown handler names \['tranform'\]"):
        make_bus(handlers={**recorders, "tranform": Recorder()})


def test_logs_ids_and_types_but_never_error_text(make_bus, make_event, recorders, caplog):
    recorders["dq"].fail_first = 100
    recorders["dq"].error = "bad key sk-live-SECRET123"
    bus = make_bus()
    message_id = bus.publish(make_event())
    with caplog.at_level(logging.INFO, logger="lib.adapters.local_bus"):
        bus.run_until_idle()

    text = caplog.text
    assert "SECRET123" not in text
    assert message_id in text
    assert sum("nack" in r.getMessage() for r in caplog.records) == 4
    assert sum("dead-lettered" in r.getMessage() for r in caplog.records) == 1
