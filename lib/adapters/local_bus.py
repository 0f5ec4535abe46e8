"""The embedded EventBus: an in-process Pub/Sub honouring ``events/topology.json`` exactly.

``publish`` encodes an event as the same Pub/Sub message the cloud carries and queues one
delivery per subscription whose filter matches. ``run_until_idle`` hands each delivery to
its handler wrapped in Eventarc's ``messagePublished`` CloudEvent (what functions-framework
passes to a CloudEvent function): return → ack; raise → nack, redelivery after exponential
backoff; after ``max_delivery_attempts`` the message moves to the topic's dead-letter topic
with Pub/Sub's ``CloudPubSubDeadLetter*`` attributes and is persisted under ``state_dir``,
where a later process can list and replay it.

Delivery is at-least-once and unordered across subscriptions, like Pub/Sub. Publishing from
inside a handler only enqueues. ``run_until_idle`` must not be called from two threads at
once; ``workers > 1`` delivers on a thread pool (tenants run concurrently).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cloudevents.http import CloudEvent

from events.codec import Message, from_message, to_eventarc, to_message
from events.models import Event
from events.topology import Defaults, Subscription, Topic, Topology
from lib.adapters.dead_letter_store import (
    DeadLetterStore,
    dead_letter_attributes,
    strip_dead_letter_attributes,
)
from lib.errors import UnknownTopic
from lib.ports import Clock, DeadLetter, DeadLetterFilter

logger = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], object]
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class PublishedMessage:
    """A message as it was published to a topic (dead-letter topics included)."""

    topic: str
    message_id: str
    attributes: Mapping[str, str]
    data: bytes
    publish_time: dt.datetime

    def event(self) -> Event:
        """Decode the message back into its event."""
        return from_message(self.data, dict(self.attributes))


@dataclass(frozen=True)
class Backoff:
    """One computed redelivery delay (before ``backoff_scale`` is applied)."""

    message_id: str
    subscription: str
    attempt: int
    seconds: float


@dataclass(frozen=True)
class DeliveryStats:
    """What one ``run_until_idle`` call did; ``pending`` counts deliveries left queued."""

    delivered: int = 0
    acked: int = 0
    nacked: int = 0
    dead_lettered: int = 0
    pending: int = 0


@dataclass
class _Delivery:
    """A message on its way to one subscription; ``attempts`` grows with each try."""

    message: PublishedMessage
    subscription: Subscription
    attempts: int = 0


@dataclass
class _Run:
    """Counters of one ``run_until_idle`` call; mutated only under the bus lock."""

    budget: int
    started: int = 0
    acked: int = 0
    nacked: int = 0
    dead_lettered: int = 0


def backoff_seconds(attempt: int, defaults: Defaults) -> float:
    """The delay before redelivering after failed attempt number ``attempt`` (1-based).

    ``min_backoff * 2 ** (attempt - 1)``, capped at ``max_backoff``.
    """
    delay = defaults.min_backoff_seconds * 2 ** (attempt - 1)
    return float(min(delay, defaults.max_backoff_seconds))


class LocalBus:
    """In-process EventBus with Pub/Sub's filters, retries, dead letters and replay."""

    def __init__(
        self,
        topology: Topology,
        handlers: Mapping[str, Handler],
        state_dir: Path,
        clock: Clock,
        *,
        project: str = "local",
        backoff_scale: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Wire the bus.

        Args:
            topology: topics, subscriptions and delivery policy.
            handlers: topology handler name → CloudEvent function, one for every handler a
                subscription names.
            state_dir: where dead letters persist (shared by later invocations).
            clock: source of publish and dead-letter times.
            project: project used in full topic/subscription names.
            backoff_scale: real seconds waited per second of computed backoff (0: no wait).
            sleep: how to wait (injected so tests never wait).

        Raises:
            ValueError: a subscription's handler is missing, a handler name is unknown, or a
                subscribed topic has no dead-letter topic.
        """
        _check_wiring(topology, handlers)
        self.topology = topology
        self.project = project
        self.published: list[PublishedMessage] = []
        self.backoffs: list[Backoff] = []
        self._handlers = dict(handlers)
        self._store = DeadLetterStore(state_dir)
        self._clock = clock
        self._backoff_scale = backoff_scale
        self._sleep = sleep
        self._queue: deque[_Delivery] = deque()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._background: threading.Thread | None = None

    def publish(self, event: Event) -> str:
        """Publish ``event`` to ``event.TOPIC``; deliveries wait for ``run_until_idle``.

        Returns:
            The message id.

        Raises:
            UnknownTopic: the topology does not declare ``event.TOPIC``.
        """
        return self._publish(event.TOPIC, to_message(event))

    def published_events(self, topic: str | None = None) -> list[Event]:
        """Events published so far (to ``topic`` only, when given), decoded, in order."""
        with self._cond:
            records = list(self.published)
        return [r.event() for r in records if topic is None or r.topic == topic]

    def run_until_idle(self, *, max_deliveries: int = 100_000, workers: int = 1) -> DeliveryStats:
        """Deliver queued messages (and whatever handlers publish) until nothing is left.

        Args:
            max_deliveries: stop after this many delivery attempts (the rest stay queued).
            workers: deliveries run on this many threads.

        Returns:
            Counts of attempts, acks, nacks, dead letters and deliveries still pending.
        """
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        run = _Run(budget=max_deliveries)
        if workers == 1:
            self._work(run)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="local-bus") as pool:
                for future in [pool.submit(self._work, run) for _ in range(workers)]:
                    future.result()
        with self._cond:
            pending = len(self._queue)
        return DeliveryStats(run.started, run.acked, run.nacked, run.dead_lettered, pending)

    def deliver_in_background(self) -> None:
        """Deliver messages on a daemon thread as they are published (local HTTP servers).

        After this, callers must not call ``run_until_idle`` themselves.
        """
        if self._background is not None:
            return

        def loop() -> None:
            while True:
                with self._cond:
                    while not self._queue:
                        self._cond.wait()
                self.run_until_idle()

        self._background = threading.Thread(target=loop, name="local-bus-delivery", daemon=True)
        self._background.start()

    def dead_letters(self, selection: DeadLetterFilter) -> list[DeadLetter]:
        """Persisted dead letters matching ``selection``, oldest first."""
        return self._store.select(selection)

    def replay(self, selection: DeadLetterFilter, *, dry_run: bool = False) -> list[DeadLetter]:
        """Re-publish matching dead letters to their source topic with fresh attempts.

        The ``CloudPubSubDeadLetter*`` attributes are stripped; each letter leaves the store
        only after it was re-published. Deliveries then wait for ``run_until_idle``.

        Args:
            selection: which letters to move.
            dry_run: only return what would move; change nothing.

        Returns:
            The letters moved (or that would move).

        Raises:
            UnknownTopic: a letter's dead-letter topic belongs to no topic of the topology.
        """
        letters = self._store.select(selection)
        sources = [self._source_topic(letter.topic) for letter in letters]
        if dry_run:
            return letters
        for letter, source in zip(letters, sources, strict=True):
            attributes = strip_dead_letter_attributes(letter.attributes)
            message_id = self._publish(source.name, Message(letter.data, attributes))
            self._store.remove([letter.message_id])
            logger.info(
                "replayed dead letter %s from %s to %s as message %s",
                letter.message_id,
                letter.topic,
                source.name,
                message_id,
            )
        return letters

    # -- publishing -------------------------------------------------------------------------

    def _publish(self, topic_name: str, message: Message) -> str:
        topic = self._topic(topic_name)
        record = PublishedMessage(
            topic=topic.name,
            message_id=_new_message_id(),
            attributes=dict(message.attributes),
            data=message.data,
            publish_time=self._clock.now(),
        )
        deliveries = [
            _Delivery(record, sub)
            for sub in self.topology.subscriptions_for(topic.name)
            if sub.matches(dict(record.attributes))
        ]
        with self._cond:
            self.published.append(record)
            self._queue.extend(deliveries)
            self._cond.notify_all()
        return record.message_id

    def _topic(self, name: str) -> Topic:
        try:
            return self.topology.topic(name)
        except KeyError:
            known = ", ".join(sorted(t.name for t in self.topology.topics))
            raise UnknownTopic(
                f"unknown topic {name!r}; known topics: {known}. "
                "Declare new topics in events/topology.json."
            ) from None

    def _source_topic(self, dead_letter_topic: str) -> Topic:
        try:
            return self.topology.source_topic_of_dead_letter(dead_letter_topic)
        except KeyError:
            known = sorted(t.dead_letter_topic for t in self.topology.topics if t.dead_letter_topic)
            raise UnknownTopic(
                f"dead letter stored for {dead_letter_topic!r}, which is no topic's "
                f"dead-letter topic; known: {', '.join(known)}. Restore the topic in "
                "events/topology.json or drop the letter from the store."
            ) from None

    # -- delivering -------------------------------------------------------------------------

    def _work(self, run: _Run) -> None:
        while (delivery := self._take(run)) is not None:
            try:
                self._deliver(delivery, run)
            except BaseException:
                with self._cond:  # never lose a message to an infrastructure fault
                    self._queue.appendleft(delivery)
                raise
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _take(self, run: _Run) -> _Delivery | None:
        with self._cond:
            while True:
                if run.started >= run.budget:
                    return None
                if self._queue:
                    run.started += 1
                    self._in_flight += 1
                    return self._queue.popleft()
                if self._in_flight == 0:
                    return None
                self._cond.wait()

    def _deliver(self, delivery: _Delivery, run: _Run) -> None:
        delivery.attempts += 1
        handler = self._handlers[delivery.subscription.handler]
        try:
            handler(self._envelope(delivery))
        except Exception as exc:  # any failure is a non-2xx response: nack
            self._nack(delivery, exc, run)
        else:
            with self._cond:
                run.acked += 1

    def _envelope(self, delivery: _Delivery) -> CloudEvent:
        record = delivery.message
        return to_eventarc(
            Message(record.data, dict(record.attributes)),
            topic=f"projects/{self.project}/topics/{record.topic}",
            subscription=f"projects/{self.project}/subscriptions/{delivery.subscription.name}",
            message_id=record.message_id,
            publish_time=record.publish_time,
        )

    def _nack(self, delivery: _Delivery, exc: Exception, run: _Run) -> None:
        policy = self.topology.defaults
        if delivery.attempts >= policy.max_delivery_attempts:
            self._dead_letter(delivery, exc)
            with self._cond:
                run.nacked += 1
                run.dead_lettered += 1
            return
        seconds = backoff_seconds(delivery.attempts, policy)
        logger.warning(
            "nack: message %s (%s) on %s failed attempt %d/%d with %s; redelivery in %.0fs",
            delivery.message.message_id,
            delivery.message.attributes.get("ce-type", "?"),
            delivery.subscription.name,
            delivery.attempts,
            policy.max_delivery_attempts,
            type(exc).__name__,
            seconds,
        )
        backoff = Backoff(
            delivery.message.message_id, delivery.subscription.name, delivery.attempts, seconds
        )
        with self._cond:
            run.nacked += 1
            self.backoffs.append(backoff)
        self._sleep(seconds * self._backoff_scale)
        with self._cond:
            self._queue.append(delivery)
            self._cond.notify_all()

    def _dead_letter(self, delivery: _Delivery, exc: Exception) -> None:
        record = delivery.message
        topic = self._topic(record.topic)
        dead_letter_topic = topic.dead_letter_topic or ""  # presence checked by _check_wiring
        now = self._clock.now()
        attributes = {
            **record.attributes,
            **dead_letter_attributes(
                delivery.subscription.name, self.project, delivery.attempts, record.publish_time
            ),
        }
        letter = DeadLetter(
            message_id=_new_message_id(),
            topic=dead_letter_topic,
            subscription=delivery.subscription.name,
            attributes=attributes,
            data=record.data,
            dead_lettered_at=now,
            attempts=delivery.attempts,
            last_error=(str(exc) or type(exc).__name__)[:MAX_ERROR_CHARS],
        )
        self._store.add(letter)
        forwarded = PublishedMessage(
            dead_letter_topic, letter.message_id, attributes, record.data, now
        )
        with self._cond:
            self.published.append(forwarded)
        logger.error(
            "dead-lettered message %s (%s) from %s to %s as %s after %d attempts; last error %s",
            record.message_id,
            record.attributes.get("ce-type", "?"),
            delivery.subscription.name,
            dead_letter_topic,
            letter.message_id,
            delivery.attempts,
            type(exc).__name__,
        )


def _check_wiring(topology: Topology, handlers: Mapping[str, Handler]) -> None:
    declared = {h.name for h in topology.handlers}
    unknown = sorted(set(handlers) - declared)
    if unknown:
        raise ValueError(
            f"unknown handler names {unknown}; the topology declares {sorted(declared)}"
        )
    needed = {s.handler for s in topology.subscriptions}
    missing = sorted(needed - set(handlers))
    if missing:
        raise ValueError(f"no function given for handlers {missing}; pass handlers={{name: fn}}")
    for sub in topology.subscriptions:
        if not topology.topic(sub.topic).dead_letter_topic:
            raise ValueError(
                f"topic {sub.topic!r} has subscription {sub.name!r} but no dead_letter_topic; "
                "declare one in events/topology.json"
            )


def _new_message_id() -> str:
    """A numeric message id like Pub/Sub's, unique across processes."""
    return str(uuid.uuid4().int >> 68)
