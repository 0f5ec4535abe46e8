"""The embedded EventBus: an in-process Pub/Sub honouring ``events/topology.json`` exactly.

``publish`` encodes an event as the same Pub/Sub message the cloud carries and journals one
delivery per subscription whose filter matches. ``run_until_idle`` hands each delivery to
its handler wrapped in Eventarc's ``messagePublished`` CloudEvent (what functions-framework
passes to a CloudEvent function): return → ack; raise → nack, redelivery after the
topology's exponential backoff (times ``backoff_scale``); after ``max_delivery_attempts`` the
message moves to the topic's dead-letter topic with Pub/Sub's ``CloudPubSubDeadLetter*``
attributes. A handler that finds a message poisonous calls ``reject``: it is dead-lettered at
once with its reason.

Nothing lives only in memory: queued and in-flight deliveries are journaled in SQLite under
``state_dir`` (``lib/adapters/bus_journal.py``), so a process killed at any point loses no
message, and the next bus on the same directory resumes them (``resume``, also done by
``run_until_idle``); a delivery whose ack committed is never delivered again. Dead letters
persist there too, for a later process to list and replay.

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
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cloudevents.http import CloudEvent

from events.codec import Message, from_message, to_eventarc, to_message
from events.models import Event
from events.topology import Defaults, Topic, Topology
from lib.adapters.bus_database import BusDatabase
from lib.adapters.bus_journal import BusJournal, JournalEntry, NewDelivery, PendingDelivery
from lib.adapters.dead_letter_store import (
    REJECTION_ATTRIBUTE,
    DeadLetterStore,
    dead_letter_attributes,
    strip_dead_letter_attributes,
)
from lib.errors import UnknownTopic
from lib.ports import Clock, DeadLetter, DeadLetterFilter, Rejected

logger = logging.getLogger(__name__)

Handler = Callable[[CloudEvent], object]
MAX_ERROR_CHARS = 2000
MAX_REASON_BYTES = 1000  # a Pub/Sub attribute value holds at most 1024 bytes

__all__ = [
    "MAX_ERROR_CHARS",
    "Backoff",
    "DeliveryStats",
    "LocalBus",
    "PendingDelivery",
    "PublishedMessage",
    "UnknownTopic",
    "backoff_seconds",
]


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
        backoff_scale: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.time,
    ) -> None:
        """Wire the bus.

        Args:
            topology: topics, subscriptions and delivery policy.
            handlers: topology handler name → CloudEvent function, one for every handler a
                subscription names.
            state_dir: where the journal and dead letters persist (shared by later
                invocations).
            clock: source of publish and dead-letter times.
            project: project used in full topic/subscription names.
            backoff_scale: real seconds waited per second of the topology's backoff (1: as
                Pub/Sub; 0: redeliver at once).
            sleep: how to wait out a backoff when nothing else is in flight.
            timer: wall-clock seconds deciding when a backed-off delivery is due (a real
                clock: due times are stored, and a later process reads them).

        Raises:
            ValueError: a subscription's handler is missing, a handler name is unknown, a
                subscribed topic has no dead-letter topic, or ``backoff_scale`` < 0.
        """
        _check_wiring(topology, handlers)
        if backoff_scale < 0:
            raise ValueError(f"backoff_scale must be 0 or more, not {backoff_scale}")
        self.topology = topology
        self.project = project
        self.published: list[PublishedMessage] = []
        self.backoffs: list[Backoff] = []
        self._handlers = dict(handlers)
        self._subscriptions = {s.name: s for s in topology.subscriptions}
        database = BusDatabase(state_dir)
        self._store = DeadLetterStore(database)
        self._journal = BusJournal(database, self._store, state_dir)
        self._database = database
        self._clock = clock
        self._backoff_scale = backoff_scale
        self._sleep = sleep
        self._timer = timer
        self._cond = threading.Condition()
        self._in_flight = 0
        self._generation = 0  # grows with every publish: wakes the background loop
        self._background: threading.Thread | None = None

    def publish(self, event: Event) -> str:
        """Publish ``event`` to ``event.TOPIC``; deliveries wait for ``run_until_idle``.

        Returns:
            The message id.

        Raises:
            UnknownTopic: the topology does not declare ``event.TOPIC``.
            TransientError: the journal could not be written (nothing was published).
        """
        return self._publish(event.TOPIC, to_message(event))

    def publish_message(self, topic: str, message: Message) -> str:
        """Publish raw bytes and attributes to ``topic``, as any Pub/Sub client could.

        Nothing is checked: this is how a foreign (or broken) publisher reaches the bus.

        Raises:
            UnknownTopic: the topology does not declare ``topic``.
        """
        return self._publish(topic, message)

    def published_events(self, topic: str | None = None) -> list[Event]:
        """Events published so far (to ``topic`` only, when given), decoded, in order."""
        with self._cond:
            records = list(self.published)
        return [r.event() for r in records if topic is None or r.topic == topic]

    def run_until_idle(self, *, max_deliveries: int = 100_000, workers: int = 1) -> DeliveryStats:
        """Deliver journaled messages (and what handlers publish) until nothing is left.

        Deliveries left behind by a bus that died are resumed first (:meth:`resume`);
        backed-off deliveries are waited for.

        Args:
            max_deliveries: stop after this many delivery attempts (the rest stay queued).
            workers: deliveries run on this many threads.

        Returns:
            Counts of attempts, acks, nacks, dead letters and deliveries still pending.
        """
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self.resume()
        run = _Run(budget=max_deliveries)
        if workers == 1:
            self._work(run)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="local-bus") as pool:
                for future in [pool.submit(self._work, run) for _ in range(workers)]:
                    future.result()
        pending = self._journal.queued()
        return DeliveryStats(run.started, run.acked, run.nacked, run.dead_lettered, pending)

    def resume(self) -> int:
        """Queue again the in-flight deliveries of buses whose process died; return how many.

        Queued deliveries need no resuming: any bus on this state directory delivers them.
        """
        reclaimed = self._journal.reclaim(self._timer())
        if reclaimed:
            logger.warning(
                "resuming %d delivery(ies) left in flight by a bus that stopped (killed or "
                "crashed); they will be delivered again",
                reclaimed,
            )
        return reclaimed

    def pending(self) -> list[PendingDelivery]:
        """Deliveries not yet acknowledged (queued, or in flight here or in a dead process)."""
        return self._journal.pending()

    def deliver_in_background(self) -> None:
        """Deliver messages on a daemon thread as they are published (local HTTP servers).

        After this, callers must not call ``run_until_idle`` themselves.
        """
        if self._background is not None:
            return

        def loop() -> None:
            seen = -1
            while True:
                with self._cond:
                    while self._generation == seen:
                        self._cond.wait()
                    seen = self._generation
                try:
                    self.run_until_idle()
                except Exception:  # keep delivering; the journal still holds the message
                    logger.exception("background delivery failed; retrying on next publish")

        self._background = threading.Thread(target=loop, name="local-bus-delivery", daemon=True)
        self._background.start()

    def dead_letters(self, selection: DeadLetterFilter) -> list[DeadLetter]:
        """Persisted dead letters matching ``selection``, oldest first."""
        return self._store.select(selection)

    def replay(self, selection: DeadLetterFilter, *, dry_run: bool = False) -> list[DeadLetter]:
        """Re-publish matching dead letters to their source topic with fresh attempts.

        The ``CloudPubSubDeadLetter*`` and rejection attributes are stripped; each letter
        leaves the store only after it was re-published. Deliveries then wait for
        ``run_until_idle``.

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

    def reject(self, rejected: Rejected) -> str:
        """Dead-letter a poison message at once with its reason (see ``EventBus.reject``).

        Raises:
            UnknownTopic: the topic is unknown or has no dead-letter topic.
        """
        topic = self._topic(rejected.topic)
        if not topic.dead_letter_topic:
            raise UnknownTopic(
                f"topic {topic.name!r} has no dead-letter topic to hold a rejected message; "
                "declare one in events/topology.json"
            )
        reason = _truncate_utf8(rejected.reason, MAX_REASON_BYTES)
        attributes = {
            **rejected.attributes,
            **dead_letter_attributes(rejected.subscription, self.project, 1, None),
            REJECTION_ATTRIBUTE: reason,
        }
        letter = self._letter(topic.dead_letter_topic, rejected.subscription, attributes,
                              rejected.data, 1, reason)  # fmt: skip
        self._store.add(letter)
        self._forwarded(letter)
        return letter.message_id

    def check(self) -> None:
        """Return when the journal can be read (raises ``TransientError`` otherwise)."""
        self._journal.queued()

    def close(self) -> None:
        """Release this bus's journal ownership and its database connection."""
        self._journal.close()
        self._database.close()

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
            NewDelivery(
                record.message_id, topic.name, sub.name, dict(record.attributes),
                record.data, record.publish_time,
            )
            for sub in self.topology.subscriptions_for(topic.name)
            if sub.matches(dict(record.attributes))
        ]  # fmt: skip
        if deliveries:
            self._journal.enqueue(deliveries, self._timer())
        with self._cond:
            self.published.append(record)
            self._generation += 1
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
        while (entry := self._take(run)) is not None:
            try:
                self._deliver(entry, run)
            except BaseException:
                # never lose a message to an infrastructure fault: queue it again
                self._journal.retry_at(entry, self._timer())
                raise
            finally:
                with self._cond:
                    self._in_flight -= 1
                    self._cond.notify_all()

    def _take(self, run: _Run) -> JournalEntry | None:
        while True:
            with self._cond:
                if run.started >= run.budget:
                    return None
                entry = self._journal.claim(self._timer())
                if entry is not None:
                    run.started += 1
                    self._in_flight += 1
                    return entry
                due = self._journal.next_available()
                if due is None and self._in_flight == 0:
                    return None
                wait = None if due is None else max(0.0, due - self._timer())
                if self._in_flight > 0:  # a running handler may publish: wake on notify
                    self._cond.wait(wait)
                    continue
            self._sleep(wait or 0.0)  # only backed-off deliveries are left: wait them out

    def _deliver(self, entry: JournalEntry, run: _Run) -> None:
        subscription = self._subscriptions.get(entry.subscription)
        if subscription is None:
            self._dead_letter(entry, f"subscription {entry.subscription!r} left the topology")
            with self._cond:
                run.dead_lettered += 1
            return
        handler = self._handlers[subscription.handler]
        try:
            handler(self._envelope(entry))
        except Exception as exc:  # any failure is a non-2xx response: nack
            self._nack(entry, exc, run)
        else:
            self._journal.ack(entry)
            with self._cond:
                run.acked += 1

    def _envelope(self, entry: JournalEntry) -> CloudEvent:
        return to_eventarc(
            Message(entry.data, dict(entry.attributes)),
            topic=f"projects/{self.project}/topics/{entry.topic}",
            subscription=f"projects/{self.project}/subscriptions/{entry.subscription}",
            message_id=entry.message_id,
            publish_time=entry.publish_time,
        )

    def _nack(self, entry: JournalEntry, exc: Exception, run: _Run) -> None:
        policy = self.topology.defaults
        if entry.attempts >= policy.max_delivery_attempts:
            self._dead_letter(entry, (str(exc) or type(exc).__name__), type(exc).__name__)
            with self._cond:
                run.nacked += 1
                run.dead_lettered += 1
            return
        seconds = backoff_seconds(entry.attempts, policy)
        delay = seconds * self._backoff_scale
        self._journal.retry_at(entry, self._timer() + delay)
        logger.warning(
            "nack: message %s (%s) on %s failed attempt %d/%d with %s; redelivery in %.1fs%s",
            entry.message_id,
            entry.attributes.get("ce-type", "?"),
            entry.subscription,
            entry.attempts,
            policy.max_delivery_attempts,
            type(exc).__name__,
            delay,
            ""
            if self._backoff_scale == 1
            else f" (topology backoff {seconds:.0f}s scaled by {self._backoff_scale:g})",
        )
        with self._cond:
            run.nacked += 1
            self.backoffs.append(
                Backoff(entry.message_id, entry.subscription, entry.attempts, seconds)
            )
            self._cond.notify_all()

    def _dead_letter(self, entry: JournalEntry, error: str, error_type: str = "") -> None:
        topic = self._topic(entry.topic)
        dead_letter_topic = topic.dead_letter_topic or ""  # presence checked by _check_wiring
        attributes = {
            **entry.attributes,
            **dead_letter_attributes(
                entry.subscription, self.project, entry.attempts, entry.publish_time
            ),
        }
        letter = self._letter(dead_letter_topic, entry.subscription, attributes, entry.data,
                              entry.attempts, error[:MAX_ERROR_CHARS])  # fmt: skip
        self._journal.dead_letter(entry, letter)
        self._forwarded(letter)
        logger.error(
            "dead-lettered message %s (%s) from %s to %s as %s after %d attempts; last error %s",
            entry.message_id,
            entry.attributes.get("ce-type", "?"),
            entry.subscription,
            dead_letter_topic,
            letter.message_id,
            entry.attempts,
            error_type or error,
        )

    def _letter(
        self, topic: str, subscription: str, attributes: dict[str, str], data: bytes,
        attempts: int, last_error: str,
    ) -> DeadLetter:  # fmt: skip
        return DeadLetter(_new_message_id(), topic, subscription, attributes, data,
                          self._clock.now(), attempts, last_error)  # fmt: skip

    def _forwarded(self, letter: DeadLetter) -> None:
        """Record a letter as published to its dead-letter topic (``published``)."""
        message = PublishedMessage(letter.topic, letter.message_id, letter.attributes,
                                   letter.data, letter.dead_lettered_at)  # fmt: skip
        with self._cond:
            self.published.append(message)


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


def _truncate_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` bytes of UTF-8 (never mid-character)."""
    return text.encode()[:limit].decode(errors="ignore")
